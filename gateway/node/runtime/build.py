"""Build a gate node from its config: verifier, policy, door and reader, each from its own module.

Nothing here re-implements a check: the config loader validated the config and
resolved the pins, the credential core verifies, the policy module verifies and
compiles the signed document, the door package drives the pins.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gpiozero.exc import GPIOZeroError
from gpiozero.pins.mock import MockFactory

from gateway.config.devices import parse_nfc_device
from gateway.config.findings import ConfigError, Finding
from gateway.config.loader import LoadedNode, read_toml
from gateway.credentials.verifier import Verifier, VerifierOptions
from gateway.node.door import (
    Clock,
    DoorController,
    DoorDevices,
    DoorEvent,
    MonotonicClock,
    make_pin_factory,
)
from gateway.node.readers.nfc import NfcReader
from gateway.node.runtime import door as door_setup
from gateway.node.runtime import files
from gateway.node.runtime.memory import return_freed_memory
from gateway.node.runtime.node import NodeParts


@dataclass(frozen=True)
class NodeOptions:
    simulated: bool = False
    door_id: str | None = None  # the policy's door id; None: the config's node_id
    status_tokens: Sequence[Path] = ()
    apdu_timeout: float = 1.0


def _simulated_reader(node: LoadedNode) -> None:
    device = parse_nfc_device(node.nfc_device)
    if device.bus != "udp":
        line, _exact = read_toml(node.path).lines.line_for(("readers", "nfc"))
        raise ConfigError(
            [
                Finding(
                    node.path,
                    line,
                    "readers.nfc",
                    f"--simulated needs the simulator's radio, not {node.nfc_device!r}",
                    "set nfc = 'udp:127.0.0.1:50000' under [readers] "
                    "(the simulator presents cards there)",
                )
            ]
        )


def build_parts(
    node: LoadedNode,
    options: NodeOptions,
    *,
    now: dt.datetime,
    clock: Clock | None = None,
) -> NodeParts:
    """Load every file, check the door is in the policy, and make the devices."""
    if options.simulated:
        _simulated_reader(node)
    door_id = options.door_id or node.config.node.node_id
    trust = files.trust_store(node)
    status = files.status_cache(node, trust.anchors, now)
    files.apply_status_tokens(status, options.status_tokens, now)
    loaded, policy = files.site_policy(node)
    return_freed_memory()
    if door_id not in policy.doors:
        known = ", ".join(sorted(policy.doors)) or "none"
        raise files.path_error(
            node,
            "policy",
            f"door {door_id!r} is not in policy version {loaded.document.version}"
            f" (its doors: {known})",
            "pass --door ID, or give this node the policy door's id as node_id",
        )
    config = door_setup.door_config(node, door_id)
    pins = door_setup.door_pins(node)
    factory_name = door_setup.pin_factory_name(node, options.simulated)
    try:
        pin_factory = make_pin_factory(factory_name)
    except (ValueError, ImportError, OSError, RuntimeError) as exc:
        line, _exact = read_toml(node.path).lines.line_for(("node", "pin_factory"))
        raise ConfigError(
            [
                Finding(
                    node.path,
                    line,
                    "node.pin_factory",
                    f"no GPIO: {type(exc).__name__}: {exc}",
                    "on a Pi install lgpio; elsewhere run with --simulated",
                )
            ]
        ) from exc
    try:
        devices = DoorDevices(pins, config.wiring, pin_factory)
    except GPIOZeroError as exc:
        pin_factory.close()
        line, _exact = read_toml(node.path).lines.line_for(("pins",))
        raise ConfigError(
            [
                Finding(
                    node.path,
                    line,
                    "pins",
                    f"the door's pins cannot be used: {type(exc).__name__}: {exc}",
                    "check [pins] and the profile's pins; is another program using them?",
                )
            ]
        ) from exc
    if isinstance(pin_factory, MockFactory):  # chosen by config, --simulated or the environment
        door_setup.idle_mock_inputs(pin_factory, pins)
    door_clock = clock or MonotonicClock()

    def controller(sink: Callable[[DoorEvent], None]) -> DoorController:
        return DoorController(config, devices, door_clock, sink)

    verifier = Verifier(trust, status, VerifierOptions(reader_id=node.config.node.reader_id))
    return NodeParts(
        door_id=door_id,
        reader_id=node.config.node.reader_id,
        reader=NfcReader(node.nfc_device, apdu_timeout=options.apdu_timeout),
        verifier=verifier,
        policy=policy,
        controller_factory=controller,
        devices=devices,
        pin_factory=pin_factory,
        policy_version=loaded.document.version,
        loaded_policy=loaded,
        policy_key=files.policy_key(node),
        node_id=node.config.node.node_id,
    )
