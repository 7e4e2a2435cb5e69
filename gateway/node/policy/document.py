"""The site policy document: zones, doors, organizations, schedules, duty, grants, postures.

A pydantic model with ``extra="forbid"`` throughout, so a misspelled key is an
error, and a final pass that checks every cross-reference (a door's zone, a
zone's building, a grant's zones …) and names the key path of the one that
dangles. The signed envelope around it is in :mod:`gateway.node.policy.signed`.

The document, as JSON (version, site, issued_at, schedules, buildings, zones, doors and
posture_defaults are required; the rest may be left out)::

    {"version": 7, "site": "sejong", "issued_at": "2026-09-01T00:00:00+09:00",
     "schedules": {"office": {"windows": [
         {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}]}},
     "buildings": {"b6": {"name": "6동"}},
     "zones": {"b6-lobby": {"building": "b6", "antipassback": "hard",
                            "postures": {"level2": {"separate_pass_required": true}}}},
     "doors": {"b6-in": {"zone": "b6-lobby", "direction": "entry"}},
     "posture_defaults": {"normal": {}, "level4": {}, "level3": {"org": "home_hours"},
                          "level2": {...}, "level1": {...}, "lockdown": {...},
                          "fire": {"entry": false}},
     "organizations": {"1741000": {"name": "행정안전부", "home_buildings": ["b6"]}},
     "duty_roster": [{"holder_id": "…", "date": "2026-09-23", "kind": "숙직",
                      "building": "b6"}],
     "grants": [{"id": "p-1", "kind": "separate_pass", "credential_serial": "PASS-0001",
                 "zones": ["b6-lobby"], "valid_from": "…+09:00", "valid_until": "…+09:00"}],
     "extra_holidays": ["2026-10-02"], "utc_offset_minutes": 540,
     "duty_hours": {"day_start": "09:00", "day_end": "18:00"},
     "staleness": {"max_age_s": 86400, "on_stale": "deny"},
     "operators": {"soc-1": {"public_key": "<SPKI DER, base64url>",
                             "actions": ["unlock", "relock", "resync"], "doors": []}}}

A zone may carry its own ``"staleness"``; it replaces the site's for that zone.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from gateway.node.policy.calendar import MINUTES_PER_DAY, Schedule, parse_hhmm


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Direction(StrEnum):
    ENTRY = "entry"
    EXIT = "exit"


class Posture(StrEnum):
    """The site's emergency posture (비상근무 제1-4호, rules 37-44; fire and intrusion, rule 24)."""

    NORMAL = "normal"
    LEVEL4 = "level4"  # 제4호: other crises
    LEVEL3 = "level3"  # 제3호: warning signs, local provocation or disaster
    LEVEL2 = "level2"  # 제2호: tension rising, disaster, social unrest
    LEVEL1 = "level1"  # 제1호: war imminent
    LOCKDOWN = "lockdown"  # intruder: key facilities closed (rule 24 ②)
    FIRE = "fire"  # alarm and evacuation: no entry, egress always (rule 24 ①)


class DutyKind(StrEnum):
    ILJIK = "일직"  # Saturdays and holidays, during normal hours
    SUKJIK = "숙직"  # nights, from the end of normal hours to the next day's start


class Building(Strict):
    name: str


class ZoneEffect(Strict):
    """What a posture allows at a zone's doors. The defaults are the normal rules."""

    entry: bool = True  # False: no entry at all (fire)
    org: Literal["hours", "home_hours", "home_anytime", "none"] = "hours"
    duty: bool = True
    grants: bool = True  # per-person grants
    separate_passes: bool = True
    separate_pass_required: bool = False  # rule 59 ③: only a separate pass opens the door
    roles: tuple[str, ...] = ()  # positions that may enter at any time (e.g. 청사방호)
    exit: Literal["free", "rules"] = "free"  # free: any verified credential may leave

    @model_validator(mode="after")
    def _coherent(self) -> ZoneEffect:
        if self.separate_pass_required and not self.separate_passes:
            raise ValueError("separate_pass_required needs separate_passes: true")
        return self


class Staleness(Strict):
    """How old the status list may be before this zone stops trusting it (rule: fail closed).

    The age is counted at the node from the token's ``iat``. Past ``max_age_s``:
    ``on_stale = "deny"`` denies every credential with ``stale_status``;
    ``"last_known"`` (the degraded rule) still grants a credential whose last known
    status was VALID, marks the decision ``degraded`` and raises a ``stale_status``
    alarm once, so the centre sees the node is running on old data.
    """

    max_age_s: int = Field(default=24 * 3600, ge=60, le=30 * 24 * 3600)
    on_stale: Literal["deny", "last_known"] = "deny"


class Operator(Strict):
    """A key the centre signs commands with (remote unlock, relock, resync).

    ``public_key``: the P-256 public key, SubjectPublicKeyInfo DER in base64url
    (no padding); a command's COSE ``kid`` is the operator id. ``doors`` empty:
    every door of the site.
    """

    name: str = ""
    public_key: str = Field(pattern=r"^[A-Za-z0-9_-]+$", min_length=40)
    actions: tuple[Literal["unlock", "relock", "resync"], ...] = Field(min_length=1)
    doors: tuple[str, ...] = ()


class Zone(Strict):
    building: str
    name: str = ""
    parent: str | None = None  # the zone an exit leads to; None: outside the building
    restricted: bool = False  # only organizations, duty entries and grants naming it
    schedule: str = "office"  # when organizations' staff may enter
    antipassback: Literal["off", "soft", "hard"] = "off"
    postures: dict[Posture, ZoneEffect] = Field(default_factory=dict)  # overrides the defaults
    staleness: Staleness | None = None  # None: the site's


