"""The collector's typed records: what the store holds and what its query API returns.

These are the types the viewer and ``gateway logs`` see; the SQL stays behind
:class:`~gateway.central.collector.store.EventStore`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class AlarmKind(StrEnum):
    FORCED_DOOR = "forced_door"
    HELD_OPEN = "held_open"
    TAMPER = "tamper"
    TAILGATING = "tailgating"
    DOOR_ALARM = "door_alarm"  # any other door event the node flagged is_alarm
    NODE_OFFLINE = "node_offline"
    NODE_ALARM = "node_alarm"  # a node's own alarm event (outbox full, publish refused…)
    STALE_STATUS = "stale_status"
    INTEGRITY = "integrity"  # bad hash, bad signature, broken link, fork: stays open
    INTEGRITY_GAP = "integrity_gap"  # missing seqs: cleared when they arrive and link up
    QUARANTINE = "quarantine"  # malformed message or an unknown node: not trusted, kept aside
    DENIAL_BURST = "denial_burst"
    IMPOSSIBLE_TRAVEL = "impossible_travel"
    POLICY_ALARM = "policy_alarm"  # the policy flagged a decision (anti-passback…)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class StoredEvent:
    """One event as stored. ``payload`` is what the gate disclosed (minus redacted keys)."""

    site: str
    node: str
    seq: int
    at: dt.datetime
    kind: str
    payload: dict[str, Any]
    hash: str
    prev_hash: str
    sig: str
    received_at: dt.datetime
    door: str | None = None
    zone: str | None = None
    building: str | None = None
    holder_id: str | None = None
    credential_serial: str | None = None
    organization_code: str | None = None
    granted: bool | None = None
    reason: str | None = None
    is_alarm: bool = False
    id: int | None = None  # assigned by the store; orders the live feed


@dataclass(frozen=True)
class EventFilter:
    """Search criteria; every field set must match (None: any)."""

    site: str | None = None
    node: str | None = None
    building: str | None = None
    door: str | None = None
    holder_id: str | None = None
    credential_serial: str | None = None
    organization_code: str | None = None
    kind: str | None = None
    granted: bool | None = None
    reason: str | None = None
    since: dt.datetime | None = None  # inclusive, on the node's ``at``
    until: dt.datetime | None = None  # exclusive


@dataclass(frozen=True)
class Page:
    """Newest first. ``cursor`` fetches the next (older) page; None when there is none."""

    events: list[StoredEvent]
    cursor: str | None


@dataclass(frozen=True)
class NewAlarm:
    """An alarm to raise. ``key`` deduplicates: while an alarm with the same key is open
    (neither cleared nor acknowledged) raising it again changes nothing."""

    kind: AlarmKind
    severity: Severity
    key: str
    raised_at: dt.datetime
    site: str | None = None
    node: str | None = None
    door: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClearAlarm:
    """Clear the open alarm with this key (the condition ended); it stays in the history."""

    key: str
    at: dt.datetime


@dataclass(frozen=True)
class Alarm:
    id: int
    kind: AlarmKind
    severity: Severity
    key: str
    site: str | None
    node: str | None
    door: str | None
    detail: dict[str, Any]
    raised_at: dt.datetime
    cleared_at: dt.datetime | None
    acknowledged_by: str | None
    acknowledged_at: dt.datetime | None
    comment: str | None

    @property
    def open(self) -> bool:
        return self.cleared_at is None and self.acknowledged_at is None


@dataclass(frozen=True)
class NodeHealth:
    node: str
    site: str
    online: bool | None = None
    availability_at: dt.datetime | None = None
    last_heartbeat_at: dt.datetime | None = None
    heartbeat: dict[str, Any] | None = None  # the last Heartbeat as JSON (versions, ages, outbox)
    last_event_at: dt.datetime | None = None
    last_seq: int | None = None


@dataclass(frozen=True)
class ChainState:
    """How far a node's chain is verified: every seq up to ``head_seq`` is stored and linked."""

    node: str
    head_seq: int
    head_hash: str
    gaps: list[tuple[int, int]] = field(default_factory=list)  # missing [first, last] ranges


@dataclass(frozen=True)
class Presence:
    building: str
    holder_id: str
    zone: str | None
    door: str | None
    node: str
    since: dt.datetime
    organization_code: str | None = None


@dataclass(frozen=True)
class PresenceChange:
    """Applied in order: ``enter`` upserts (building, holder), ``leave`` deletes it."""

    op: str  # "enter" | "leave"
    presence: Presence


@dataclass(frozen=True)
class Quarantined:
    """A message not trusted: malformed, from an unknown node, or failing its checks."""

    received_at: dt.datetime
    topic: str
    reason: str
    raw: bytes
    node: str | None = None


@dataclass
class WriteSet:
    """Everything one commit writes; the broker sees the acks only after it committed."""

    events: list[StoredEvent] = field(default_factory=list)
    chains: dict[str, ChainState] = field(default_factory=dict)
    alarms: list[NewAlarm | ClearAlarm] = field(default_factory=list)  # applied in order
    presence: list[PresenceChange] = field(default_factory=list)
    nodes: dict[str, NodeHealth] = field(default_factory=dict)
    quarantine: list[Quarantined] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(
            (
                self.events,
                self.chains,
                self.alarms,
                self.presence,
                self.nodes,
                self.quarantine,
            )
        )
