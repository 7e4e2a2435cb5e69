"""Remote unlock and relock (signed operator commands) on the door state machine."""

from __future__ import annotations

from gateway.node.door import DoorEventKind, DoorState
from tests.node.door.rig import Rig, rig

K = DoorEventKind
WHO = {"operator": "soc-1", "command_id": "c" * 22}


def test_a_remote_unlock_holds_for_its_seconds_and_names_who() -> None:
    door = rig(unlock_time_s=5.0)
    assert door.controller.remote_unlock(7, **WHO) is None
    assert not door.locked
    assert door.controller.next_deadline() == door.clock.now() + 7
    door.advance(6.9)
    assert not door.locked
    door.advance(0.1)
    assert door.locked
    start, end = door.events[0], door.events[-1]
    assert (start.kind, dict(start.detail)) == (K.REMOTE_UNLOCK, {**WHO, "seconds": "7"})
    assert end.kind is K.RELOCKED
    assert dict(end.detail) == {"reason": "remote unlock ended", **WHO}


def test_the_window_outlasts_each_opening() -> None:
    door = rig(unlock_time_s=5.0)
    door.controller.remote_unlock(60, **WHO)
    for _ in range(3):
        door.open_door()
        door.advance(1)
        door.close_door()
        assert not door.locked  # still inside the window
    assert K.FORCED_ALARM not in door.kinds()
    door.advance(60)
    assert door.locked


def test_a_door_open_inside_the_window_is_timed_from_its_end() -> None:
    door = rig(held_open_warning_s=20.0, held_open_limit_s=30.0)
    door.controller.remote_unlock(100, **WHO)
    door.open_door()
    door.advance(110)  # 110 s open, but only 10 s past the window
    assert K.HELD_OPEN_WARNING not in door.kinds()
    door.advance(10)
    assert door.kinds() == [K.HELD_OPEN_WARNING]
    door.close_door()
    assert door.locked  # the window is over: closing relocks


def test_relock_ends_a_remote_window_at_once() -> None:
    door = rig()
    door.controller.remote_unlock(300, **WHO)
    door.kinds()
    assert door.controller.remote_relock(**WHO) is None
    assert door.locked
    assert door.kinds() == [K.REMOTE_RELOCK, K.RELOCKED]
    assert door.controller.next_deadline() is None


def test_relock_ends_a_grant_window_too() -> None:
    door = rig(unlock_time_s=5.0)
    assert door.controller.grant("kim")
    assert door.controller.remote_relock(**WHO) is None
    assert door.locked
    assert door.events[-1].detail["reason"] == "remote relock"


def test_relock_of_an_open_door_locks_it_when_it_shuts_and_restarts_its_timers() -> None:
    door = rig(held_open_warning_s=20.0, held_open_limit_s=30.0)
    door.controller.remote_unlock(300, **WHO)
    door.open_door()
    door.advance(5)
    door.controller.remote_relock(**WHO)
    assert door.controller.state is DoorState.OPEN
    door.advance(20)  # timed from the relock, not from the window's end
    assert K.HELD_OPEN_WARNING in door.kinds()
    door.close_door()
    assert door.locked


def test_a_grant_never_shortens_the_window_nor_the_window_a_grant() -> None:
    door = rig(unlock_time_s=5.0)
    door.controller.remote_unlock(30, **WHO)
    door.advance(10)
    door.controller.grant("kim")
    door.advance(19)
    assert not door.locked
    door.advance(1)
    assert door.locked
    assert door.events[-1].detail["reason"] == "remote unlock ended"

    door = rig(unlock_time_s=5.0)
    door.controller.grant("kim")
    door.controller.remote_unlock(1, **WHO)
    door.advance(4.9)
    assert not door.locked
    door.advance(0.1)
    assert door.locked
    assert door.events[-1].detail["reason"] == "unlock time passed"


def test_lockdown_refuses_a_remote_unlock_and_ends_a_window() -> None:
    door = rig()
    door.controller.remote_unlock(60, **WHO)
    door.controller.set_lockdown(True, "intruder")
    assert door.locked
    assert door.controller.remote_unlock(60, **WHO) == "lockdown"
    assert door.locked
    assert door.events[-1].kind is K.REMOTE_UNLOCK_REFUSED
    assert door.events[-1].detail["reason"] == "lockdown"
    door.controller.set_lockdown(False)
    assert door.locked  # the ended window does not come back
    assert door.controller.remote_relock(**WHO) is None  # relock is harmless in lockdown


def test_fire_keeps_egress_released_whatever_the_operator_says() -> None:
    door = rig()
    door.controller.remote_unlock(60, **WHO)
    door.fire_alarm()
    assert not door.locked
    assert door.controller.remote_relock(**WHO) == "fire"
    assert door.controller.remote_unlock(10, **WHO) == "fire"
    assert not door.locked
    door.fire_clear()
    assert door.controller.reset_fire()
    assert door.locked  # the fire ended the window


def test_a_remote_unlock_lets_a_turnstile_pass_freely_for_its_seconds() -> None:
    door = Rig(mode="turnstile", unlock_time_s=5.0).start()
    door.controller.remote_unlock(20, **WHO)
    for _ in range(3):
        door.pass_through()
    passages = [e.detail["authorised"] for e in door.events if e.kind is K.PASSAGE]
    assert passages == ["true"] * 3
    door.advance(20)
    assert door.locked
    door.pass_through()
    assert K.FORCED_ALARM in door.kinds()  # past the window a passage is unauthorised again


def test_after_shutdown_nothing_remote_happens() -> None:
    door = rig()
    door.controller.relock_for_shutdown()
    assert door.controller.remote_unlock(5, **WHO) == "shut_down"
    assert door.locked