class Door(Strict):
    zone: str
    direction: Direction
    name: str = ""


class Organization(Strict):
    """One agency by its 행정표준기관코드: where it sits and where else its staff may go."""

    name: str
    home_buildings: tuple[str, ...] = ()  # the buildings it sits in ("own organizations")
    buildings: tuple[str, ...] = ()  # other buildings its staff may enter in hours
    zones: tuple[str, ...] = ()  # restricted zones its staff may enter in hours


class DutyHours(Strict):
    """Normal hours as duty sees them: 일직 runs day_start-day_end, 숙직 day_end-next day_start."""

    day_start: str = "09:00"
    day_end: str = "18:00"

    @field_validator("day_start", "day_end")
    @classmethod
    def _time(cls, value: str) -> str:
        if parse_hhmm(value) >= MINUTES_PER_DAY:
            raise ValueError("duty hours must be before 24:00")
        return value

    @model_validator(mode="after")
    def _order(self) -> DutyHours:
        if parse_hhmm(self.day_end) <= parse_hhmm(self.day_start):
            raise ValueError("day_end must be after day_start")
        return self


class DutyEntry(Strict):
    holder_id: str
    date: dt.date  # the day the shift starts (숙직 runs into the next morning)
    kind: DutyKind
    building: str
    zones: tuple[str, ...] = ()  # restricted zones the officer needs besides the building's


class Grant(Strict):
    """Per-person access (kind person) or a separate pass (출입증, rule 59 ③)."""

    id: str
    kind: Literal["person", "separate_pass"] = "person"
    holder_id: str | None = None
    credential_serial: str | None = None  # a separate pass is a credential of its own
    zones: tuple[str, ...] = Field(min_length=1)
    valid_from: AwareDatetime
    valid_until: AwareDatetime
    schedule: str | None = None  # None: the whole validity window

    @model_validator(mode="after")
    def _coherent(self) -> Grant:
        if self.holder_id is None and self.credential_serial is None:
            raise ValueError(f"grant {self.id}: give holder_id or credential_serial (or both)")
        if self.valid_until <= self.valid_from:
            raise ValueError(f"grant {self.id}: valid_until must be after valid_from")
        return self


class PolicyDocument(Strict):
    version: int = Field(ge=1)
    site: str
    issued_at: AwareDatetime
    utc_offset_minutes: int = 540  # Korea: UTC+9, no daylight saving
    extra_holidays: tuple[dt.date, ...] = ()  # 임시공휴일 declared after the data was made
    schedules: dict[str, Schedule]
    duty_hours: DutyHours = DutyHours()
    buildings: dict[str, Building]
    zones: dict[str, Zone]
    doors: dict[str, Door]
    organizations: dict[str, Organization] = Field(default_factory=dict)
    posture_defaults: dict[Posture, ZoneEffect]
    duty_roster: tuple[DutyEntry, ...] = ()
    grants: tuple[Grant, ...] = ()
    staleness: Staleness = Staleness()
    operators: dict[str, Operator] = Field(default_factory=dict)

    def staleness_for(self, zone_id: str) -> Staleness:
        zone = self.zones.get(zone_id)
        return self.staleness if zone is None or zone.staleness is None else zone.staleness

    @model_validator(mode="after")
    def _references(self) -> PolicyDocument:
        problems = list(_dangling(self))
        missing = [p.value for p in Posture if p not in self.posture_defaults]
        if missing:
            problems.append(f"posture_defaults: add an effect for {', '.join(missing)}")
        seen: set[str] = set()
        for index, grant in enumerate(self.grants):
            if grant.id in seen:
                problems.append(f"grants.{index}.id: {grant.id!r} is used twice")
            seen.add(grant.id)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _dangling(doc: PolicyDocument) -> list[str]:
    """Every reference to a key that does not exist, as 'path: message'."""
    out: list[str] = []

    def need(path: str, key: str | None, table: dict[str, object], what: str) -> None:
        if key is not None and key not in table:
            known = ", ".join(sorted(table)[:8]) or "none defined"
            out.append(f"{path}: unknown {what} {key!r} (known: {known})")

    buildings: dict[str, object] = dict(doc.buildings)
    zones: dict[str, object] = dict(doc.zones)
    schedules: dict[str, object] = dict(doc.schedules)
    for zid, zone in doc.zones.items():
        need(f"zones.{zid}.building", zone.building, buildings, "building")
        need(f"zones.{zid}.parent", zone.parent, zones, "zone")
        need(f"zones.{zid}.schedule", zone.schedule, schedules, "schedule")
    for did, door in doc.doors.items():
        need(f"doors.{did}.zone", door.zone, zones, "zone")
    for code, org in doc.organizations.items():
        for i, b in enumerate((*org.home_buildings, *org.buildings)):
            need(f"organizations.{code}.buildings[{i}]", b, buildings, "building")
        for i, z in enumerate(org.zones):
            need(f"organizations.{code}.zones.{i}", z, zones, "zone")
    for i, entry in enumerate(doc.duty_roster):
        need(f"duty_roster.{i}.building", entry.building, buildings, "building")
        for j, z in enumerate(entry.zones):
            need(f"duty_roster.{i}.zones.{j}", z, zones, "zone")
    for oid, operator in doc.operators.items():
        for i, d in enumerate(operator.doors):
            need(f"operators.{oid}.doors.{i}", d, dict(doc.doors), "door")
    for i, grant in enumerate(doc.grants):
        need(f"grants.{i}.schedule", grant.schedule, schedules, "schedule")
        for j, z in enumerate(grant.zones):
            need(f"grants.{i}.zones.{j}", z, zones, "zone")
    return out
