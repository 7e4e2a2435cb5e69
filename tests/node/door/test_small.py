"""The small pieces: clocks, event records, config checks, the relay read-back."""

from __future__ import annotations

import pytest

from gateway.node.door import (
    DoorConfig,
    DoorEvent,
    DoorEventKind,
    FakeClock,
    MonotonicClock,
    RelayMismatchError,
)
from tests.node.door.rig import STRIKE, rig

K = DoorEventKind


def test_fake_clock_moves_only_forward() -> None:
    clock = FakeClock(start=5.0)
    clock.advance(1.5)
    assert clock.now() == 6.5
    with pytest.raises(ValueError, match="does not go back"):
        clock.advance(-1.0)


def test_monotonic_clock_does_not_go_back() -> None:
    clock = MonotonicClock()
    assert clock.now() <= clock.now()


def test_alarm_kinds_say_so() -> None:
    assert DoorEvent(K.FORCED_ALARM, "d", 0.0).is_alarm
    assert DoorEvent(K.TAILGATING_ALARM, "d", 0.0).is_alarm
    assert not DoorEvent(K.GRANTED, "d", 0.0).is_alarm
    assert dict(DoorEvent(K.GRANTED, "d", 0.0).detail) == {}


def test_negative_tailgate_window_is_refused() -> None:
    with pytest.raises(ValueError, match="tailgate_window_s must not be negative"):
        DoorConfig("d", STRIKE, tailgate_window_s=-1.0)


def test_lockdown_is_visible() -> None:
    door = rig()
    door.controller.set_lockdown(True)
    assert door.controller.lockdown


def test_rex_during_fire_release_is_logged_and_changes_nothing() -> None:
    door = rig()
    door.fire_alarm()
    door.press_rex()
    assert door.kinds() == [K.FIRE_RELEASE, K.REX]
    assert not door.locked


class StuckRelay:
    """A relay whose pin will not move, as a shorted driver transistor would."""

    closed = False

    @property
    def value(self) -> bool:
        return False

    @value.setter
    def value(self, _wanted: bool) -> None:
        pass


def test_a_relay_that_does_not_take_the_command_raises() -> None:
    door = rig()
    door.devices.relay.close()
    door.devices.relay = StuckRelay()
    with pytest.raises(RelayMismatchError, match="relay on GPIO17 did not take True"):
        door.devices.set_locked(False)
