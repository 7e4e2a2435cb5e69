"""The door controller: gpiozero devices, a synchronous state machine, an asyncio adapter.

* :mod:`.devices`: relay, contact, REX, tamper, fire, passage, LEDs, buzzer, on an
  injected pin factory; the lock wiring that says what "locked" means on the relay.
* :mod:`.controller`: :class:`DoorController`, the deterministic state machine.
* :mod:`.aio`: :class:`AsyncDoor`, which brings gpiozero's callback thread onto asyncio.
* :mod:`.events`: the :class:`DoorEvent` records it emits; :mod:`.clock`: the injected clock.
"""

from gateway.node.door.aio import AsyncDoor
from gateway.node.door.clock import Clock, FakeClock, MonotonicClock
from gateway.node.door.config import DoorConfig
from gateway.node.door.controller import DoorController, DoorState, RemoteRefusal
from gateway.node.door.devices import (
    DoorDevices,
    DoorInput,
    DoorPins,
    InputSpec,
    LockType,
    LockWiring,
    RelayMismatchError,
    make_pin_factory,
)
from gateway.node.door.events import DoorEvent, DoorEventKind, EventSink

__all__ = [
    "AsyncDoor",
    "Clock",
    "DoorConfig",
    "DoorController",
    "DoorDevices",
    "DoorEvent",
    "DoorEventKind",
    "DoorInput",
    "DoorPins",
    "DoorState",
    "EventSink",
    "FakeClock",
    "InputSpec",
    "LockType",
    "LockWiring",
    "MonotonicClock",
    "RelayMismatchError",
    "RemoteRefusal",
    "make_pin_factory",
]
