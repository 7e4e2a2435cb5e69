"""Door physics on MockFactory pins: what people and doors do to a gate's inputs.

Each function is one physical change, driven on the pin exactly as the
switch would change it (the wiring is the node config's: NC door contact,
NO exit button, NC tamper and fire contacts, a passage beam that closes while
broken). gpiozero hands the edge to the node's door on the event loop, so
every change is followed by :func:`settle`, which lets that hop happen.

The timings of a passage, in simulated seconds after the grant:

=================  ==========================  ===========================
                   door                         speed gate
=================  ==========================  ===========================
opens / beam on    ``OPEN_AFTER_S``             ``OPEN_AFTER_S``
closes / beam off  + the walk-through time      + half the walk-through time
=================  ==========================  ===========================
"""

from __future__ import annotations

import asyncio

from simulator.site.gates import SimGate

OPEN_AFTER_S = 0.8
TAILGATER_AFTER_S = 0.4  # a tailgater follows this close behind
FORCE_WAIT_S = 4.0  # an intruder waits for the crowd to clear (past the tailgating window)
CLOSE_AFTER_FORCE_S = 3.0
TAMPER_S = 20.0


async def settle() -> None:
    """Let gpiozero's edge (handed over with call_soon_threadsafe) reach the door controller."""
    await asyncio.sleep(0)


async def door_opens(gate: SimGate) -> None:
    if gate.mode == "speed-gate":
        gate.pin("passage").drive_low()  # the beam is broken
    else:
        gate.pin("contact").drive_high()  # an NC contact opens with the door
    await settle()


async def door_closes(gate: SimGate) -> None:
    if gate.mode == "speed-gate":
        gate.pin("passage").drive_high()
    else:
        gate.pin("contact").drive_low()
    await settle()


async def press_exit_button(gate: SimGate) -> None:
    pin = gate.pin("rex")
    pin.drive_low()
    pin.drive_high()
    await settle()


async def tamper(gate: SimGate, on: bool) -> None:
    pin = gate.pin("tamper")
    pin.drive_high() if on else pin.drive_low()  # the cover comes off: the NC switch opens
    await settle()


async def fire_panel(gate: SimGate, alarm: bool) -> None:
    pin = gate.pin("fire")
    pin.drive_high() if alarm else pin.drive_low()  # supervised NC: opens on alarm
    await settle()


def unlocked(gate: SimGate) -> bool:
    """What a person at the gate sees: the lock released (read off the devices, not the node)."""
    return not gate.parts.devices.locked


def passage_times(gate: SimGate, walk_s: float) -> tuple[float, float]:
    """Seconds after the grant when the door opens and closes behind the person."""
    through = walk_s if gate.mode == "door" else walk_s / 2
    return OPEN_AFTER_S, OPEN_AFTER_S + through
