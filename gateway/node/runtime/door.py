"""The door from a node config: ``[door]`` and the effective pins to the door controller's types.

What the config does not say yet, and this module assumes (each in one constant):

* exit buttons are push buttons (normally open); tamper switches and fire-panel
  contacts are normally closed (closed with the cover on, supervised); a passage
  beam closes while it is broken;
* the held-open warning comes at two thirds of the held-open limit.
"""

from __future__ import annotations

from typing import Any

from gateway.config.findings import ConfigError, Finding
from gateway.config.loader import LoadedNode, read_toml
from gateway.node.door import DoorConfig, DoorPins, InputSpec, LockType, LockWiring

HELD_OPEN_WARNING_FRACTION = 2 / 3
_OUTPUTS = {"led_red": "red LED", "led_green": "green LED", "buzzer": "buzzer"}


def lock_wiring(node: LoadedNode) -> LockWiring:
    door = node.config.door
    lock = LockType.FAIL_SECURE if door.lock_type == "fail-secure" else LockType.FAIL_SAFE
    return LockWiring(
        lock, relay_active_high=node.relay_active_high, relay_contact=door.lock_contact
    )


def door_config(node: LoadedNode, door_id: str) -> DoorConfig:
    door = node.config.door
    turnstile = door.mode == "speed-gate"
    return DoorConfig(
        door_id=door_id,
        wiring=lock_wiring(node),
        # A speed gate's window is the time a grant waits for its passage.
        unlock_time_s=door.passage_timeout_seconds if turnstile else door.unlock_seconds,
        held_open_limit_s=door.held_open_seconds,
        held_open_warning_s=door.held_open_seconds * HELD_OPEN_WARNING_FRACTION,
        egress=door.egress,
        mode="turnstile" if turnstile else "door",
    )


def door_pins(node: LoadedNode) -> DoorPins:
    pins = node.pins
    missing = [name for name in _OUTPUTS if name not in pins]
    if missing:
        lines = read_toml(node.path).lines
        line, _exact = lines.line_for(("pins",))
        raise ConfigError(
            Finding(
                node.path,
                line,
                f"pins.{name}",
                f"the {_OUTPUTS[name]} has no pin in the config nor in profile {node.profile.name}",
                f"set it under [pins], e.g. {name} = 12",
            )
            for name in missing
        )

    def spec(name: str, normally_closed: bool) -> InputSpec | None:
        return InputSpec(pins[name], normally_closed) if name in pins else None

    return DoorPins(
        relay=pins["lock_relay"],
        red_led=pins["led_red"],
        green_led=pins["led_green"],
        buzzer=pins["buzzer"],
        contact=spec("door_contact", node.config.door.contact == "NC"),
        rex=spec("exit_button", False),
        tamper=spec("tamper", True),
        fire=spec("fire_alarm", True),
        passage=spec("passage_sensor", False),
    )


def pin_factory_name(node: LoadedNode, simulated: bool) -> str | None:
    """``mock`` when simulated or configured; else the config's, else gpiozero's choice."""
    return "mock" if simulated else node.config.node.pin_factory


def idle_mock_inputs(factory: Any, pins: DoorPins) -> None:
    """On MockFactory pins nobody closes a switch: close the normally-closed ones, as at rest."""
    for spec in pins.inputs().values():
        if spec.normally_closed:
            factory.pin(spec.pin).drive_low()
