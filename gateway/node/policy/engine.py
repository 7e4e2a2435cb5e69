"""The pure decision: ``decide(request, policy, state, now) -> PolicyDecision``.

No I/O and no hidden state. Who is inside which zone, and the posture in
force, are in :class:`GateState`, passed in; after a passage is sensed the
caller asks ``state.after(decision)`` for the next state. Default is deny:
only a rule that names the person grants, and every decision carries the
rule that made it.

Rule ids: ``org_hours:<building>``, ``org_anytime:<building>``,
``duty:일직``/``duty:숙직``, ``person:<grant>``, ``separate_pass:<grant>``,
``role:<position>``, ``exit:free``, ``posture:<posture>`` (the posture is
what denied, or fire egress granted), ``antipassback:hard``,
``credential:<reason>``, ``unknown_door``, ``default_deny``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from gateway.credentials.decision import Decision
from gateway.node.policy.compiled import CompiledPolicy, CompiledZone
from gateway.node.policy.document import Direction, Posture
from gateway.node.policy.rules import first_match

ALARM_ANTIPASSBACK = "antipassback"
ALARM_LOCKDOWN_ATTEMPT = "lockdown_attempt"
ALARM_FIRE_ENTRY_ATTEMPT = "fire_entry_attempt"


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """A verified (or refused) credential presented at a door."""

    door: str
    holder_id: str | None
    credential_serial: str | None = None
    organization_code: str | None = None
    position: str | None = None
    verified: bool = True
    reason: str | None = None  # the verifier's denial reason when not verified

    @classmethod
    def from_verdict(cls, verdict: Decision, door: str) -> AccessRequest:
        org = verdict.claims.get("organization_code")
        position = verdict.claims.get("position")
        return cls(
            door=door,
            holder_id=verdict.holder_id,
            credential_serial=verdict.credential_serial,
            organization_code=org if isinstance(org, str) else None,
            position=position if isinstance(position, str) else None,
            verified=verdict.granted,
            reason=None if verdict.reason is None else verdict.reason.value,
        )


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    granted: bool
    rule: str
    detail: str
    alarms: tuple[str, ...] = ()
    door: str = ""
    zone: str | None = None
    direction: Direction | None = None
    holder_id: str | None = None
    posture: Posture = Posture.NORMAL

    @property
    def kind(self) -> str:
        """The rule's kind: ``org_hours``, ``duty``, ``posture``, ``default_deny`` …"""
        return self.rule.partition(":")[0]


@dataclass(frozen=True, slots=True)
class GateState:
    """The posture in force and who is inside which zone (holder id -> zone id)."""

    posture: Posture = Posture.NORMAL
    building_postures: Mapping[str, Posture] = field(default_factory=dict)
    occupancy: Mapping[str, str] = field(default_factory=dict)

    def posture_for(self, building: str) -> Posture:
        return self.building_postures.get(building, self.posture)

    def after(self, decision: PolicyDecision, policy: CompiledPolicy) -> GateState:
        """The state once the granted passage happened (unchanged for a denial)."""
        if not decision.granted or decision.holder_id is None or decision.zone is None:
            return self
        occupancy = dict(self.occupancy)
        if decision.direction is Direction.ENTRY:
            occupancy[decision.holder_id] = decision.zone
        else:
            parent = policy.zones[decision.zone].parent
            if parent is None:
                occupancy.pop(decision.holder_id, None)
            else:
                occupancy[decision.holder_id] = parent
        return replace(self, occupancy=occupancy)


def decide(
    request: AccessRequest, policy: CompiledPolicy, state: GateState, now: dt.datetime
) -> PolicyDecision:
    door = policy.doors.get(request.door)
    if door is None:
        return PolicyDecision(False, "unknown_door", f"door {request.door!r} is not in policy")
    zone = door.zone
    posture = state.posture_for(zone.building)
    base = PolicyDecision(
        False, "default_deny", "", (), door.id, zone.id, door.direction, request.holder_id, posture
    )
    if not request.verified:
        reason = request.reason or "refused"
        return replace(base, rule=f"credential:{reason}", detail="credential refused")
    holder = request.holder_id
    if holder is None:
        return replace(base, rule="credential:no_holder_id", detail="no holder_id disclosed")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(policy.tz)
    effect = zone.effects[posture]

    if door.direction is Direction.EXIT and (effect.exit == "free" or posture is Posture.FIRE):
        rule = "posture:fire" if posture is Posture.FIRE else "exit:free"
        return _passback_on_exit(
            replace(base, granted=True, rule=rule, detail="egress"), zone, state
        )

    if posture is Posture.FIRE:
        # Life safety beats configuration: no zone override lets anyone into a
        # building whose fire alarm is on.
        return _denial(policy, zone, request, posture, now, local, base)
    match = first_match(
        policy,
        zone,
        effect,
        holder_id=holder,
        serial=request.credential_serial,
        org_code=request.organization_code,
        position=request.position,
        now=now,
        local=local,
    )
    if match is None:
        return _denial(policy, zone, request, posture, now, local, base)
    granted = replace(base, granted=True, rule=match[0], detail=match[1])
    if door.direction is Direction.EXIT:
        return _passback_on_exit(granted, zone, state)
    if zone.antipassback == "off" or state.occupancy.get(holder) != zone.id:
        return granted
    if zone.antipassback == "hard":
        detail = f"already inside {zone.id} (no exit recorded); {match[0]} would grant"
        return replace(base, rule="antipassback:hard", detail=detail, alarms=(ALARM_ANTIPASSBACK,))
    detail = f"{match[1]}; already inside {zone.id} (no exit recorded)"
    return replace(granted, detail=detail, alarms=(ALARM_ANTIPASSBACK,))


def _passback_on_exit(
    decision: PolicyDecision, zone: CompiledZone, state: GateState
) -> PolicyDecision:
    """Leaving a zone one was not recorded in: an alarm only, never a held-in person."""
    where = state.occupancy.get(decision.holder_id or "")
    if zone.antipassback == "off" or where is None or where == zone.id:
        return decision
    detail = f"{decision.detail}; recorded in {where}, not {zone.id}"
    return replace(decision, detail=detail, alarms=(ALARM_ANTIPASSBACK,))


def _denial(
    policy: CompiledPolicy,
    zone: CompiledZone,
    request: AccessRequest,
    posture: Posture,
    now: dt.datetime,
    local: dt.datetime,
    base: PolicyDecision,
) -> PolicyDecision:
    """Default deny, or ``posture:<p>`` when the normal rules would have granted."""
    alarms: tuple[str, ...] = ()
    if posture is Posture.FIRE:
        alarms = (ALARM_FIRE_ENTRY_ATTEMPT,)
    elif posture is Posture.LOCKDOWN:
        alarms = (ALARM_LOCKDOWN_ATTEMPT,)
    if posture is not Posture.NORMAL:
        normal = first_match(
            policy,
            zone,
            zone.effects[Posture.NORMAL],
            holder_id=request.holder_id or "",
            serial=request.credential_serial,
            org_code=request.organization_code,
            position=request.position,
            now=now,
            local=local,
        )
        if normal is not None or posture is Posture.FIRE:
            detail = f"{posture.value} posture at {zone.id}" + (
                f"; normally granted by {normal[0]}" if normal else ""
            )
            return replace(base, rule=f"posture:{posture.value}", detail=detail, alarms=alarms)
    return replace(base, detail="no rule grants entry", alarms=alarms)
