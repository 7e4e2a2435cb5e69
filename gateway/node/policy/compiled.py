"""A policy document turned into lookup tables, once, when it is loaded.

A decision is then a handful of dict lookups: door -> zone, organization ->
zones it may enter, (holder, date) -> duty shifts, holder or serial -> grants.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from gateway.node.policy.calendar import CompiledSchedule, HolidayCalendar, parse_hhmm
from gateway.node.policy.document import (
    Direction,
    DutyKind,
    Grant,
    PolicyDocument,
    Posture,
    ZoneEffect,
)


@dataclass(frozen=True, slots=True)
class CompiledZone:
    id: str
    building: str
    parent: str | None
    restricted: bool
    schedule: CompiledSchedule
    antipassback: str
    effects: dict[Posture, ZoneEffect]


@dataclass(frozen=True, slots=True)
class CompiledDoor:
    id: str
    zone: CompiledZone
    direction: Direction


@dataclass(frozen=True, slots=True)
class CompiledDuty:
    kind: DutyKind
    date: dt.date
    building: str
    zones: frozenset[str]  # restricted zones named by the roster entry


@dataclass(frozen=True, slots=True)
class CompiledGrant:
    id: str
    kind: str  # "person" | "separate_pass"
    holder_id: str | None
    credential_serial: str | None
    zones: frozenset[str]
    valid_from: dt.datetime
    valid_until: dt.datetime
    schedule: CompiledSchedule | None

    def matches(self, holder_id: str | None, serial: str | None) -> bool:
        if self.holder_id is not None and self.holder_id != holder_id:
            return False
        return self.credential_serial is None or self.credential_serial == serial


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    document: PolicyDocument
    calendar: HolidayCalendar
    tz: dt.timezone
    doors: dict[str, CompiledDoor]
    zones: dict[str, CompiledZone]
    org_zones: dict[str, dict[str, bool]]  # org code -> zone id -> zone is in a home building
    duty: dict[tuple[str, dt.date], tuple[CompiledDuty, ...]]
    grants_by_holder: dict[str, tuple[CompiledGrant, ...]]
    grants_by_serial: dict[str, tuple[CompiledGrant, ...]]
    day_start: int  # minutes after midnight
    day_end: int

    @property
    def version(self) -> int:
        return self.document.version


def _overlay(default: ZoneEffect, override: ZoneEffect | None) -> ZoneEffect:
    """A zone's override changes only the keys it names; the site's posture default
    supplies the rest (an override that said only ``exit`` must not reopen entry)."""
    if override is None:
        return default
    merged = default.model_dump() | override.model_dump(include=override.model_fields_set)
    return ZoneEffect.model_validate(merged)


def for_gate(doc: PolicyDocument) -> PolicyDocument:
    """The document as a running gate keeps it: grants and the duty roster live only in the
    compiled indexes (a site of 10,000 grants is ~15 MB of parsed models, ~4 MB compiled)."""
    return doc.model_copy(update={"grants": (), "duty_roster": ()})


def compile_policy(
    doc: PolicyDocument, calendar: HolidayCalendar | None = None, *, slim: bool = False
) -> CompiledPolicy:
    """Index ``doc`` for :func:`~gateway.node.policy.engine.decide`; ``slim`` keeps only
    :func:`for_gate`'s copy of the document (what a gate node wants)."""
    calendar = calendar or HolidayCalendar.korean(doc.extra_holidays)
    schedules = {name: CompiledSchedule.build(s) for name, s in doc.schedules.items()}
    zones = {
        zid: CompiledZone(
            id=zid,
            building=z.building,
            parent=z.parent,
            restricted=z.restricted,
            schedule=schedules[z.schedule],
            antipassback=z.antipassback,
            effects={p: _overlay(doc.posture_defaults[p], z.postures.get(p)) for p in Posture},
        )
        for zid, z in doc.zones.items()
    }
    doors = {did: CompiledDoor(did, zones[d.zone], d.direction) for did, d in doc.doors.items()}
    return CompiledPolicy(
        document=for_gate(doc) if slim else doc,
        calendar=calendar,
        tz=dt.timezone(dt.timedelta(minutes=doc.utc_offset_minutes)),
        doors=doors,
        zones=zones,
        org_zones=_org_zones(doc, zones),
        duty=_duty(doc),
        grants_by_holder=_index_grants(doc.grants, schedules, by_serial=False),
        grants_by_serial=_index_grants(doc.grants, schedules, by_serial=True),
        day_start=parse_hhmm(doc.duty_hours.day_start),
        day_end=parse_hhmm(doc.duty_hours.day_end),
    )


def _org_zones(doc: PolicyDocument, zones: dict[str, CompiledZone]) -> dict[str, dict[str, bool]]:
    by_building: dict[str, list[CompiledZone]] = defaultdict(list)
    for zone in zones.values():
        by_building[zone.building].append(zone)
    out: dict[str, dict[str, bool]] = {}
    for code, org in doc.organizations.items():
        home = set(org.home_buildings)
        allowed: dict[str, bool] = {}
        for building in (*org.buildings, *org.home_buildings):
            for zone in by_building[building]:
                if not zone.restricted:
                    allowed[zone.id] = building in home
        for zid in org.zones:
            allowed[zid] = zones[zid].building in home
        out[code] = allowed
    return out


def _duty(doc: PolicyDocument) -> dict[tuple[str, dt.date], tuple[CompiledDuty, ...]]:
    table: dict[tuple[str, dt.date], list[CompiledDuty]] = defaultdict(list)
    for entry in doc.duty_roster:
        shift = CompiledDuty(entry.kind, entry.date, entry.building, frozenset(entry.zones))
        table[entry.holder_id, entry.date].append(shift)
    return {key: tuple(value) for key, value in table.items()}


def _index_grants(
    grants: tuple[Grant, ...], schedules: dict[str, CompiledSchedule], *, by_serial: bool
) -> dict[str, tuple[CompiledGrant, ...]]:
    """Grants keyed by serial if they name one (by_serial), else by holder id."""
    table: dict[str, list[CompiledGrant]] = defaultdict(list)
    for g in grants:
        key = g.credential_serial if by_serial else g.holder_id
        if key is None or (not by_serial and g.credential_serial is not None):
            continue
        table[key].append(
            CompiledGrant(
                id=g.id,
                kind=g.kind,
                holder_id=g.holder_id,
                credential_serial=g.credential_serial,
                zones=frozenset(g.zones),
                valid_from=g.valid_from,
                valid_until=g.valid_until,
                schedule=None if g.schedule is None else schedules[g.schedule],
            )
        )
    return {key: tuple(value) for key, value in table.items()}
