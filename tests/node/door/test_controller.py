"""Door transitions and alarms, driven through MockFactory pins with a fake clock. No sleeps."""

from __future__ import annotations

import pytest

from gateway.node.door import DoorConfig, DoorEventKind, DoorInput, DoorState
from tests.node.door.rig import STRIKE, Rig, rig

K = DoorEventKind
RED_ONLY = (True, False, False)
GREEN_ONLY = (False, True, False)


def test_starts_locked_and_quiet() -> None:
    door = rig()
    assert door.controller.state is DoorState.LOCKED
    assert door.locked
    assert door.lights == RED_ONLY
    assert door.kinds() == []
    assert door.controller.next_deadline() is None


def test_grant_unlocks_for_the_unlock_time() -> None:
    door = rig(unlock_time_s=5.0)
    assert door.controller.grant("kim")
    assert door.controller.state is DoorState.UNLOCKED_FOR_GRANT
    assert not door.locked
    assert door.lights == GREEN_ONLY
    event = door.events[0]
    assert (event.kind, event.door_id, event.at, dict(event.detail)) == (
        K.GRANTED,
        "B1-east",
        1000.0,
        {"subject": "kim"},
    )
    assert door.controller.next_deadline() == 1005.0


def test_unused_grant_relocks_when_the_unlock_time_passes() -> None:
    door = rig(unlock_time_s=5.0)
    door.controller.grant()
    door.kinds()
    door.advance(4.9)
    assert not door.locked
    door.advance(0.1)
    assert door.locked
    assert door.controller.state is DoorState.LOCKED
    assert door.lights == RED_ONLY
    assert door.kinds() == [K.RELOCKED]
    assert door.events == []


def test_second_grant_restarts_the_unlock_time() -> None:
    door = rig(unlock_time_s=5.0)
    door.controller.grant()
    door.advance(4.0)
    door.controller.grant()
    door.advance(4.0)
    assert not door.locked


def test_door_opened_on_grant_then_relocks_on_close() -> None:
    door = rig()
    door.controller.grant()
    door.open_door()
    assert door.controller.state is DoorState.OPEN
    assert not door.locked  # the lock stays released until the door is shut
    door.advance(10.0)  # past the unlock time: an open door is not relocked
    assert door.controller.state is DoorState.OPEN
    door.close_door()
    assert door.controller.state is DoorState.LOCKED
    assert door.locked
    assert door.lights == RED_ONLY
    assert door.kinds() == [K.GRANTED, K.DOOR_OPENED, K.DOOR_CLOSED, K.RELOCKED]
    assert door.controller.next_deadline() is None


def test_held_open_warns_then_alarms_then_clears_on_close() -> None:
    door = rig(held_open_warning_s=20.0, held_open_limit_s=30.0)
    door.controller.grant()
    door.open_door()
    door.kinds()
    door.advance(19.9)
    assert door.lights == GREEN_ONLY
    door.advance(0.1)
    assert door.kinds() == [K.HELD_OPEN_WARNING]
    assert door.lights == (False, True, True)  # pre-alarm buzzer
    assert door.controller.state is DoorState.OPEN
    door.advance(10.0)
    assert door.controller.state is DoorState.HELD_OPEN
    assert door.events[0].detail["limit_s"] == "30.0"
    assert door.kinds() == [K.HELD_OPEN_ALARM]
    assert door.events == []
    assert door.lights[2]
    door.close_door()
    assert door.kinds() == [K.DOOR_CLOSED, K.ALARM_CLEARED, K.RELOCKED]
    assert door.locked
    assert door.lights == RED_ONLY


def test_held_open_alarm_fires_once_even_with_a_late_tick() -> None:
    door = rig()
    door.controller.grant()
    door.open_door()
    door.kinds()
    door.advance(100.0)
    door.advance(100.0)
    assert door.kinds() == [K.HELD_OPEN_WARNING, K.HELD_OPEN_ALARM]


def test_forced_open_alarms_and_clears_on_close() -> None:
    door = rig()
    door.open_door()
    assert door.controller.state is DoorState.FORCED
    assert door.locked  # nothing unlocks a forced door
    assert door.lights == (True, False, True)
    door.close_door()
    assert door.controller.state is DoorState.LOCKED
    assert door.lights == RED_ONLY
    kinds = door.kinds()
    assert kinds == [K.DOOR_OPENED, K.FORCED_ALARM, K.DOOR_CLOSED, K.ALARM_CLEARED]


def test_opening_after_the_unlock_time_is_forced() -> None:
    door = rig(unlock_time_s=5.0)
    door.controller.grant()
    door.advance(5.0)
    door.open_door()
    assert door.controller.state is DoorState.FORCED


def test_rex_releases_the_door_and_opening_is_not_forced() -> None:
    door = rig(unlock_time_s=5.0)
    door.press_rex()
    assert door.controller.state is DoorState.UNLOCKED_FOR_GRANT
    assert not door.locked
    door.open_door()
    door.close_door()
    assert door.kinds() == [K.REX, K.DOOR_OPENED, K.DOOR_CLOSED, K.RELOCKED]
    assert door.locked


def test_rex_unused_relocks_after_the_unlock_time() -> None:
    door = rig(unlock_time_s=5.0)
    door.press_rex()
    door.advance(5.0)
    assert door.locked
    assert door.kinds() == [K.REX, K.RELOCKED]


def test_rex_while_open_changes_nothing() -> None:
    door = rig()
    door.controller.grant()
    door.open_door()
    door.press_rex()
    assert door.controller.state is DoorState.OPEN


def test_tamper_alarms_beside_the_door_state_and_clears() -> None:
    door = rig()
    door.trip_tamper()
    assert door.controller.tamper
    assert door.controller.state is DoorState.LOCKED
    assert door.lights == (True, False, True)
    door.controller.grant()  # the door still works
    assert not door.locked
    door.restore_tamper()
    assert not door.controller.tamper
    assert door.lights == GREEN_ONLY
    events = list(door.events)
    assert [e.kind for e in events] == [K.TAMPER_ALARM, K.GRANTED, K.ALARM_CLEARED]
    assert events[2].detail["alarm"] == "tamper_alarm"


def test_a_repeated_edge_changes_nothing() -> None:
    door = rig()
    door.open_door()
    door.controller.handle_input(DoorInput.CONTACT, True)
    assert door.kinds() == [K.DOOR_OPENED, K.FORCED_ALARM]


def test_booting_with_the_door_open_starts_the_held_open_timer() -> None:
    door = Rig()
    door.open_door()
    door.start()
    assert door.controller.state is DoorState.OPEN
    assert door.controller.next_deadline() == 1020.0
    assert door.kinds() == [K.DOOR_OPENED]


def test_door_without_contact_relocks_on_time_only() -> None:
    from tests.node.door.rig import PINS, without

    door = Rig(pins=without(PINS, contact=None), unlock_time_s=3.0).start()
    door.controller.grant()
    door.advance(3.0)
    assert door.locked


def test_held_open_warning_must_come_before_the_limit() -> None:
    with pytest.raises(ValueError, match=r"held_open_warning_s .* must be less than"):
        DoorConfig("d", STRIKE, held_open_warning_s=30.0, held_open_limit_s=30.0)
    with pytest.raises(ValueError, match="unlock_time_s must be positive"):
        DoorConfig("d", STRIKE, unlock_time_s=0)
    with pytest.raises(ValueError, match="door_id"):
        DoorConfig("", STRIKE)
