"""Assemble the node service from its config: state folder, node key, outbox, link to the centre.

The gate parts (verifier, policy, door, reader) come from :mod:`.build`; this
adds what makes the gate part of a site: ``[state]`` and ``[mqtt]``.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt

from gateway.config.findings import ConfigError, Finding
from gateway.config.loader import LoadedNode, read_toml
from gateway.config.models import MqttSection
from gateway.mqtt.payloads import ComponentHealth, Synced
from gateway.mqtt.session import availability_will, persistent_client
from gateway.node.commands import CommandGate, ReplayMemory
from gateway.node.health import HealthSources, SyncedView, door_health
from gateway.node.outbox import Limits, Outbox, Synchronous, load_or_create_node_key
from gateway.node.publisher import Publisher
from gateway.node.runtime.inbound import GateSink, NodeInbound
from gateway.node.runtime.node import GateNode, utc_now
from gateway.node.runtime.service import Inbound, NodeService
from gateway.node.sync import Syncer, SyncStore

MIB = 1024 * 1024


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @property
    def outbox(self) -> Path:
        return self.root / "outbox.sqlite"

    @property
    def node_key(self) -> Path:
        return self.root / "node.key"

    @property
    def sync(self) -> Path:
        return self.root / "sync"

    @property
    def commands(self) -> Path:
        return self.root / "commands.sqlite"


def _finding(node: LoadedNode, key: tuple[str, ...], message: str, hint: str) -> ConfigError:
    line, _exact = read_toml(node.path).lines.line_for(key)
    return ConfigError([Finding(node.path, line, ".".join(key), message, hint)])


def state_paths(node: LoadedNode) -> StatePaths:
    """The ``[state].dir`` folder, created 0700 if absent (it holds the node's private key)."""
    root = node.resolve(node.config.state.dir)
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        (root / "sync").mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise _finding(
            node,
            ("state", "dir"),
            f"cannot create {root}: {exc.strerror or exc}",
            "point [state].dir at a writable folder, e.g. /var/lib/gateway",
        ) from exc
    return StatePaths(root)


def open_outbox(node: LoadedNode, paths: StatePaths) -> Outbox:
    state = node.config.state
    try:
        key = load_or_create_node_key(paths.node_key)
    except (OSError, ValueError) as exc:
        raise _finding(
            node,
            ("state", "dir"),
            f"node key {paths.node_key}: {exc}",
            "the key must be readable by the node only (chmod 600), or remove it to make a new one",
        ) from exc
    limits = Limits(max_pending_bytes=int(state.outbox_alarm_mib * MIB))
    synchronous = Synchronous.FULL if state.durability == "full" else Synchronous.NORMAL
    return Outbox(paths.outbox, key, synchronous=synchronous, limits=limits)


def broker_password(node: LoadedNode, mqtt: MqttSection) -> str | None:
    if mqtt.password_file is None:
        return None
    path = node.resolve(mqtt.password_file)
    try:
        if path.stat().st_mode & 0o077:
            raise _finding(
                node,
                ("mqtt", "password_file"),
                f"{path} may be read by group or others",
                f"chmod 600 {path}",
            )
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise _finding(
            node,
            ("mqtt", "password_file"),
            f"cannot read {path}: {exc.strerror or exc}",
            "create the file with the broker password, mode 0600",
        ) from exc


def publisher_factory(
    node: LoadedNode, outbox: Outbox, password: str | None
) -> Callable[..., Publisher]:
    mqtt = node.config.mqtt
    assert mqtt is not None
    site, node_id = node.config.node.site, node.config.node.node_id
    protocol = aiomqtt.ProtocolVersion.V5 if mqtt.protocol == 5 else aiomqtt.ProtocolVersion.V311

    tls = None
    if mqtt.tls_ca_file is not None:
        cert, key = mqtt.tls_cert_file, mqtt.tls_key_file
        tls = aiomqtt.TLSParameters(
            ca_certs=str(node.resolve(mqtt.tls_ca_file)),
            certfile=None if cert is None else str(node.resolve(cert)),
            keyfile=None if key is None else str(node.resolve(key)),
        )

    def client() -> aiomqtt.Client:
        return persistent_client(
            mqtt.host,
            mqtt.port,
            node_id,
            protocol=protocol,
            will=availability_will(site, node_id),
            username=mqtt.username or node_id,
            password=password,
            tls=tls,
        )

    return functools.partial(
        Publisher,
        outbox,
        hostname=mqtt.host,
        port=mqtt.port,
        site=site,
        node=node_id,
        client_factory=client,
        batch_size=mqtt.batch_size,
    )


def health_sources(
    node: LoadedNode,
    gate: GateNode,
    outbox: Outbox,
    synced: Callable[[dt.datetime], SyncedView],
    started_monotonic: float,
) -> HealthSources:
    def readers() -> list[ComponentHealth]:
        reader = gate.parts.reader
        state, detail = gate.reader_health()
        return [
            ComponentHealth(id=str(reader.device), ok=state == "ready", state=state, detail=detail)
        ]

    def doors() -> list[ComponentHealth]:
        controller = gate.controller
        if controller is None:
            return [ComponentHealth(id=gate.parts.door_id, ok=False, state="not_started")]
        return [door_health(gate.parts.door_id, controller.state.value, controller.tamper)]

    return HealthSources(
        site=node.config.node.site,
        node=node.config.node.node_id,
        outbox=outbox,
        outbox_limit=outbox.limits.max_pending_count,
        synced=synced,
        readers=readers,
        doors=doors,
        started_monotonic=started_monotonic,
    )


def assemble(
    node: LoadedNode,
    gate: GateNode,
    outbox: Outbox,
    *,
    inbound: Inbound | None,
    synced: Callable[[dt.datetime], SyncedView],
    started_monotonic: float,
    now: Callable[[], dt.datetime] = utc_now,
) -> NodeService:
    mqtt = node.config.mqtt
    factory = None
    heartbeat_s = 30.0
    if mqtt is not None:
        factory = publisher_factory(node, outbox, broker_password(node, mqtt))
        heartbeat_s = mqtt.heartbeat_seconds
    return NodeService(
        gate,
        outbox,
        site=node.config.node.site,
        node_id=node.config.node.node_id,
        publisher_factory=factory,
        inbound=inbound,
        health=health_sources(node, gate, outbox, synced, started_monotonic),
        heartbeat_s=heartbeat_s,
        now=now,
    )


def node_service(
    node: LoadedNode, gate: GateNode, *, now: Callable[[], dt.datetime] = utc_now
) -> NodeService:
    """The running node: the gate, its outbox and, with ``[mqtt]``, its link to the centre.

    What the sync layer kept from an earlier run is restored as the gate starts
    (:meth:`NodeInbound.on_started`), before its first tap, so a node that
    reboots with no network decides with the newest documents it held.
    """
    paths = state_paths(node)
    parts = gate.parts
    assert parts.loaded_policy is not None
    assert parts.policy_key is not None
    site, node_id = node.config.node.site, node.config.node.node_id
    sink = GateSink(gate)
    syncer = Syncer(
        parts.verifier, parts.loaded_policy, parts.policy_key, SyncStore(paths.sync), site, sink
    )
    commands = CommandGate(
        site,
        node_id,
        (parts.door_id,),
        lambda: syncer.policy.document,
        ReplayMemory(paths.commands),
    )
    outbox = open_outbox(node, paths)
    inbound = NodeInbound(
        gate, syncer, sink, commands, site=site, node_id=node_id, now=now, flush=outbox.flush
    )
    zone = _zone_of(gate)
    return assemble(
        node,
        gate,
        outbox,
        inbound=inbound,
        synced=lambda at: synced_view(syncer.snapshot(at, zone)),
        started_monotonic=time.monotonic(),
        now=now,
    )


def _zone_of(gate: GateNode) -> str:
    door = gate.parts.policy.document.doors.get(gate.parts.door_id)
    return door.zone if door else ""


def synced_view(snapshot: dict[str, Any]) -> SyncedView:
    return SyncedView(
        status_lists={k: Synced.model_validate(v) for k, v in snapshot["status_lists"].items()},
        policy=Synced.model_validate(snapshot["policy"]),
        posture=Synced.model_validate(snapshot["posture"]),
    )
