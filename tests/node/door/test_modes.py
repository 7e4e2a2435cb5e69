"""Fire release, lockdown and shutdown, on MockFactory pins with a fake clock."""

from __future__ import annotations

from gateway.node.door import DoorEventKind, DoorState, LockType, LockWiring
from tests.node.door.rig import MAGLOCK, STRIKE, Rig, rig

K = DoorEventKind


# -- fire (rule 24 ①: egress doors release) -------------------------------------------
def test_fire_releases_an_egress_door_and_it_stays_released_until_reset() -> None:
    door = rig()
    door.fire_alarm()
    assert door.controller.state is DoorState.RELEASED_FIRE
    assert not door.locked
    assert door.lights == (False, True, False)
    door.open_door()
    door.advance(3600.0)  # no held-open alarm while released
    door.close_door()
    door.fire_clear()
    assert door.controller.state is DoorState.RELEASED_FIRE  # the input clearing is not a reset
    assert not door.locked
    assert door.kinds() == [K.FIRE_RELEASE, K.DOOR_OPENED, K.DOOR_CLOSED, K.FIRE_INPUT_CLEARED]
    assert door.controller.reset_fire()
    assert door.controller.state is DoorState.LOCKED
    assert door.locked
    assert door.lights == (True, False, False)
    assert door.kinds() == [K.FIRE_RESET, K.RELOCKED]


def test_fire_reset_is_refused_while_the_fire_input_is_in_alarm() -> None:
    door = rig()
    door.fire_alarm()
    assert not door.controller.reset_fire()
    assert not door.locked
    assert door.kinds() == [K.FIRE_RELEASE, K.FIRE_RESET_REFUSED]


def test_fire_reset_with_the_door_open_restarts_the_held_open_timer() -> None:
    door = rig()
    door.fire_alarm()
    door.open_door()
    door.fire_clear()
    door.advance(100.0)
    door.controller.reset_fire()
    assert door.controller.state is DoorState.OPEN
    assert door.controller.next_deadline() == door.clock.now() + 20.0
    door.close_door()
    assert door.locked


def test_fire_does_not_release_a_door_that_is_not_egress() -> None:
    door = rig(egress=False)
    door.fire_alarm()
    assert door.locked
    assert door.controller.state is DoorState.LOCKED
    assert door.events[0].kind is K.FIRE_RELEASE
    assert dict(door.events[0].detail) == {"released": "false", "reason": "not an egress door"}


def test_fire_clears_a_held_open_alarm_and_refuses_grants() -> None:
    door = rig()
    door.controller.grant()
    door.open_door()
    door.advance(30.0)
    door.kinds()
    door.fire_alarm()
    assert door.kinds() == [K.ALARM_CLEARED, K.FIRE_RELEASE]
    assert not door.lights[2]
    assert not door.controller.grant()
    assert door.events[0].detail["reason"] == "fire"


def test_fire_voids_an_open_unlock_window() -> None:
    door = rig()
    door.controller.grant()
    door.fire_alarm()
    door.controller.set_lockdown(True)  # no relock event while the fire latch holds
    door.fire_clear()
    door.controller.reset_fire()
    assert door.locked
    assert door.kinds() == [
        K.GRANTED,
        K.FIRE_RELEASE,
        K.LOCKDOWN_ON,
        K.FIRE_INPUT_CLEARED,
        K.FIRE_RESET,
        K.RELOCKED,
    ]
    assert door.controller.state is DoorState.LOCKDOWN


def test_fire_overrides_lockdown() -> None:
    door = rig()
    door.controller.set_lockdown(True)
    door.fire_alarm()
    assert door.controller.state is DoorState.RELEASED_FIRE
    assert not door.locked


def test_booting_with_the_fire_input_in_alarm_releases() -> None:
    door = Rig()
    door.fire_alarm()
    door.start()
    assert door.controller.state is DoorState.RELEASED_FIRE
    assert not door.locked


# -- lockdown -----------------------------------------------------------------------
def test_lockdown_refuses_grants_and_rex_still_lets_people_out() -> None:
    door = rig()
    door.controller.set_lockdown(True, reason="intruder")
    assert door.controller.state is DoorState.LOCKDOWN
    assert not door.controller.grant("kim")
    assert door.locked
    door.press_rex()
    assert not door.locked
    door.open_door()
    door.close_door()
    assert door.controller.state is DoorState.LOCKDOWN
    assert door.kinds() == [
        K.LOCKDOWN_ON,
        K.GRANT_REFUSED,
        K.REX,
        K.DOOR_OPENED,
        K.DOOR_CLOSED,
        K.RELOCKED,
    ]


def test_lockdown_ignores_rex_on_a_door_configured_so() -> None:
    door = rig(rex_in_lockdown=False)
    door.controller.set_lockdown(True)
    door.press_rex()
    assert door.locked
    assert door.kinds() == [K.LOCKDOWN_ON, K.REX_REFUSED]


def test_lockdown_cancels_an_open_unlock_window_and_lifting_it_allows_grants() -> None:
    door = rig()
    door.controller.grant()
    door.controller.set_lockdown(True)
    assert door.locked
    door.controller.set_lockdown(True)  # idempotent
    door.controller.set_lockdown(False)
    assert door.controller.grant()
    assert door.kinds() == [K.GRANTED, K.LOCKDOWN_ON, K.RELOCKED, K.LOCKDOWN_OFF, K.GRANTED]


# -- shutdown -----------------------------------------------------------------------
def test_shutdown_leaves_a_fail_secure_strike_locked() -> None:
    door = rig(wiring=STRIKE)
    door.controller.grant()
    door.controller.relock_for_shutdown()
    assert door.locked
    assert door.lights == (True, False, False)
    assert dict(door.events[-1].detail) == {"locked": "true", "when_node_stops": "locked"}


def test_shutdown_leaves_a_fail_safe_maglock_released() -> None:
    door = rig(wiring=MAGLOCK)
    assert door.locked
    assert door.relay_level  # a maglock on NO, active high: coil on to hold
    door.controller.relock_for_shutdown()
    assert not door.locked
    assert door.events[-1].kind is K.SHUTDOWN
    assert dict(door.events[-1].detail) == {"locked": "false", "when_node_stops": "unlocked"}


def test_shutdown_state_can_be_configured() -> None:
    wiring = LockWiring(LockType.FAIL_SAFE, relay_active_high=False, relay_contact="NC")
    door = rig(wiring=wiring, shutdown_locked=True)
    door.controller.relock_for_shutdown()
    assert door.locked
    assert door.events[-1].detail["when_node_stops"] == "locked"


def test_after_shutdown_the_door_ignores_inputs_and_grants() -> None:
    door = rig()
    door.controller.relock_for_shutdown()
    door.kinds()
    door.open_door()
    door.advance(100.0)
    assert not door.controller.grant()
    door.controller.set_lockdown(True)
    assert door.locked
    assert door.kinds() == [K.GRANT_REFUSED]
