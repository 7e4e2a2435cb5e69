"""N real gate nodes in one process: built from their configs, on MockFactory pins.

Each :class:`SimGate` is a :class:`~gateway.node.runtime.GateNode` built by
:func:`~gateway.node.runtime.build_parts` from a node config, exactly as
``gateway node --simulated`` builds one, with the simulation's clock injected.
Two ways for a tap to reach it:

``radio``  the node's own :class:`~gateway.node.readers.nfc.NfcReader` on nfcpy's
           udp driver, and a virtual card or phone in the field
           (:class:`~simulator.holder.nfc_target.NfcTarget`): ISO-DEP frames and all.
``fast``   :class:`~gateway.node.readers.memory.MemoryReader`, the in-memory reader
           backend (as gpiozero's MockFactory is a pin backend): each link hands every
           command APDU to the same phone or card responder and returns its answer. The
           same bytes reach the same reader code, verifier, policy and door; only the
           frames are gone.

Every node event goes through the node's listener list (:attr:`GateNode.listeners`):
the simulator's recorder is one listener, and an outbox can be another.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.config.loader import load_node_config
from gateway.node.door import AsyncDoor, DoorController
from gateway.node.policy import Posture
from gateway.node.readers.memory import MemoryReader
from gateway.node.runtime import GateNode, NodeOptions, NodeParts, build_parts
from simulator.holder.chip_card import UidOnlyCard
from simulator.holder.nfc_target import NfcTarget
from simulator.site.clock import SimClock
from simulator.site.scenario import Building, Scenario, gate_ids
from simulator.site.site_files import node_config

Listener = Callable[[dict[str, Any]], None]


@dataclass
class SimGate:
    gate_id: str
    building: str
    direction: str  # entry or exit
    mode: str  # door or speed-gate
    node: GateNode
    target: Any = None  # the radio path's NfcTarget
    emitted: int = 0
    by_event: dict[str, int] = field(default_factory=dict)

    @property
    def parts(self) -> NodeParts:
        return self.node.parts

    @property
    def door(self) -> AsyncDoor:
        door = self.node.door
        assert door is not None, "start the node first"
        return door

    @property
    def controller(self) -> DoorController:
        return self.door.controller

    def pin(self, name: str) -> Any:
        spec = getattr(self.parts.devices.pins, name)
        return self.parts.pin_factory.pin(spec.pin)

    def set_posture(self, posture: Posture) -> None:
        postures = dict(self.node.state.building_postures)
        postures[self.building] = posture
        self.node.state = dataclasses.replace(self.node.state, building_postures=postures)

    def count(self, record: dict[str, Any]) -> None:
        self.emitted += 1
        event = str(record["event"])
        self.by_event[event] = self.by_event.get(event, 0) + 1


async def build_gates(
    scenario: Scenario,
    root: Path,
    files: dict[str, Path],
    clock: SimClock,
    listeners_for: Callable[[str], tuple[Listener, ...]],
) -> list[SimGate]:
    """Build and start every gate of the complex (the radio path starts a target per gate)."""
    gates: list[SimGate] = []
    for building in scenario.buildings:
        for gate_id in gate_ids(building):
            listeners = listeners_for(gate_id)
            gates.append(
                await _build_gate(scenario, building, gate_id, root, files, clock, listeners)
            )
    return gates


async def _build_gate(
    scenario: Scenario,
    building: Building,
    gate_id: str,
    root: Path,
    files: dict[str, Path],
    clock: SimClock,
    listeners: tuple[Listener, ...],
) -> SimGate:
    root.mkdir(parents=True, exist_ok=True)
    radio = scenario.scenario.path == "radio"
    target: Any = None
    nfc = "udp:127.0.0.1:50000"
    if radio:
        target = NfcTarget(UidOnlyCard()).__enter__()
        target.present = False
        nfc = target.path
    config = node_config(root, scenario.scenario.name, building, gate_id, nfc, files)
    options = NodeOptions(simulated=True, apdu_timeout=1.0)
    parts = build_parts(load_node_config(config), options, now=clock.wall(), clock=clock)
    if not radio:
        await parts.reader.close()  # never opened: the in-memory backend replaces it
        parts = dataclasses.replace(parts, reader=MemoryReader())
    direction = "entry" if "-in-" in gate_id else "exit"
    gate = SimGate(gate_id, building.id, direction, building.mode, node=None, target=target)  # type: ignore[arg-type]
    gate.node = GateNode(
        parts,
        now=clock.wall,
        monotonic=clock.monotonic,
        listeners=(gate.count, *listeners),
    )
    await gate.node.start()
    return gate


async def close_gates(gates: list[SimGate]) -> None:
    for gate in gates:
        await gate.node.close("simulation over")
        if gate.target is not None:
            gate.target.__exit__(None, None, None)
