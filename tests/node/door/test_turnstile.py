"""Speed gate / turnstile mode: one passage per grant, sensed by the passage beam."""

from __future__ import annotations

import pytest

from gateway.node.door import DoorEventKind, DoorState
from tests.node.door.rig import PINS, Rig, rig, without

K = DoorEventKind


def gate(**config: object) -> Rig:
    return rig(mode="turnstile", unlock_time_s=5.0, tailgate_window_s=3.0, **config)


def test_one_grant_lets_one_person_through_and_relocks() -> None:
    door = gate()
    door.controller.grant("kim")
    door.beam_broken()
    assert door.controller.state is DoorState.OPEN
    assert not door.locked
    door.beam_clear()
    assert door.controller.state is DoorState.LOCKED
    assert door.locked
    assert door.kinds() == [K.GRANTED, K.PASSAGE, K.RELOCKED]


def test_a_second_person_on_the_same_grant_is_tailgating() -> None:
    door = gate()
    door.controller.grant("kim")
    door.pass_through()
    door.clock.advance(1.0)
    door.kinds()
    door.beam_broken()
    assert door.controller.state is DoorState.FORCED
    assert door.lights[2]
    door.beam_clear()
    events = list(door.events)
    assert [e.kind for e in events] == [K.TAILGATING_ALARM, K.PASSAGE, K.ALARM_CLEARED]
    assert events[1].detail["authorised"] == "false"
    assert events[2].detail["alarm"] == "tailgating_alarm"
    assert door.locked


def test_a_passage_long_after_the_last_is_forced_not_tailgating() -> None:
    door = gate()
    door.controller.grant()
    door.pass_through()
    door.advance(10.0)
    door.kinds()
    door.beam_broken()
    assert door.kinds() == [K.FORCED_ALARM]


def test_two_grants_allow_two_passages() -> None:
    door = gate()
    door.controller.grant("kim")
    door.controller.grant("lee")
    door.pass_through()
    assert not door.locked  # one passage still owed
    assert door.controller.state is DoorState.UNLOCKED_FOR_GRANT
    door.pass_through()
    assert door.locked
    assert door.kinds() == [K.GRANTED, K.GRANTED, K.PASSAGE, K.PASSAGE, K.RELOCKED]


def test_a_grant_nobody_uses_expires() -> None:
    door = gate()
    door.controller.grant()
    door.advance(5.0)
    assert door.locked
    door.beam_broken()
    assert door.controller.state is DoorState.FORCED


def test_standing_in_the_beam_is_held_open() -> None:
    door = gate()
    door.controller.grant()
    door.beam_broken()
    door.advance(30.0)
    assert door.controller.state is DoorState.HELD_OPEN


def test_rex_gives_one_free_exit_passage() -> None:
    door = gate()
    door.press_rex()
    door.pass_through()
    assert door.locked
    assert door.kinds() == [K.REX, K.PASSAGE, K.RELOCKED]


def test_the_door_contact_is_ignored_in_turnstile_mode() -> None:
    door = gate()
    door.open_door()
    assert door.controller.state is DoorState.LOCKED
    assert door.kinds() == []


def test_turnstile_mode_needs_a_passage_input() -> None:
    door = Rig(pins=without(PINS, passage=None), mode="turnstile")
    with pytest.raises(ValueError, match="turnstile mode needs a passage input"):
        door.start()
