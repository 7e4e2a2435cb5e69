"""Append, pending, delivery, restarts, the size-limit alarm and pruning."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.node.outbox import (
    ALARM_KIND,
    GENESIS_HASH,
    Limits,
    Outbox,
    OutboxClosed,
    verify_chain,
)

from .conftest import FakeClock, OpenOutbox


async def test_append_returns_committed_events_in_seq_order(open_outbox: OpenOutbox) -> None:
    outbox: Outbox = open_outbox()
    first = await outbox.append("decision", {"granted": True, "door": "d1"})
    rest = await asyncio.gather(*(outbox.append("door", {"n": n}) for n in range(50)))
    assert first.seq == 1
    assert first.prev_hash == GENESIS_HASH
    assert [e.seq for e in rest] == list(range(2, 52))
    assert outbox.head == (51, rest[-1].hash)
    pending = outbox.pending(limit=100)
    assert [e.seq for e in pending] == list(range(1, 52))
    assert pending[0] == first
    assert pending[1:] == rest
    assert outbox.depth[0] == 51


async def test_mark_delivered_up_to_and_by_seqs(open_outbox: OpenOutbox, clock: FakeClock) -> None:
    outbox: Outbox = open_outbox()
    for n in range(10):
        await outbox.append("tap", {"n": n})
    assert outbox.mark_delivered(4) == 4
    assert [e.seq for e in outbox.pending()] == [5, 6, 7, 8, 9, 10]
    assert outbox.mark_delivered(seqs=[7, 9, 9, 3]) == 2  # 3 already delivered
    assert [e.seq for e in outbox.pending(limit=3)] == [5, 6, 8]
    assert outbox.mark_delivered(4) == 0
    assert outbox.depth[0] == 4
    assert await outbox.mark_delivered_async(seqs=[5]) == 1
    assert [e.seq for e in await outbox.pending_async()] == [6, 8, 10]
    delivered = {e.seq: e.delivered_at for e in outbox.events()}
    assert delivered[1] == "2026-11-23T09:00:00.000000Z"
    assert delivered[6] is None
    with pytest.raises(ValueError, match="not both"):
        outbox.mark_delivered(3, seqs=[1])


async def test_seq_and_chain_continue_across_close_and_reopen(
    open_outbox: OpenOutbox, key: Ed25519PrivateKey
) -> None:
    outbox: Outbox = open_outbox()
    for n in range(5):
        await outbox.append("tap", {"n": n})
    outbox.mark_delivered(5)
    await outbox.aclose()
    with pytest.raises(OutboxClosed):
        await outbox.append("tap", {})

    again: Outbox = open_outbox()
    assert again.head[0] == 5
    event = again.append_sync("node", {"phase": "started"})
    assert event.seq == 6
    more = await again.append("tap", {"n": 6})
    assert more.seq == 7
    again.close()

    third: Outbox = open_outbox()
    events = third.events()
    assert [e.seq for e in events] == list(range(1, 8))
    assert verify_chain(events, key.public_key()) == more.hash


async def test_sync_close_commits_what_is_still_queued(open_outbox: OpenOutbox) -> None:
    outbox: Outbox = open_outbox()
    futures = [outbox.submit("door", {"n": n}) for n in range(20)]
    outbox.close()  # before the writer task has run at all
    await asyncio.sleep(0)  # let the loop run the resolutions close() scheduled
    events = [f.result() for f in futures if f.done() and not f.cancelled()]
    assert [e.seq for e in events] == list(range(1, 21))
    reopened: Outbox = open_outbox()
    assert reopened.head[0] == 20


async def test_flush_waits_for_every_submitted_event(open_outbox: OpenOutbox) -> None:
    outbox: Outbox = open_outbox()
    for n in range(30):
        outbox.submit("tap", {"n": n})
    await outbox.flush()
    assert outbox.head[0] == 30


async def test_payload_that_is_not_json_fails_on_the_caller(open_outbox: OpenOutbox) -> None:
    outbox: Outbox = open_outbox()
    with pytest.raises(ValueError, match="JSON"):
        outbox.submit("tap", {"x": float("nan")})
    with pytest.raises(TypeError):
        outbox.submit("tap", {"x": object()})
    with pytest.raises(ValueError, match="kind"):
        outbox.submit("", {})
    assert (await outbox.append("tap", {})).seq == 1


async def test_the_size_alarm_fires_once_per_crossing_and_recovers(open_outbox: OpenOutbox) -> None:
    outbox: Outbox = open_outbox(Limits(max_pending_count=10, recover_ratio=0.5))
    for n in range(10):
        await outbox.append("tap", {"n": n})
    assert not outbox.alarm_raised
    await outbox.append("tap", {"n": 10})  # 11 > 10
    assert outbox.alarm_raised
    for n in range(11, 40):
        await outbox.append("tap", {"n": n})
    alarms = [e for e in outbox.events() if e.kind == ALARM_KIND]
    assert [(e.seq, e.payload["state"]) for e in alarms] == [(12, "raised")]
    assert alarms[0].payload["is_alarm"] is True
    assert outbox.depth[0] == 41  # nothing dropped: 40 taps and the alarm

    outbox.mark_delivered(30)  # 11 left: still over the recovery mark of 5
    assert outbox.alarm_raised
    outbox.mark_delivered(38)  # 3 left, then the recovery event
    assert not outbox.alarm_raised
    alarms = [e for e in outbox.events() if e.kind == ALARM_KIND]
    assert [e.payload["state"] for e in alarms] == ["raised", "recovered"]
    assert alarms[1].seq == 42

    # A second crossing raises it again, once.
    for n in range(20):
        await outbox.append("tap", {"n": n})
    states = [e.payload["state"] for e in outbox.events() if e.kind == ALARM_KIND]
    assert states == ["raised", "recovered", "raised"]


async def test_the_alarm_state_survives_a_restart(open_outbox: OpenOutbox) -> None:
    limits = Limits(max_pending_count=3)
    outbox: Outbox = open_outbox(limits)
    for n in range(5):
        await outbox.append("tap", {"n": n})
    await outbox.aclose()
    again: Outbox = open_outbox(limits)
    assert again.alarm_raised
    await again.append("tap", {})
    assert [e.payload["state"] for e in again.events() if e.kind == ALARM_KIND] == ["raised"]


async def test_byte_limit_raises_the_alarm_too(open_outbox: OpenOutbox) -> None:
    outbox: Outbox = open_outbox(Limits(max_pending_bytes=2_000))
    await outbox.append("tap", {"blob": "x" * 1_000})
    assert not outbox.alarm_raised
    await outbox.append("tap", {"blob": "x" * 1_000})
    assert outbox.alarm_raised


async def test_pruning_never_touches_undelivered_rows_or_the_head(
    open_outbox: OpenOutbox, clock: FakeClock, key: Ed25519PrivateKey
) -> None:
    outbox: Outbox = open_outbox(Limits(retention=dt.timedelta(days=1)))
    for n in range(10):
        await outbox.append("tap", {"n": n})
    outbox.mark_delivered(seqs=[1, 2, 3, 5])
    clock.advance(hours=12)
    assert outbox.prune() == 0  # delivered, but not yet past the retention
    clock.advance(hours=13)
    assert outbox.prune() == 4
    assert [e.seq for e in outbox.events()] == [4, 6, 7, 8, 9, 10]
    outbox.mark_delivered(10)
    clock.advance(days=2)
    assert outbox.prune() == 5
    assert [e.seq for e in outbox.events()] == [10]  # the head stays: seq comes from it
    await outbox.aclose()
    again: Outbox = open_outbox()
    event = await again.append("tap", {})
    assert event.seq == 11
    verify_chain(again.events(), key.public_key(), prev_hash=None)


async def test_node_listener_keeps_events_but_not_repeat_reads(open_outbox: OpenOutbox) -> None:
    outbox: Outbox = open_outbox()
    listen = outbox.node_listener()
    listen({"event": "tap", "read": "repeat", "uid": "01"})
    listen({"event": "decision", "granted": True, "door": "d1"})
    listen({"event": "door", "door_event": "relay_on", "is_alarm": False})
    await outbox.flush()
    events = outbox.events()
    assert [(e.kind, e.payload) for e in events] == [
        ("decision", {"granted": True, "door": "d1"}),
        ("door", {"door_event": "relay_on", "is_alarm": False}),
    ]


def test_wal_mode_and_synchronous_setting(db_path: Path, open_outbox: OpenOutbox) -> None:
    from gateway.node.outbox import Synchronous

    open_outbox(synchronous=Synchronous.NORMAL).append_sync("tap", {})
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        row = conn.execute("SELECT payload FROM events").fetchone()
        assert json.loads(row[0]) == {}
    finally:
        conn.close()


async def test_node_listener_reports_a_refused_event_instead_of_raising(
    open_outbox: OpenOutbox,
) -> None:
    from structlog.testing import capture_logs

    outbox: Outbox = open_outbox()
    listen = outbox.node_listener()
    with capture_logs() as logs:
        listen({"event": "decision", "blob": object()})
    assert [entry["event"] for entry in logs] == ["outbox_refused"]
    assert outbox.head[0] == 0


async def test_a_database_refuses_another_node_key(open_outbox: OpenOutbox, db_path: Path) -> None:
    from gateway.node.outbox import OutboxKeyMismatch

    outbox: Outbox = open_outbox()
    await outbox.append("tap", {})
    await outbox.aclose()
    with pytest.raises(OutboxKeyMismatch, match="node key"):
        Outbox(db_path, Ed25519PrivateKey.generate())


async def test_sync_close_with_a_group_in_flight_keeps_order_and_answers_everyone(
    open_outbox: OpenOutbox, key: Ed25519PrivateKey
) -> None:
    outbox: Outbox = open_outbox()
    first = [outbox.submit("tap", {"n": n}) for n in range(50)]
    await asyncio.sleep(0)  # the writer takes the group and hands it to its thread
    second = [outbox.submit("tap", {"n": n}) for n in range(50, 60)]
    outbox.close()
    async with asyncio.timeout(5):
        events = await asyncio.gather(*first, *second)
    assert [e.seq for e in events] == list(range(1, 61))
    assert [e.payload["n"] for e in events] == list(range(60))
    reopened: Outbox = open_outbox()
    verify_chain(reopened.events(), key.public_key())
