"""From MQTT messages to one :class:`WriteSet`: parse strictly, check the chain, derive alarms
and presence. No network here (see :mod:`.service`), so every path is testable on bytes.

Anything that does not parse, names another node than its topic, or comes from a
node without a configured key is *quarantined*: kept aside with its reason and one
``quarantine`` alarm per topic, never stored as an event and never a crash.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

import structlog
from pydantic import ValidationError

from gateway.central.collector.alarms import AlarmRules
from gateway.central.collector.config import LoadedCollector
from gateway.central.collector.extract import to_stored
from gateway.central.collector.integrity import ChainChecker
from gateway.central.collector.model import (
    AlarmKind,
    NewAlarm,
    NodeHealth,
    Quarantined,
    Severity,
    WriteSet,
)
from gateway.central.collector.presence import PresenceTracker
from gateway.central.collector.store import EventStore
from gateway.mqtt.payloads import EventBatch, Heartbeat
from gateway.mqtt.topics import AVAILABILITY_OFFLINE, AVAILABILITY_ONLINE, match
from gateway.node.outbox import Event

log = structlog.get_logger("gateway.central.collector")
MAX_MESSAGE_BYTES = 4 << 20  # 500 events of a few KiB each, with room
QUARANTINE_KEEP_BYTES = 64 << 10


@dataclass(frozen=True)
class Incoming:
    topic: str
    payload: bytes
    received_at: dt.datetime


@dataclass
class IngestStats:
    messages: int = 0
    stored: int = 0  # events accepted into a write set (new, verified)
    duplicates: int = 0  # redeliveries and genuine replays, ignored
    quarantined: int = 0
    commits: int = 0
    resend_requests: int = 0  # gaps asked of their node again


@dataclass
class _Batch:
    changes: WriteSet = field(default_factory=WriteSet)
    nodes_touched: set[str] = field(default_factory=set)


class Refused(ValueError):
    """A message not to trust; the text says why."""


class Ingest:
    def __init__(self, loaded: LoadedCollector, store: EventStore) -> None:
        self.loaded = loaded
        every = loaded.config.integrity.signatures == "every_event"
        self.checker = ChainChecker(store, loaded.keys, every_signature=every)
        self.rules = AlarmRules(loaded.config.alarms, loaded.site)
        self.presence = PresenceTracker(loaded.site)
        self.stats = IngestStats()

    async def process(self, messages: list[Incoming]) -> tuple[WriteSet, set[str]]:
        """The write set for ``messages`` and the nodes whose chain state it moves."""
        batch = _Batch()
        self.checker.begin()
        for message in messages:
            self.stats.messages += 1
            try:
                await self._one(message, batch)
            except Refused as exc:
                self._quarantine(message, str(exc), batch)
        return batch.changes, batch.nodes_touched

    def rollback(self, nodes: set[str]) -> None:
        """The write failed: forget cached chain state so a redelivery is checked afresh."""
        for node in nodes:
            self.checker.forget(node)

    async def _one(self, message: Incoming, batch: _Batch) -> None:
        if len(message.payload) > MAX_MESSAGE_BYTES:
            raise Refused(f"message of {len(message.payload)} bytes exceeds {MAX_MESSAGE_BYTES}")
        found = match(message.topic)
        if found is None:
            raise Refused("not a registry topic")
        site, node = found.params.get("site", ""), found.params.get("node", "")
        if found.name == "events":
            await self._events(site, node, message, batch)
        elif found.name == "availability":
            self._availability(site, node, message, batch)
        elif found.name == "heartbeat":
            self._heartbeat(site, node, message, batch)

    async def _events(self, site: str, node: str, message: Incoming, batch: _Batch) -> None:
        try:
            parsed = EventBatch.model_validate_json(message.payload)
        except (ValidationError, ValueError, RecursionError) as exc:
            raise Refused(f"not an event batch: {_short(exc)}") from exc
        # The model checked every field's shape already (seq, at, hex hash and sig).
        events = [
            Event(e.seq, e.at, e.kind, e.payload, e.prev_hash, e.hash, e.sig) for e in parsed.events
        ]
        if (parsed.site, parsed.node) != (site, node):
            raise Refused(f"batch says {parsed.site}/{parsed.node}, topic says {site}/{node}")
        if not self.checker.knows(node):
            raise Refused(f"unknown node {node!r}: no public key in the collector config")
        now = message.received_at
        verdict = await self.checker.check(site, node, events, now)
        changes = batch.changes
        changes.alarms.extend(verdict.alarms)
        self.stats.duplicates += verdict.duplicates
        if verdict.chain is not None:
            changes.chains[node] = verdict.chain
            batch.nodes_touched.add(node)
        for event in verdict.accepted:
            stored = to_stored(site, node, event, now, self.loaded.site)
            changes.events.append(stored)
            changes.alarms.extend(self.rules.on_event(stored))
            changes.presence.extend(self.presence.on_event(stored))
        if verdict.accepted:
            self.stats.stored += len(verdict.accepted)
            last = verdict.accepted[-1]
            self._node(batch, NodeHealth(node, site, last_event_at=now, last_seq=last.seq))

    def _availability(self, site: str, node: str, message: Incoming, batch: _Batch) -> None:
        if message.payload not in (AVAILABILITY_ONLINE, AVAILABILITY_OFFLINE):
            raise Refused("availability is 'online' or 'offline'")
        online = message.payload == AVAILABILITY_ONLINE
        now = message.received_at
        self._node(batch, NodeHealth(node, site, online=online, availability_at=now))
        batch.changes.alarms.extend(self.rules.on_availability(site, node, online, now))

    def _heartbeat(self, site: str, node: str, message: Incoming, batch: _Batch) -> None:
        try:
            beat = Heartbeat.model_validate_json(message.payload)
        except (ValidationError, ValueError) as exc:
            raise Refused(f"not a heartbeat: {_short(exc)}") from exc
        if (beat.site, beat.node) != (site, node):
            raise Refused(f"heartbeat says {beat.site}/{beat.node}, topic says {site}/{node}")
        now = message.received_at
        health = NodeHealth(
            node, site, online=True, last_heartbeat_at=now, heartbeat=beat.model_dump(mode="json")
        )
        self._node(batch, health)
        batch.changes.alarms.extend(self.rules.on_heartbeat(beat, now))

    def _node(self, batch: _Batch, health: NodeHealth) -> None:
        old = batch.changes.nodes.get(health.node)
        if old is not None:
            updates = {k: v for k, v in vars(health).items() if v is not None}
            health = replace(old, **updates)
        batch.changes.nodes[health.node] = health

    def _quarantine(self, message: Incoming, reason: str, batch: _Batch) -> None:
        self.stats.quarantined += 1
        found = match(message.topic)
        node = found.params.get("node") if found else None
        site = found.params.get("site") if found else None
        log.warning("quarantined", topic=message.topic[:200], reason=reason)
        batch.changes.quarantine.append(
            Quarantined(
                message.received_at,
                message.topic[:1024],
                reason,
                message.payload[:QUARANTINE_KEEP_BYTES],
                node,
            )
        )
        batch.changes.alarms.append(
            NewAlarm(
                AlarmKind.QUARANTINE,
                Severity.CRITICAL,
                f"quarantine:{message.topic[:200]}",
                message.received_at,
                site,
                node,
                None,
                {"reason": reason},
            )
        )


def _short(exc: Exception) -> str:
    text = str(exc).replace("\n", " ")
    return text if len(text) <= 300 else text[:300] + "…"
