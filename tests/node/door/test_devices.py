"""The gpiozero device set: lock wiring, input polarity, the pin factory choice."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory

from gateway.node.door import (
    DoorDevices,
    DoorInput,
    InputSpec,
    LockType,
    LockWiring,
    make_pin_factory,
)
from tests.node.door.rig import CONTACT, PINS, RELAY, REX, Rig

FS, FSAFE = LockType.FAIL_SECURE, LockType.FAIL_SAFE

# (lock type, contact) -> coil energised to be locked, and locked once the node lets go.
WIRING_TABLE = [
    (FS, "NO", False, True),  # strike on NO: power (coil on) releases it; off = locked
    (FS, "NC", True, False),  # strike on NC: coil on cuts power = locked; off = powered = open
    (FSAFE, "NO", True, False),  # maglock on NO: coil on powers it = locked; off = released
    (FSAFE, "NC", False, True),  # maglock on NC: coil off powers it = locked
]


@pytest.mark.parametrize(
    ("lock_type", "contact", "coil_for_locked", "locked_when_off"), WIRING_TABLE
)
def test_lock_wiring_truth_table(
    lock_type: LockType, contact: str, coil_for_locked: bool, locked_when_off: bool
) -> None:
    wiring = LockWiring(lock_type, relay_active_high=True, relay_contact=contact)  # type: ignore[arg-type]
    assert wiring.relay_on_for(True) is coil_for_locked
    assert wiring.relay_on_for(False) is not coil_for_locked
    assert wiring.locked_when_relay_off() is locked_when_off
    assert f"relay off (node down) = {'locked' if locked_when_off else 'unlocked'}" in (
        wiring.describe()
    )


@pytest.mark.parametrize("active_high", [True, False])
@pytest.mark.parametrize(("lock_type", "contact", "coil_for_locked", "_off"), WIRING_TABLE)
def test_relay_pin_level_follows_polarity_and_starts_locked(
    active_high: bool, lock_type: LockType, contact: str, coil_for_locked: bool, _off: bool
) -> None:
    wiring = LockWiring(lock_type, relay_active_high=active_high, relay_contact=contact)  # type: ignore[arg-type]
    factory = MockFactory()
    devices = DoorDevices(PINS, wiring, factory)
    level_for_locked = coil_for_locked if active_high else not coil_for_locked
    assert factory.pin(RELAY).state == level_for_locked  # the initial value is "locked"
    assert devices.locked
    devices.set_locked(False)
    assert factory.pin(RELAY).state == (not level_for_locked)
    assert not devices.locked


def test_lock_wiring_has_no_defaults() -> None:
    with pytest.raises(TypeError):
        LockWiring(LockType.FAIL_SAFE)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("fail_safe", True, "NO"), "lock_type must be one of"),
        ((LockType.FAIL_SAFE, 1, "NO"), "relay_active_high must be true or false"),
        ((LockType.FAIL_SAFE, True, "no"), "relay_contact must be 'NO' or 'NC'"),
    ],
)
def test_lock_wiring_refuses_a_guess(args: tuple[object, object, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LockWiring(*args)  # type: ignore[arg-type]


def test_inputs_read_through_their_idle_state() -> None:
    rig = Rig()
    assert not rig.devices.read(DoorInput.CONTACT)  # NC contact closed: door shut
    rig.open_door()
    assert rig.devices.read(DoorInput.CONTACT)
    rig.factory.pin(REX).drive_low()  # NO button closed: pressed
    assert rig.devices.read(DoorInput.REX)


def test_normally_open_contact_reads_the_other_way() -> None:
    from dataclasses import replace

    pins = replace(PINS, contact=InputSpec(CONTACT, normally_closed=False))
    factory = MockFactory()
    devices = DoorDevices(pins, LockWiring(FS, True, "NO"), factory)
    assert not devices.read(DoorInput.CONTACT)  # pull-up, switch open: door shut
    factory.pin(CONTACT).drive_low()
    assert devices.read(DoorInput.CONTACT)


def test_absent_input_is_never_asserted() -> None:
    from dataclasses import replace

    devices = DoorDevices(replace(PINS, tamper=None), LockWiring(FS, True, "NO"), MockFactory())
    assert not devices.has(DoorInput.TAMPER)
    assert not devices.read(DoorInput.TAMPER)


def test_subscribe_reports_edges_and_none_stops() -> None:
    rig = Rig()
    seen: list[tuple[DoorInput, bool]] = []
    rig.devices.subscribe(lambda name, asserted: seen.append((name, asserted)))
    rig.open_door()
    rig.close_door()
    rig.devices.subscribe(None)
    rig.open_door()
    assert seen == [(DoorInput.CONTACT, True), (DoorInput.CONTACT, False)]


def test_close_releases_every_pin_once() -> None:
    rig = Rig()
    rig.devices.close()
    rig.devices.close()
    assert rig.devices.relay.closed


def test_pin_factory_by_name_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(make_pin_factory("mock"), MockFactory)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "MOCK")
    assert isinstance(make_pin_factory(), MockFactory)
    with pytest.raises(ValueError, match="unknown gpiozero pin factory 'nonesuch'"):
        make_pin_factory("nonesuch")
