"""A scenario file: one complex, one simulated day (or part of it), and what happens in it.

TOML, validated by pydantic with ``extra="forbid"`` everywhere: a misspelled key
is an error naming the file, the line and the key (the config loader's
:class:`~gateway.config.findings.ConfigError`), never silently ignored. The
format is documented in ``docs/simulator.md``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.config.findings import ConfigError, Finding
from gateway.config.loader import read_toml, validate

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
EventKind = Literal[
    "lost",
    "reissue",
    "suspend",
    "resume",
    "posture",
    "lockdown",
    "fire",
    "drill",
    "forced",
    "held_open",
    "tamper",
    "tailgate",
    # Faults: played on the MQTT link (docs/simulator.md, "Linked mode"); they need [link].
    "broker_restart",
    "collector_restart",
    "node_crash",
    "network_cut",
    "clock_skew",
]
FAULT_KINDS = frozenset(
    {"broker_restart", "collector_restart", "node_crash", "network_cut", "clock_skew"}
)
GATE_KINDS = frozenset(
    {"forced", "held_open", "tamper", "tailgate", "node_crash", "network_cut", "clock_skew"}
)
STATUS_KINDS = frozenset({"lost", "reissue", "suspend", "resume"})
WEEKDAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri")
PostureName = Literal["normal", "level4", "level3", "level2", "level1"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Meta(Strict):
    name: str
    complex: str = ""
    date: dt.date = Field(description="the simulated day, local time")
    holiday: bool = Field(default=False, description="intent: the day is a public holiday")
    start: dt.time
    end: dt.time
    seed: int = 1
    path: Literal["fast", "radio"] = "fast"
    status_interval_s: float = Field(default=120.0, gt=0, le=290)

    @model_validator(mode="after")
    def _order(self) -> Meta:
        if self.end <= self.start:
            raise ValueError("end must be after start (one day at most)")
        return self


class Hours(Strict):
    """Office hours as the site means them (the policy's ``office`` schedule)."""

    days: list[Day] = Field(default_factory=lambda: list(WEEKDAYS))
    start: dt.time = dt.time(7, 0)
    end: dt.time = dt.time(20, 0)


class Building(Strict):
    id: str = Field(pattern=r"^[a-z0-9-]{1,24}$")
    name: str = ""
    entry_gates: int = Field(default=2, ge=1, le=64)
    exit_gates: int = Field(default=1, ge=0, le=64)
    mode: Literal["door", "speed-gate"] = "speed-gate"


class Organization(Strict):
    code: str = Field(pattern=r"^\d{7}$")
    name: str
    home: list[str] = Field(min_length=1, description="home building ids")
    also: list[str] = Field(default_factory=list, description="other buildings allowed")
    people: int = Field(ge=0, le=100_000)
    mobile_share: float = Field(default=0.6, ge=0, le=1)


class Population(Strict):
    """People beside the valid staff; each kind is documented in docs/simulator.md."""

    lost: int = Field(default=0, ge=0)
    suspended: int = Field(default=0, ge=0)
    expired: int = Field(default=0, ge=0)
    wrong_building: int = Field(default=0, ge=0)
    unknown_org: int = Field(default=0, ge=0)
    cloned: int = Field(default=0, ge=0)
    replayed: int = Field(default=0, ge=0)
    tampered: int = Field(default=0, ge=0)
    lent: int = Field(default=0, ge=0)
    guards: int = Field(default=0, ge=0, description="청사방호 staff (enter in lockdown)")
    duty_day: int = Field(default=0, ge=0, description="일직 officers on this date")
    duty_night: int = Field(default=0, ge=0, description="숙직 officers starting this date")


class Crowd(Strict):
    morning_peak: dt.time = dt.time(8, 50)
    morning_spread_min: float = Field(default=20.0, gt=0)
    lunch: bool = False
    evening: bool = False
    evening_peak: dt.time = dt.time(18, 15)
    attendance: float = Field(default=1.0, ge=0, le=1, description="share of staff who come")
    tap_seconds_mobile: float = Field(default=0.6, gt=0)
    tap_seconds_card: float = Field(default=0.4, gt=0)
    walk_through_seconds: float = Field(default=1.5, gt=0)


class Event(Strict):
    at: dt.time
    kind: EventKind
    role: str | None = Field(default=None, description="lost/reissue/suspend/resume: who")
    level: PostureName | None = None
    building: str | None = None
    gate: str | None = None
    minutes: float = Field(default=10.0, gt=0, description="lockdown/fire/drill length")
    seconds: float = Field(default=60.0, gt=0, description="held_open: how long")
    down_s: float = Field(
        default=0.0, ge=0, le=3600, description="a fault: simulated seconds until it is undone"
    )
    skew_s: float = Field(default=0.0, ge=-3600, le=3600, description="clock_skew: by how much")

    @property
    def until(self) -> dt.time:
        """When a fault window ends (the same day; a run never crosses midnight)."""
        start = dt.datetime.combine(dt.date(2000, 1, 1), self.at)
        return (start + dt.timedelta(seconds=self.down_s)).time()


class Link(Strict):
    """Linked mode: the nodes' real services over a real MQTT broker, and the real collector."""

    broker: Literal["mosquitto", "embedded"] | None = Field(
        default=None, description="None: in process (no MQTT); else the broker to start"
    )
    durability: Literal["normal", "full"] = "normal"
    settle_timeout_s: float = Field(default=60.0, gt=0, description="wall s for the final drain")
    propagation_timeout_s: float = Field(default=20.0, gt=0, description="wall s per status")


class Cast(Strict):
    """A named person with scripted taps, for events to act on."""

    role: str
    org: str
    credential: Literal["mobile", "card"] = "mobile"
    building: str | None = Field(default=None, description="where they go (default: home)")
    taps: list[dt.time] = Field(min_length=1)
    finder_taps: list[dt.time] = Field(
        default_factory=list, description="someone taps the old device after a loss"
    )


class Scenario(Strict):
    scenario: Meta
    hours: Hours = Hours()
    buildings: list[Building] = Field(min_length=1)
    organizations: list[Organization] = Field(min_length=1)
    population: Population = Population()
    crowd: Crowd = Crowd()
    cast: list[Cast] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    link: Link = Link()

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        buildings = {b.id for b in self.buildings}
        codes = {o.code for o in self.organizations}
        roles = {c.role for c in self.cast}
        for org in self.organizations:
            for building in (*org.home, *org.also):
                if building not in buildings:
                    raise ValueError(f"organization {org.code}: unknown building {building!r}")
        for member in self.cast:
            if member.org not in codes:
                raise ValueError(f"cast {member.role}: unknown organization {member.org!r}")
            if member.building is not None and member.building not in buildings:
                raise ValueError(f"cast {member.role}: unknown building {member.building!r}")
        for event in self.events:
            if event.kind in ("lost", "reissue", "suspend", "resume") and event.role not in roles:
                raise ValueError(f"event {event.kind} at {event.at}: unknown role {event.role!r}")
            if event.kind == "posture" and event.level is None:
                raise ValueError(f"event posture at {event.at}: give level")
            if event.building is not None and event.building not in buildings:
                raise ValueError(f"event at {event.at}: unknown building {event.building!r}")
        _no_status_change_in_an_outage(self.events)
        return self

    @property
    def faults(self) -> list[Event]:
        return [e for e in self.events if e.kind in FAULT_KINDS]

    @property
    def people(self) -> int:
        return sum(o.people for o in self.organizations)


def _no_status_change_in_an_outage(events: list[Event]) -> None:
    """A lost report while the broker is down or a gate is cut off reaches the gates only
    later; the ground truth says revoked from the report on, so it would count false accepts
    that are the outage's, not the gate's. Such a scenario is refused rather than misread."""
    windows = [e for e in events if e.kind in ("broker_restart", "network_cut")]
    for change in (e for e in events if e.kind in STATUS_KINDS):
        for fault in windows:
            if fault.at <= change.at <= fault.until:
                raise ValueError(
                    f"event {change.kind} at {change.at} falls in the {fault.kind} of "
                    f"{fault.at}-{fault.until}: move one of them"
                )


def load_scenario(path: Path) -> Scenario:
    """Read and validate; a bad file is a ConfigError naming file, line and key."""
    source = read_toml(path)
    scenario = validate(Scenario, source)
    gates = {g for b in scenario.buildings for g in gate_ids(b)}
    for index, event in enumerate(scenario.events):
        if event.kind in GATE_KINDS and event.gate not in gates:
            line, _exact = source.lines.line_for(("events", index, "gate"))
            known = ", ".join(sorted(gates))
            message = f"{event.kind} needs gate = one of the complex's gates, not {event.gate!r}"
            raise ConfigError([Finding(path, line, f"events[{index}].gate", message, known)])
    return scenario


def gate_ids(building: Building) -> list[str]:
    """The door ids of a building's gates: ``b6-in-1`` …, ``b6-out-1`` …"""
    entries = [f"{building.id}-in-{n}" for n in range(1, building.entry_gates + 1)]
    return entries + [f"{building.id}-out-{n}" for n in range(1, building.exit_gates + 1)]
