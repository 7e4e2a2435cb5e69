"""Accepted commands at a door on MockFactory pins and a FakeClock: what it does, who it names."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.mqtt.payloads import Relock, Resync, Unlock
from gateway.node.commands import (
    EVENT_KIND,
    Accepted,
    CommandOutcome,
    Refused,
    RemoteDoor,
    refused_outcome,
    run_command,
)
from gateway.node.door import AsyncDoor, DoorController, DoorEvent, DoorEventKind, DoorState
from gateway.node.door.controller import RemoteRefusal
from tests.node.commands.kit import GUARD_KEY, NODE, NOW, SITE, command, gate, signed
from tests.node.door.rig import Rig, rig

K = DoorEventKind


def accept(tmp_path: Path, data: bytes) -> Accepted:
    verdict = gate(tmp_path).check(data, retained=False, now=NOW)
    assert isinstance(verdict, Accepted), verdict
    return verdict


def run(accepted: Accepted, door: RemoteDoor, door_id: str = "b6-in") -> CommandOutcome:
    return run_command(accepted, {door_id: door}, site=SITE, node=NODE, now=NOW)


def test_a_remote_unlock_for_7_s_relocks_at_7_s_and_the_events_say_who(tmp_path: Path) -> None:
    door = rig(unlock_time_s=5.0)
    cmd = command(Unlock(door="b6-in", seconds=7))
    outcome = run_command(
        accept(tmp_path, signed(cmd)), {"b6-in": door.controller}, site=SITE, node=NODE, now=NOW
    )
    assert outcome.result is not None
    assert (outcome.result.outcome, outcome.result.reason) == ("done", None)
    assert outcome.result.command_id == cmd.id
    assert outcome.event == {
        "operator": "soc-1", "action": "unlock", "door": "b6-in", "seconds": 7, "what": None,
        "outcome": "done", "reason": None, "detail": None, "command_id": cmd.id,
        "is_alarm": False,
    }  # fmt: skip
    assert EVENT_KIND == "command"
    assert not door.locked
    door.advance(6.99)
    assert not door.locked
    door.advance(0.01)
    assert door.locked
    unlocked, relocked = door.events[0], door.events[-1]
    assert unlocked.kind is K.REMOTE_UNLOCK
    assert dict(unlocked.detail) == {"operator": "soc-1", "command_id": cmd.id, "seconds": "7"}
    assert relocked.kind is K.RELOCKED
    assert dict(relocked.detail) == {
        "reason": "remote unlock ended",
        "operator": "soc-1",
        "command_id": cmd.id,
    }


def test_relock_cancels_an_unlock(tmp_path: Path) -> None:
    door = rig()
    run(accept(tmp_path, signed(command(Unlock(door="b6-in", seconds=300)))), door.controller)
    assert not door.locked
    relock = signed(command(Relock(door="b6-in")), GUARD_KEY, "guard-2")
    outcome = run(accept(tmp_path, relock), door.controller)
    assert outcome.event["outcome"] == "done"
    assert door.locked
    assert door.controller.next_deadline() is None
    assert door.events[-1].detail["operator"] == "guard-2"


def test_an_unlock_in_lockdown_is_refused_with_the_reason(tmp_path: Path) -> None:
    door = rig()
    door.controller.set_lockdown(True, "intruder")
    result = run(accept(tmp_path, signed()), door.controller).result
    assert result is not None
    assert (result.outcome, result.reason) == ("refused", "lockdown")
    assert door.locked


def test_resync_names_the_documents_to_request_again(tmp_path: Path) -> None:
    door = rig()
    what = Resync(what=["policy", "status_list", "policy"])
    outcome = run_command(
        accept(tmp_path, signed(command(what))), {"b6-in": door.controller},
        site=SITE, node=NODE, now=NOW,
    )  # fmt: skip
    assert outcome.resync == ("policy", "status_list")
    assert outcome.event["what"] == ["policy", "status_list"]
    assert door.events == []


class BrokenDoor:
    def remote_unlock(
        self, seconds: float, *, operator: str, command_id: str
    ) -> RemoteRefusal | None:
        raise OSError("relay driver gone")

    def remote_relock(self, *, operator: str, command_id: str) -> RemoteRefusal | None:
        raise OSError("relay driver gone")


def test_a_door_that_fails_is_reported_failed_never_done(tmp_path: Path) -> None:
    outcome = run(accept(tmp_path, signed()), BrokenDoor())
    assert outcome.outcome == "failed"
    assert outcome.event["detail"] == "OSError: relay driver gone"


def test_a_door_the_node_does_not_drive_fails(tmp_path: Path) -> None:
    outcome = run(accept(tmp_path, signed()), BrokenDoor(), door_id="b6-out")
    assert (outcome.outcome, outcome.event["reason"]) == ("failed", "unknown_door")


def test_a_refusal_after_the_signature_has_a_result_one_before_has_not(tmp_path: Path) -> None:
    g = gate(tmp_path)
    late = g.check(signed(), retained=False, now=NOW.replace(hour=10))
    assert isinstance(late, Refused)
    outcome = refused_outcome(late, site=SITE, node=NODE, now=NOW)
    assert outcome.result is not None
    assert (outcome.result.outcome, outcome.result.reason) == ("refused", "expired")
    assert outcome.event["action"] == "unlock"
    assert outcome.event["seconds"] == 7

    forged = g.check(signed(operator="nobody"), retained=False, now=NOW)
    assert isinstance(forged, Refused)
    outcome = refused_outcome(forged, site=SITE, node=NODE, now=NOW, payload_size=300)
    assert outcome.result is None
    assert outcome.event["is_alarm"] is True
    assert outcome.event["command_id"] is None


async def test_through_the_asyncio_door_the_timer_fires_at_the_window_end(tmp_path: Path) -> None:
    door_rig = Rig()
    recorded: list[DoorEventKind] = []
    ended = asyncio.Event()

    def sink(event: DoorEvent) -> None:
        recorded.append(event.kind)
        if event.kind is K.RELOCKED:
            ended.set()

    loop = asyncio.get_running_loop()

    class LoopClock:
        def now(self) -> float:
            return loop.time()

    controller = DoorController(door_rig.config, door_rig.devices, LoopClock(), sink)
    door = await AsyncDoor.start(controller)
    cmd = command(Unlock(door="b6-in", seconds=1))
    run(accept(tmp_path, signed(cmd)), door)
    assert door.timer_delay is not None
    assert 0.9 < door.timer_delay <= 1.0
    assert controller.state is DoorState.UNLOCKED_FOR_GRANT
    async with asyncio.timeout(5):
        await ended.wait()
    assert door_rig.locked
    assert recorded == [K.REMOTE_UNLOCK, K.RELOCKED]
    door.close()
