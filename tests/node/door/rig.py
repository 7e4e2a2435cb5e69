"""A door on MockFactory pins with a fake clock: drive switches, read relay, LEDs and buzzer."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gpiozero.pins.mock import MockFactory

from gateway.node.door import (
    DoorConfig,
    DoorController,
    DoorDevices,
    DoorEvent,
    DoorEventKind,
    DoorPins,
    FakeClock,
    InputSpec,
    LockType,
    LockWiring,
)

RELAY, RED, GREEN, BUZZER = 17, 5, 6, 13
CONTACT, REX, TAMPER, FIRE, PASSAGE = 22, 23, 24, 25, 27

STRIKE = LockWiring(LockType.FAIL_SECURE, relay_active_high=True, relay_contact="NO")
MAGLOCK = LockWiring(LockType.FAIL_SAFE, relay_active_high=True, relay_contact="NO")

PINS = DoorPins(
    relay=RELAY,
    red_led=RED,
    green_led=GREEN,
    buzzer=BUZZER,
    contact=InputSpec(CONTACT, normally_closed=True),  # closed while the door is shut
    rex=InputSpec(REX, normally_closed=False),  # a push button
    tamper=InputSpec(TAMPER, normally_closed=True),  # closed while the cover is on
    fire=InputSpec(FIRE, normally_closed=True),  # supervised: opens on alarm or a cut wire
    passage=InputSpec(PASSAGE, normally_closed=False),  # closes while the beam is broken
)


class Rig:
    def __init__(self, pins: DoorPins = PINS, **config: Any) -> None:
        config.setdefault("wiring", STRIKE)
        config.setdefault("held_open_warning_s", 20.0)
        config.setdefault("held_open_limit_s", 30.0)
        self.config = DoorConfig(door_id="B1-east", **config)
        self.factory = MockFactory()
        self.clock = FakeClock()
        self.events: list[DoorEvent] = []
        self.devices = DoorDevices(pins, self.config.wiring, self.factory)
        for spec in pins.inputs().values():  # idle: normally-closed switches closed
            if spec.normally_closed:
                self.factory.pin(spec.pin).drive_low()

    def start(self) -> Rig:
        self.controller = DoorController(self.config, self.devices, self.clock, self.events.append)
        self.devices.subscribe(self.controller.handle_input)
        return self

    # -- the world ----------------------------------------------------------------
    def pin(self, number: int) -> Any:
        return self.factory.pin(number)

    def open_door(self) -> None:
        self.pin(CONTACT).drive_high()  # NC contact opens

    def close_door(self) -> None:
        self.pin(CONTACT).drive_low()

    def press_rex(self) -> None:
        self.pin(REX).drive_low()
        self.pin(REX).drive_high()

    def trip_tamper(self) -> None:
        self.pin(TAMPER).drive_high()

    def restore_tamper(self) -> None:
        self.pin(TAMPER).drive_low()

    def fire_alarm(self) -> None:
        self.pin(FIRE).drive_high()

    def fire_clear(self) -> None:
        self.pin(FIRE).drive_low()

    def beam_broken(self) -> None:
        self.pin(PASSAGE).drive_low()

    def beam_clear(self) -> None:
        self.pin(PASSAGE).drive_high()

    def pass_through(self) -> None:
        self.beam_broken()
        self.beam_clear()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.controller.tick()

    # -- what the door shows ------------------------------------------------------
    @property
    def relay_level(self) -> bool:
        return bool(self.pin(RELAY).state)

    @property
    def locked(self) -> bool:
        """Read off the relay pin with the wiring table written out by hand, not the code's."""
        w = self.config.wiring
        coil = self.relay_level if w.relay_active_high else not self.relay_level
        powered = coil if w.relay_contact == "NO" else not coil
        return powered if w.lock_type is LockType.FAIL_SAFE else not powered

    @property
    def lights(self) -> tuple[bool, bool, bool]:
        """(red, green, buzzer) pin levels."""
        return (
            bool(self.pin(RED).state),
            bool(self.pin(GREEN).state),
            bool(self.pin(BUZZER).state),
        )

    def kinds(self) -> list[DoorEventKind]:
        """The kinds emitted since the last call."""
        kinds = [event.kind for event in self.events]
        self.events.clear()
        return kinds


def rig(**config: Any) -> Rig:
    return Rig(**config).start()


def without(pins: DoorPins, **absent: Any) -> DoorPins:
    return replace(pins, **absent)
