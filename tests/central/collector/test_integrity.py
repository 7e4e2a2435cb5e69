"""Integrity: events deleted, altered, replayed or forked on the way are caught and alarmed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.central.collector.config import load_collector_config
from gateway.central.collector.ingest import Incoming, Ingest
from gateway.central.collector.model import Alarm, AlarmKind, EventFilter
from gateway.central.collector.store import EventStore
from gateway.node.outbox import Event, event_hash
from tests.central.collector.helpers import T0, FakeNode, batch_bytes, loaded_for


async def feed(ingest: Ingest, store: EventStore, *messages: Incoming) -> None:
    changes, _nodes = await ingest.process(list(messages))
    await store.write(changes)


async def stored_seqs(store: EventStore) -> list[int]:
    return sorted(e.seq for e in (await store.search(EventFilter(), limit=1000)).events)


async def open_kinds(store: EventStore) -> list[AlarmKind]:
    return sorted(a.kind for a in await store.alarms())


def resigned(event: Event, key: Ed25519PrivateKey, **changes: object) -> Event:
    """``event`` with fields changed, hash recomputed, signed by ``key``."""
    e = dataclasses.replace(event, **changes)  # type: ignore[arg-type]
    digest = event_hash(e.seq, e.at, e.kind, e.payload, e.prev_hash)
    return dataclasses.replace(e, hash=digest, signature=key.sign(bytes.fromhex(digest)).hex())


def setup(tmp_path: Path, store: EventStore) -> tuple[FakeNode, Ingest]:
    node = FakeNode("sejong", "gate-1")
    return node, Ingest(loaded_for(tmp_path, [node]), store)


async def test_in_order_and_redelivered_batches_store_once(
    tmp_path: Path, store: EventStore
) -> None:
    node, ingest = setup(tmp_path, store)
    events = node.decisions(5)
    await feed(ingest, store, node.message(events[:3]), node.message(events[3:]))
    await feed(ingest, store, node.message(events))  # the broker redelivers everything
    assert await stored_seqs(store) == [1, 2, 3, 4, 5]
    assert ingest.stats.duplicates == 5
    assert await store.alarms(open_only=False) == []
    chain = await store.chain("gate-1")
    assert chain is not None
    assert (chain.head_seq, chain.head_hash) == (5, events[-1].hash)


async def test_gap_is_alarmed_then_resolved_when_filled(tmp_path: Path, store: EventStore) -> None:
    node, ingest = setup(tmp_path, store)
    events = node.decisions(6)
    await feed(ingest, store, node.message(events[:2]), node.message(events[4:]))
    [gap] = await store.alarms()
    assert (gap.kind, gap.detail["missing"]) == (AlarmKind.INTEGRITY_GAP, [[3, 4]])
    assert (await store.chain("gate-1")).gaps == [(3, 4)]  # type: ignore[union-attr]

    # A fresh collector (restart) still knows the islands from the store.
    ingest = Ingest(ingest.loaded, store)
    await feed(ingest, store, node.message(events[2:4]))
    assert await store.alarms() == []
    [cleared] = await store.alarms(open_only=False)
    assert cleared.cleared_at is not None
    assert await stored_seqs(store) == [1, 2, 3, 4, 5, 6]
    chain = await store.chain("gate-1")
    assert chain is not None
    assert (chain.head_seq, chain.gaps) == (6, [])


async def test_altered_payload_is_refused(tmp_path: Path, store: EventStore) -> None:
    node, ingest = setup(tmp_path, store)
    events = node.decisions(3)
    forged = dataclasses.replace(events[2], payload={**events[2].payload, "granted": False})
    await feed(ingest, store, node.message([*events[:2], forged]))
    assert await stored_seqs(store) == [1, 2]
    [alarm] = await store.alarms()
    assert alarm.kind is AlarmKind.INTEGRITY
    assert "hash does not match" in alarm.detail["reason"]
    await feed(ingest, store, node.message(events[2:]))  # the genuine one still goes in
    assert await stored_seqs(store) == [1, 2, 3]


async def test_fake_node_with_another_key(tmp_path: Path, store: EventStore) -> None:
    node, ingest = setup(tmp_path, store)
    events = node.decisions(2)
    await feed(ingest, store, node.message(events))
    impostor = Ed25519PrivateKey.generate()
    # Valid old events replayed verbatim: idempotent, no alarm.
    await feed(ingest, store, node.message(events))
    assert await store.alarms() == []
    # Altered copies signed by the impostor, and a new event in the node's name.
    altered = resigned(events[1], impostor, payload={"granted": True, "holder_id": "intruder"})
    new = resigned(events[1], impostor, seq=3, prev_hash=events[1].hash)
    await feed(ingest, store, node.message([altered]), node.message([new]))
    alarms = await store.alarms()
    assert [a.kind for a in alarms] == [AlarmKind.INTEGRITY, AlarmKind.INTEGRITY]
    assert all("signature does not verify" in a.detail["reason"] for a in alarms)
    assert await stored_seqs(store) == [1, 2]


async def test_fork_signed_by_the_node_stays_alarmed(tmp_path: Path, store: EventStore) -> None:
    node, ingest = setup(tmp_path, store)
    events = node.decisions(3)
    await feed(ingest, store, node.message(events))
    fork = resigned(events[1], node.key, payload={"granted": False, "door": "d1"})
    await feed(ingest, store, node.message([fork]))
    [alarm] = await store.alarms()
    assert alarm.kind is AlarmKind.INTEGRITY
    assert alarm.detail["reason"].startswith("fork")
    assert alarm.detail["stored_hash"] == events[1].hash
    stored = (await store.search(EventFilter(), limit=10)).events
    assert {e.seq: e.hash for e in stored}[2] == events[1].hash  # the original stays


async def test_broken_link_is_alarmed(tmp_path: Path, store: EventStore) -> None:
    node, ingest = setup(tmp_path, store)
    events = node.decisions(2)
    await feed(ingest, store, node.message(events[:1]))
    unlinked = resigned(events[1], node.key, prev_hash="ee" * 32)
    await feed(ingest, store, node.message([unlinked]))
    [alarm] = await store.alarms()
    assert alarm.kind is AlarmKind.INTEGRITY
    assert "link" in alarm.key


async def test_unknown_node_and_mismatched_topic_are_quarantined(
    tmp_path: Path, store: EventStore
) -> None:
    node, ingest = setup(tmp_path, store)
    stranger = FakeNode("sejong", "gate-x")
    wrong_topic = Incoming(node.topic, batch_bytes("sejong", "gate-9", node.decisions(1)), T0)
    await feed(ingest, store, stranger.message(stranger.decisions(2)), wrong_topic)
    assert await stored_seqs(store) == []
    alarms: list[Alarm] = await store.alarms()
    assert {a.kind for a in alarms} == {AlarmKind.QUARANTINE}
    reasons = sorted(a.detail["reason"] for a in alarms)
    assert "topic says sejong/gate-1" in reasons[0]
    assert "unknown node 'gate-x'" in reasons[1]
    assert ingest.stats.quarantined == 2


async def test_batch_tail_mode_still_refuses_forgeries(tmp_path: Path, store: EventStore) -> None:
    node = FakeNode("sejong", "gate-1")
    config = loaded_for(tmp_path, [node]).path
    config.write_text(config.read_text() + '[integrity]\nsignatures = "batch_tail"\n')
    ingest = Ingest(load_collector_config(config), store)
    events = node.decisions(4)
    impostor = Ed25519PrivateKey.generate()
    forged_tail = resigned(events[1], impostor)  # right hash, wrong signature
    await feed(ingest, store, node.message([events[0], forged_tail]))
    [alarm] = await store.alarms()
    assert alarm.detail["seq"] == 2
    assert "signature does not verify" in alarm.detail["reason"]
    altered = dataclasses.replace(events[2], payload={"granted": True, "holder_id": "x"})
    await feed(ingest, store, node.message([events[1], altered, events[3]]))
    assert await stored_seqs(store) == [1, 2, 4]  # 4 verifies alone; it waits for a real 3
    assert any("hash does not match" in a.detail.get("reason", "") for a in await store.alarms())


async def test_two_collectors_sharing_a_store_leave_no_false_gap(
    tmp_path: Path, store: EventStore
) -> None:
    node = FakeNode("sejong", "gate-1")
    loaded = loaded_for(tmp_path, [node])
    first, second = Ingest(loaded, store), Ingest(loaded, store)
    events = node.decisions(8)
    # A shared subscription hands the batches out in turn.
    for i, collector in zip(range(0, 8, 2), [first, second, first, second], strict=True):
        await feed(collector, store, node.message(events[i : i + 2]))
    assert await stored_seqs(store) == list(range(1, 9))
    assert await store.alarms() == []
    chain = await store.chain("gate-1")
    assert chain is not None
    assert chain.head_seq == 8
