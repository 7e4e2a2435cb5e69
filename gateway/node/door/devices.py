"""The door's gpiozero devices, built on an injected pin factory.

gpiozero keeps its default factory in the global ``Device.pin_factory``; these
devices never use it. Each gets ``pin_factory=`` explicitly: MockFactory in tests
and the simulator, lgpio on a Pi (:func:`make_pin_factory`).

**The lock relay.** What a relay state *means* follows from three explicit facts,
none with a default, so a profile cannot leave one out and get the lock backwards
silently:

* ``lock_type``: a fail-secure strike is locked when unpowered; a fail-safe
  maglock is locked only while powered.
* ``relay_active_high``: whether the GPIO drives the relay coil on high or low.
* ``relay_contact``: whether the lock's supply runs through the relay's normally
  open (``"NO"``) or normally closed (``"NC"``) contact.

:meth:`LockWiring.relay_on_for` turns "locked?" into "coil energised?" in one place,
and :class:`DoorDevices` reads the relay back after every command and raises if the
pin disagrees.

**Inputs** are wired from GPIO to ground with the internal pull-up. Each
:class:`InputSpec` says whether its switch is closed when idle (``normally_closed``:
a door contact with the door shut, a tamper switch with the cover on, a supervised
fire-panel contact). An input is *asserted* when its switch leaves the idle state:
door open, exit button pressed, tamper tripped, fire alarm, passage beam broken.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from importlib.metadata import entry_points
from typing import Any, Literal

from gpiozero import (  # no py.typed
    LED,
    Buzzer,
    DigitalInputDevice,
    OutputDevice,
)


class LockType(StrEnum):
    FAIL_SECURE = "fail_secure"  # electric strike: power unlocks, power loss stays locked
    FAIL_SAFE = "fail_safe"  # maglock: power locks, power loss releases


class DoorInput(StrEnum):
    CONTACT = "contact"  # asserted = door open
    REX = "rex"  # asserted = exit button pressed
    TAMPER = "tamper"  # asserted = enclosure opened
    FIRE = "fire"  # asserted = fire panel in alarm
    PASSAGE = "passage"  # asserted = passage beam broken (speed gate / turnstile)


@dataclass(frozen=True, slots=True)
class LockWiring:
    lock_type: LockType
    relay_active_high: bool
    relay_contact: Literal["NO", "NC"]

    def __post_init__(self) -> None:
        if not isinstance(self.lock_type, LockType):
            raise ValueError(f"lock_type must be one of {[t.value for t in LockType]}")
        if not isinstance(self.relay_active_high, bool):
            raise ValueError("relay_active_high must be true or false, not guessed")
        if self.relay_contact not in ("NO", "NC"):
            raise ValueError(f"relay_contact must be 'NO' or 'NC', got {self.relay_contact!r}")

    def lock_powered_for(self, locked: bool) -> bool:
        """A maglock needs power to hold; a strike needs power to release."""
        return locked if self.lock_type is LockType.FAIL_SAFE else not locked

    def relay_on_for(self, locked: bool) -> bool:
        """Whether the relay coil must be energised for the lock to be ``locked``."""
        powered = self.lock_powered_for(locked)
        return powered if self.relay_contact == "NO" else not powered

    def locked_when_relay_off(self) -> bool:
        """What the lock does when the node stops driving the relay (power loss, crash)."""
        powered = self.relay_contact == "NC"
        return powered if self.lock_type is LockType.FAIL_SAFE else not powered

    def describe(self) -> str:
        on = "locked" if self.relay_on_for(True) else "unlocked"
        off = "locked" if self.locked_when_relay_off() else "unlocked"
        level = "high" if self.relay_active_high else "low"
        return (
            f"{self.lock_type.value} lock on the relay's {self.relay_contact} contact, coil on "
            f"when GPIO {level}: relay on = {on}, relay off (node down) = {off}"
        )


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One input switch. ``bounce_s`` is handed to the pin driver (MockFactory ignores it)."""

    pin: int
    normally_closed: bool
    bounce_s: float | None = 0.02


