"""The store contract, run against SQLite and a real PostgreSQL alike."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.central.collector.model import (
    AlarmKind,
    ChainState,
    ClearAlarm,
    EventFilter,
    NewAlarm,
    NodeHealth,
    Presence,
    PresenceChange,
    Severity,
    StoredEvent,
    WriteSet,
)
from gateway.central.collector.store import BadCursor, EventStore
from tests.central.collector.helpers import T0


def ev(seq: int, node: str = "gate-1", **kw: object) -> StoredEvent:
    fields: dict[str, object] = {
        "site": "sejong",
        "node": node,
        "seq": seq,
        "at": T0 + dt.timedelta(minutes=seq),
        "kind": "decision",
        "payload": {"n": seq, "이름": "김민준"},
        "hash": f"{seq:064x}",
        "prev_hash": f"{seq - 1:064x}",
        "sig": "ab" * 64,
        "received_at": T0 + dt.timedelta(minutes=seq, seconds=1),
    }
    fields.update(kw)
    return StoredEvent(**fields)  # type: ignore[arg-type]


async def test_migrate_from_empty_and_again(store: EventStore) -> None:
    assert await store.migrate() == 1
    assert await store.migrate() == 1
    assert await store.count() == 0


async def test_idempotent_on_node_and_seq(store: EventStore) -> None:
    assert await store.write(WriteSet(events=[ev(1), ev(2)])) == 2
    assert await store.write(WriteSet(events=[ev(2), ev(3)])) == 1
    assert await store.write(WriteSet(events=[ev(1, node="gate-2")])) == 1
    assert await store.count() == 4
    assert await store.hashes("gate-1", [1, 2, 9]) == {1: f"{1:064x}", 2: f"{2:064x}"}
    stored = (await store.search(EventFilter(node="gate-1", kind="decision"))).events
    assert [e.seq for e in stored] == [3, 2, 1]
    assert stored[0].payload == {"n": 3, "이름": "김민준"}
    assert stored[0].at == T0 + dt.timedelta(minutes=3)


async def test_search_filters(store: EventStore) -> None:
    rows = [
        ev(1, door="d1", holder_id="kim", granted=True, building="b1", organization_code="1741"),
        ev(2, door="d1", holder_id="lee", granted=False, reason="revoked", building="b1"),
        ev(3, door="d2", holder_id="kim", granted=True, credential_serial="S-9", building="b2"),
        ev(4, kind="door", door="d2", is_alarm=True),
    ]
    await store.write(WriteSet(events=rows))

    async def seqs(**f: object) -> list[int]:
        page = await store.search(EventFilter(**f))  # type: ignore[arg-type]
        return sorted(e.seq for e in page.events)

    assert await seqs(door="d1") == [1, 2]
    assert await seqs(holder_id="kim") == [1, 3]
    assert await seqs(granted=False) == [2]
    assert await seqs(reason="revoked") == [2]
    assert await seqs(building="b2") == [3]
    assert await seqs(credential_serial="S-9") == [3]
    assert await seqs(organization_code="1741") == [1]
    assert await seqs(kind="door") == [4]
    assert await seqs(site="elsewhere") == []
    window = {"since": T0 + dt.timedelta(minutes=2), "until": T0 + dt.timedelta(minutes=4)}
    assert await seqs(**window) == [2, 3]
    assert await store.count(EventFilter(door="d2")) == 2


async def test_pages_walk_everything_once_newest_first(store: EventStore) -> None:
    same_time = T0 + dt.timedelta(hours=1)
    await store.write(
        WriteSet(
            events=[
                ev(i, at=same_time if i > 20 else None or T0 + dt.timedelta(minutes=i))
                for i in range(1, 26)
            ]
        )
    )
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await store.search(EventFilter(), limit=10, cursor=cursor)
        seen += [e.seq for e in page.events]
        pages += 1
        cursor = page.cursor
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == list(range(1, 26))
    assert len(seen) == len(set(seen))
    assert seen[5:] == list(range(20, 0, -1))
    with pytest.raises(BadCursor):
        await store.search(EventFilter(), cursor="not-a-cursor")


async def test_follow_returns_what_came_after(store: EventStore) -> None:
    await store.write(WriteSet(events=[ev(1), ev(2)]))
    start = await store.last_id()
    await store.write(WriteSet(events=[ev(3), ev(4, door="x")]))
    assert [e.seq for e in await store.follow(EventFilter(), start)] == [3, 4]
    assert [e.seq for e in await store.follow(EventFilter(door="x"), start)] == [4]
    assert await store.follow(EventFilter(), await store.last_id()) == []


async def test_alarm_lifecycle(store: EventStore) -> None:
    def forced(at: dt.datetime) -> NewAlarm:
        return NewAlarm(AlarmKind.FORCED_DOOR, Severity.CRITICAL, "forced:gate-1:d1", at,
                        "sejong", "gate-1", "d1", {"seq": 7})  # fmt: skip

    await store.write(WriteSet(alarms=[forced(T0), forced(T0 + dt.timedelta(seconds=5))]))
    [alarm] = await store.alarms()
    assert (alarm.kind, alarm.door, alarm.detail, alarm.open) == (
        AlarmKind.FORCED_DOOR, "d1", {"seq": 7}, True,
    )  # fmt: skip
    assert await store.acknowledge(alarm.id, "guard-kim", "checked, door closed")
    assert not await store.acknowledge(alarm.id, "guard-lee")
    assert not await store.acknowledge(999_999, "guard-lee")
    assert await store.alarms() == []
    [acked] = await store.alarms(open_only=False)
    assert (acked.acknowledged_by, acked.comment) == ("guard-kim", "checked, door closed")
    await store.write(WriteSet(alarms=[forced(T0 + dt.timedelta(minutes=1))]))
    assert len(await store.alarms()) == 1  # a new occurrence after the acknowledgement
    await store.write(
        WriteSet(alarms=[ClearAlarm("forced:gate-1:d1", T0 + dt.timedelta(minutes=2))])
    )
    assert await store.alarms() == []
    assert all(a.cleared_at is not None for a in await store.alarms(open_only=False))


async def test_presence_enter_and_leave(store: EventStore) -> None:
    def p(holder: str, building: str, minute: int) -> Presence:
        return Presence(
            building, holder, "lobby", "d1", "gate-1", T0 + dt.timedelta(minutes=minute)
        )

    await store.write(WriteSet(presence=[
        PresenceChange("enter", p("kim", "b1", 1)),
        PresenceChange("enter", p("lee", "b1", 2)),
        PresenceChange("enter", p("kim", "b2", 3)),
        PresenceChange("leave", p("lee", "b1", 4)),
    ]))  # fmt: skip
    assert [x.holder_id for x in await store.inside("b1")] == ["kim"]
    assert [(x.building, x.holder_id) for x in await store.inside()] == [
        ("b1", "kim"),
        ("b2", "kim"),
    ]
    assert (await store.inside("b1"))[0].since == T0 + dt.timedelta(minutes=1)


async def test_nodes_merge_partial_updates_and_chain_state(store: EventStore) -> None:
    await store.write(
        WriteSet(nodes={"gate-1": NodeHealth("gate-1", "sejong", online=True, availability_at=T0)})
    )
    beat = {"software_version": "1.2.0", "outbox": {"depth": 3}}
    health = NodeHealth("gate-1", "sejong", last_heartbeat_at=T0, heartbeat=beat, last_seq=5)
    chain = ChainState("gate-1", 5, "ab" * 32, [(7, 9)])
    await store.write(WriteSet(nodes={"gate-1": health}, chains={"gate-1": chain}))
    [node] = await store.nodes()
    assert (node.online, node.heartbeat, node.last_seq) == (True, beat, 5)
    assert await store.chain("gate-1") == ChainState("gate-1", 5, "ab" * 32, [(7, 9)])
    assert await store.chain("gate-2") is None


async def test_purge_keeps_open_alarms(store: EventStore) -> None:
    await store.write(WriteSet(
        events=[ev(1), ev(2), ev(300)],
        alarms=[
            NewAlarm(AlarmKind.TAMPER, Severity.CRITICAL, "open-one", T0, "sejong", "gate-1"),
            NewAlarm(AlarmKind.TAMPER, Severity.CRITICAL, "acked-one", T0, "sejong", "gate-1"),
        ],
    ))  # fmt: skip
    acked = next(a for a in await store.alarms() if a.key == "acked-one")
    await store.acknowledge(acked.id, "guard")
    assert await store.purge(T0 + dt.timedelta(minutes=10)) == 2
    assert [e.seq for e in (await store.search(EventFilter())).events] == [300]
    assert [a.key for a in await store.alarms(open_only=False)] == ["open-one"]
