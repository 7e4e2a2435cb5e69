"""The rules that may grant entry to a zone. Each returns ``(rule id, detail)`` or None.

Nothing here grants by default: a rule answers only when its own table names
the person (organization, duty roster, grant, separate pass, listed role).
"""

from __future__ import annotations

import datetime as dt

from gateway.node.policy.compiled import CompiledPolicy, CompiledZone
from gateway.node.policy.document import DutyKind, ZoneEffect

Match = tuple[str, str]
_ONE_DAY = dt.timedelta(days=1)


def org_rule(
    policy: CompiledPolicy,
    zone: CompiledZone,
    effect: ZoneEffect,
    org_code: str | None,
    local: dt.datetime,
) -> Match | None:
    """Staff of an organization allowed in the zone's building (or named for the zone)."""
    if effect.org == "none" or org_code is None:
        return None
    home = policy.org_zones.get(org_code, {}).get(zone.id)
    if home is None or (not home and effect.org != "hours"):
        return None
    if effect.org == "home_anytime":
        return f"org_anytime:{zone.building}", f"{org_code} sits in {zone.building}"
    if not zone.schedule.open_at(policy.calendar, local):
        return None
    where = "home building" if home else "allowed building"
    return f"org_hours:{zone.building}", f"{org_code} staff, {where}, within the zone's hours"


def duty_rule(
    policy: CompiledPolicy, zone: CompiledZone, holder_id: str, local: dt.datetime
) -> Match | None:
    """일직 during normal hours of its day; 숙직 from the end of hours to the next day's start."""
    minute = local.hour * 60 + local.minute
    today = local.date()
    for shift in policy.duty.get((holder_id, today), ()):
        if not _covers(shift.building, shift.zones, zone):
            continue
        if shift.kind is DutyKind.ILJIK and policy.day_start <= minute < policy.day_end:
            return f"duty:{shift.kind}", f"{shift.kind} on {shift.date} in {shift.building}"
        if shift.kind is DutyKind.SUKJIK and minute >= policy.day_end:
            return f"duty:{shift.kind}", f"{shift.kind} on {shift.date} in {shift.building}"
    if minute < policy.day_start:
        for shift in policy.duty.get((holder_id, today - _ONE_DAY), ()):
            if shift.kind is DutyKind.SUKJIK and _covers(shift.building, shift.zones, zone):
                return f"duty:{shift.kind}", f"{shift.kind} from {shift.date} in {shift.building}"
    return None


def _covers(building: str, zones: frozenset[str], zone: CompiledZone) -> bool:
    return (zone.building == building and not zone.restricted) or zone.id in zones


def grant_rule(
    policy: CompiledPolicy,
    zone: CompiledZone,
    holder_id: str,
    serial: str | None,
    now: dt.datetime,
    local: dt.datetime,
    kinds: frozenset[str],
) -> Match | None:
    """A per-person grant or a separate pass of one of ``kinds`` valid here and now."""
    if not kinds:
        return None
    candidates = policy.grants_by_holder.get(holder_id, ())
    if serial is not None:
        candidates += policy.grants_by_serial.get(serial, ())
    for grant in candidates:
        if (
            grant.kind in kinds
            and zone.id in grant.zones
            and grant.valid_from <= now < grant.valid_until
            and grant.matches(holder_id, serial)
            and (grant.schedule is None or grant.schedule.open_at(policy.calendar, local))
        ):
            return f"{grant.kind}:{grant.id}", f"valid until {grant.valid_until.isoformat()}"
    return None


def role_rule(effect: ZoneEffect, position: str | None) -> Match | None:
    if position is not None and position in effect.roles:
        return f"role:{position}", "a role the posture lets in"
    return None


_PERSON = frozenset({"person"})
_PASS = frozenset({"separate_pass"})
_NONE: frozenset[str] = frozenset()


def first_match(
    policy: CompiledPolicy,
    zone: CompiledZone,
    effect: ZoneEffect,
    *,
    holder_id: str,
    serial: str | None,
    org_code: str | None,
    position: str | None,
    now: dt.datetime,
    local: dt.datetime,
) -> Match | None:
    """The first rule the effect permits that grants this person entry, in a fixed order."""
    if not effect.entry:
        return None
    if effect.separate_pass_required:
        return grant_rule(policy, zone, holder_id, serial, now, local, _PASS)
    kinds = (_PERSON if effect.grants else _NONE) | (_PASS if effect.separate_passes else _NONE)
    return (
        org_rule(policy, zone, effect, org_code, local)
        or (duty_rule(policy, zone, holder_id, local) if effect.duty else None)
        or grant_rule(policy, zone, holder_id, serial, now, local, kinds)
        or role_rule(effect, position)
    )
