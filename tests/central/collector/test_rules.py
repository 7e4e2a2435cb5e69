"""Alarm rules and presence, fed through the ingest path with hand-set times (no sleeps)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from gateway.central.collector.alarms import AlarmRules
from gateway.central.collector.config import AlarmSection, Site
from gateway.central.collector.ingest import Incoming, Ingest
from gateway.central.collector.model import AlarmKind, ClearAlarm, NewAlarm
from gateway.central.collector.store import EventStore, SqliteStore
from gateway.mqtt.payloads import Heartbeat
from gateway.mqtt.topics import topic_for
from tests.central.collector.helpers import T0, FakeNode, loaded_for


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


async def run(tmp_path: Path, build: Callable[[FakeNode], None]) -> tuple[EventStore, Ingest]:
    node = FakeNode("sejong", "gate-1")
    store = SqliteStore(tmp_path / "s.sqlite")
    await store.migrate()
    ingest = Ingest(loaded_for(tmp_path, [node]), store)
    build(node)
    changes, _ = await ingest.process([node.message(node.events)])
    await store.write(changes)
    return store, ingest


async def kinds(store: EventStore) -> list[AlarmKind]:
    return sorted(a.kind for a in await store.alarms())


async def test_door_alarms_and_their_clearing(tmp_path: Path) -> None:
    def build(n: FakeNode) -> None:
        n.append("door", {"door_event": "forced_alarm", "door": "d1", "is_alarm": True})
        n.append("door", {"door_event": "tamper_alarm", "door": "d1", "is_alarm": True})
        n.append("door", {"door_event": "held_open_alarm", "door": "d2", "is_alarm": True})
        n.append("door", {"door_event": "alarm_cleared", "door": "d2", "is_alarm": False,
                          "alarm": "held_open_alarm"})  # fmt: skip
        n.append("door", {"door_event": "door_opened", "door": "d3", "is_alarm": False})

    store, _ = await run(tmp_path, build)
    assert await kinds(store) == [AlarmKind.FORCED_DOOR, AlarmKind.TAMPER]
    held = [a for a in await store.alarms(open_only=False) if a.kind is AlarmKind.HELD_OPEN]
    assert len(held) == 1
    assert held[0].cleared_at is not None
    await store.close()


async def test_denial_burst_at_one_door_only(tmp_path: Path) -> None:
    def build(n: FakeNode) -> None:
        for s in (0, 10, 20):  # three at d1 within 60 s: a burst (count = 3 in the config)
            n.append("decision", {"granted": False, "door": "d1", "reason": "revoked"}, at(s))
        for s in (0, 100, 200):  # three at d2, spread out: no burst
            n.append("decision", {"granted": False, "door": "d2"}, at(300 + s))

    store, _ = await run(tmp_path, build)
    [burst] = await store.alarms()
    assert (burst.kind, burst.door, burst.detail["denials"]) == (AlarmKind.DENIAL_BURST, "d1", 3)
    await store.close()


async def test_impossible_travel_between_buildings(tmp_path: Path) -> None:
    grant = {"granted": True, "holder_id": "kim", "credential_serial": "S-1"}

    def build(n: FakeNode) -> None:  # b1 and b2 are about 1.1 km apart
        n.append("decision", {**grant, "door": "d1", "zone": "lobby"}, at(0))
        n.append("decision", {**grant, "door": "d9", "zone": "annex"}, at(60))  # 1.1 km in 60 s
        n.append("decision", {**grant, "door": "d1", "zone": "lobby"}, at(60 + 1200))  # 20 min

    store, _ = await run(tmp_path, build)
    [travel] = await store.alarms()
    assert travel.kind is AlarmKind.IMPOSSIBLE_TRAVEL
    assert (travel.detail["from_building"], travel.detail["to_building"]) == ("b1", "b2")
    assert 1000 < travel.detail["meters"] < 1200
    await store.close()


async def test_presence_from_passages(tmp_path: Path) -> None:
    def build(n: FakeNode) -> None:
        enter = {"granted": True, "door": "d1", "zone": "lobby", "direction": "entry"}
        n.append("decision", {**enter, "holder_id": "kim", "organization_code": "1741000"})
        n.append("passage", {"holder_id": "kim", "zone": "lobby"})
        n.append("decision", {**enter, "holder_id": "lee"})
        n.append("passage", {"holder_id": "lee", "zone": "lobby"})
        n.append("decision", {**enter, "holder_id": "lee", "zone": "office"})
        n.append("passage", {"holder_id": "lee", "zone": "office"})
        n.append("decision", {**enter, "holder_id": "lee", "zone": "office", "direction": "exit"})
        n.append("passage", {"holder_id": "lee", "zone": "office"})  # back to the lobby
        n.append("decision", {**enter, "holder_id": "kim", "direction": "exit"})
        n.append("passage", {"holder_id": "kim", "zone": "lobby"})  # out of b1
        n.append("decision", {**enter, "holder_id": "park"})  # granted, never went through

    store, ingest = await run(tmp_path, build)
    inside = await store.inside("b1")
    assert [(p.holder_id, p.zone) for p in inside] == [("lee", "lobby")]
    assert await store.inside("b2") == []
    assert ingest.presence.unplaced == 0
    await store.close()


async def test_node_health_from_availability_and_heartbeats(tmp_path: Path) -> None:
    node = FakeNode("sejong", "gate-1")
    store = SqliteStore(tmp_path / "s.sqlite")
    await store.migrate()
    ingest = Ingest(loaded_for(tmp_path, [node]), store)
    avail = topic_for("availability", site="sejong", node="gate-1")
    synced = {"version": 3, "age_s": 10.0, "stale": False}
    beat = {
        "site": "sejong", "node": "gate-1", "ts": "2026-03-02T08:50:00Z",
        "software_version": "1.4.2", "uptime_s": 5.0,
        "status_lists": {"civil": {**synced, "stale": True}}, "policy": synced, "posture": synced,
        "outbox": {"depth": 2, "oldest_age_s": 1.0, "limit": 1000, "last_seq": 9},
        "readers": [], "doors": [],
    }  # fmt: skip
    heartbeat = Heartbeat.model_validate(beat).model_dump_json().encode()
    hb_topic = topic_for("heartbeat", site="sejong", node="gate-1")
    changes, _ = await ingest.process([
        Incoming(avail, b"offline", at(0)), Incoming(hb_topic, heartbeat, at(1))
    ])  # fmt: skip
    await store.write(changes)
    assert await kinds(store) == [AlarmKind.NODE_OFFLINE, AlarmKind.STALE_STATUS]
    changes, _ = await ingest.process([Incoming(avail, b"online", at(2))])
    await store.write(changes)
    assert await kinds(store) == [AlarmKind.STALE_STATUS]
    [health] = await store.nodes()
    assert health.online is True
    assert health.heartbeat is not None
    assert health.heartbeat["software_version"] == "1.4.2"
    assert health.heartbeat["outbox"]["depth"] == 2
    await store.close()


def test_heartbeat_silence_raises_offline_once_and_a_beat_clears_it() -> None:
    rules = AlarmRules(
        AlarmSection(heartbeat_interval_s=30, offline_after_missed=3), Site({}, {}, {}, {})
    )
    synced = {"version": 1, "age_s": 1.0, "stale": False}
    beat = Heartbeat.model_validate({
        "site": "s", "node": "n", "ts": "2026-03-02T08:50:00Z", "software_version": "1",
        "uptime_s": 1, "status_lists": {}, "policy": synced, "posture": synced,
        "outbox": {"depth": 0, "oldest_age_s": None, "limit": 10, "last_seq": 0},
        "readers": [], "doors": [],
    })  # fmt: skip
    rules.on_heartbeat(beat, at(0))
    assert rules.check_heartbeats(at(89)) == []
    [offline] = rules.check_heartbeats(at(91))
    assert isinstance(offline, NewAlarm)
    assert offline.kind is AlarmKind.NODE_OFFLINE
    assert rules.check_heartbeats(at(200)) == []
    assert ClearAlarm("node_offline:n", at(201)) in rules.on_heartbeat(beat, at(201))