@dataclass(frozen=True, slots=True)
class DoorPins:
    """GPIO (BCM) numbers of one door. Optional inputs are absent on some doors."""

    relay: int
    red_led: int
    green_led: int
    buzzer: int
    contact: InputSpec | None = None
    rex: InputSpec | None = None
    tamper: InputSpec | None = None
    fire: InputSpec | None = None
    passage: InputSpec | None = None

    def inputs(self) -> dict[DoorInput, InputSpec]:
        pairs = {
            DoorInput.CONTACT: self.contact,
            DoorInput.REX: self.rex,
            DoorInput.TAMPER: self.tamper,
            DoorInput.FIRE: self.fire,
            DoorInput.PASSAGE: self.passage,
        }
        return {name: spec for name, spec in pairs.items() if spec is not None}


InputCallback = Callable[[DoorInput, bool], None]


class RelayMismatchError(RuntimeError):
    """The relay pin does not show the state just commanded."""


def make_pin_factory(name: str | None = None) -> Any:
    """The pin factory named by ``name``, else ``$GPIOZERO_PIN_FACTORY``, else lgpio.

    Names resolve through gpiozero's own ``gpiozero_pin_factories`` entry points
    (``mock``, ``lgpio``, ...), as gpiozero does; lgpio is imported only when chosen.
    """
    chosen = (name or os.environ.get("GPIOZERO_PIN_FACTORY") or "lgpio").lower()
    for ep in entry_points(group="gpiozero_pin_factories"):
        if ep.name == chosen:
            return ep.load()()
    raise ValueError(f"unknown gpiozero pin factory {chosen!r}: use 'mock' or 'lgpio'")


class DoorDevices:
    """Relay, LEDs, buzzer and the inputs of one door, all on one injected pin factory."""

    def __init__(self, pins: DoorPins, wiring: LockWiring, pin_factory: Any) -> None:
        self.pins = pins
        self.wiring = wiring
        self._closed = False
        # The door starts locked: the initial relay value is derived, never assumed.
        self.relay = OutputDevice(
            pins.relay,
            active_high=wiring.relay_active_high,
            initial_value=wiring.relay_on_for(True),
            pin_factory=pin_factory,
        )
        self.red = LED(pins.red_led, active_high=True, initial_value=True, pin_factory=pin_factory)
        self.green = LED(
            pins.green_led, active_high=True, initial_value=False, pin_factory=pin_factory
        )
        self.buzzer = Buzzer(
            pins.buzzer, active_high=True, initial_value=False, pin_factory=pin_factory
        )
        self._specs = pins.inputs()
        self._inputs = {
            name: DigitalInputDevice(
                spec.pin, pull_up=True, bounce_time=spec.bounce_s, pin_factory=pin_factory
            )
            for name, spec in self._specs.items()
        }

    def has(self, name: DoorInput) -> bool:
        return name in self._inputs

    def read(self, name: DoorInput) -> bool:
        """Whether the input is asserted now; an absent input is never asserted."""
        device = self._inputs.get(name)
        if device is None:
            return False
        return bool(device.is_active) != self._specs[name].normally_closed

    def subscribe(self, callback: InputCallback | None) -> None:
        """Call ``callback(input, asserted)`` on every edge, on gpiozero's thread; None stops."""
        for name, device in self._inputs.items():
            nc = self._specs[name].normally_closed
            if callback is None:
                device.when_activated = device.when_deactivated = None
                continue
            device.when_activated = _edge(callback, name, not nc)
            device.when_deactivated = _edge(callback, name, nc)

    def set_locked(self, locked: bool) -> None:
        want = self.wiring.relay_on_for(locked)
        self.relay.value = want
        if bool(self.relay.value) != want:
            raise RelayMismatchError(f"relay on GPIO{self.pins.relay} did not take {want}")

    @property
    def locked(self) -> bool:
        return bool(self.relay.value) == self.wiring.relay_on_for(True)

    def indicate(self, *, green: bool, buzzer: bool) -> None:
        """Green while unlocked, red otherwise; the buzzer on alarms."""
        self.green.value = green
        self.red.value = not green
        self.buzzer.value = buzzer

    def close(self) -> None:
        """Release the pins; the relay then does what ``LockWiring.locked_when_relay_off`` says."""
        if self._closed:
            return
        self._closed = True
        for device in (*self._inputs.values(), self.buzzer, self.green, self.red, self.relay):
            device.close()


def _edge(callback: InputCallback, name: DoorInput, asserted: bool) -> Callable[[], None]:
    def fire() -> None:
        callback(name, asserted)

    return fire
