"""The node's heartbeat: what the centre needs to know that a gate is alive and current.

Built from the parts that own each fact (the outbox its depth, the door its
state, the sync state its versions and ages) at the moment it is sent, so it
never reports a cached view. :class:`HealthSources` is what the node service
hands in; a test can hand in its own.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import metadata

from gateway.mqtt.payloads import ComponentHealth, Heartbeat, OutboxHealth, Synced
from gateway.node.outbox import Outbox

_ALARM_DOOR_STATES = frozenset({"held_open", "forced"})


@cache
def software_version() -> str:
    try:
        return f"gateway {metadata.version('gateway')}"
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "gateway (source)"


@dataclass(frozen=True)
class SyncedView:
    """What the sync layer reports: per status list, policy and posture."""

    status_lists: dict[str, Synced]
    policy: Synced
    posture: Synced


@dataclass
class HealthSources:
    site: str
    node: str
    outbox: Outbox
    outbox_limit: int
    synced: Callable[[dt.datetime], SyncedView]
    readers: Callable[[], list[ComponentHealth]]
    doors: Callable[[], list[ComponentHealth]]
    started_monotonic: float = 0.0
    monotonic: Callable[[], float] = time.monotonic


def door_health(door_id: str, state: str, tamper: bool) -> ComponentHealth:
    ok = state not in _ALARM_DOOR_STATES and not tamper
    return ComponentHealth(
        id=door_id, ok=ok, state=state, detail="tamper switch open" if tamper else None
    )


def heartbeat(sources: HealthSources, now: dt.datetime) -> Heartbeat:
    synced = sources.synced(now)
    pending, _pending_bytes = sources.outbox.depth
    last_seq, _hash = sources.outbox.head
    return Heartbeat(
        site=sources.site,
        node=sources.node,
        ts=now,
        software_version=software_version(),
        uptime_s=max(0.0, sources.monotonic() - sources.started_monotonic),
        status_lists=synced.status_lists,
        policy=synced.policy,
        posture=synced.posture,
        outbox=OutboxHealth(
            depth=pending,
            oldest_age_s=sources.outbox.oldest_pending_age(now),
            limit=sources.outbox_limit,
            last_seq=last_seq,
        ),
        readers=sources.readers(),
        doors=sources.doors(),
    )
