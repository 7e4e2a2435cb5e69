"""Revocation propagation: the authority publishes, every one of N nodes has it installed.

N nodes (default 50), each its own MQTT client on our own Mosquitto with the
node's real :class:`~gateway.node.sync.Syncer` over a real verifier and status
cache, subscribed to the site's status-list topics. Each round the centre
makes one more credential INVALID and publishes it two ways:

``token``  the full Status List Token (1.2 M entries, 1 % INVALID, ZLIB, ES256), retained:
           each node verifies the signature, inflates and installs it.
``delta``  the signed delta on top of the token just installed (one change):
           each node verifies it and applies it copy-on-write.

A round's time runs from just before ``publish`` to the moment the last node
installed it (``all_nodes``), and per node (``per_node``). The **floor** is the
same fan-out of an unsigned payload of the same size that the nodes only
receive: what MQTT alone costs on this machine. All N nodes share one Python
process and the broker the other core, so a node's CPU time and its fsyncs
(each accepted message is persisted before it is reported) queue behind the
others'; on the site every gate has its own CPU and disk, so the figures here
are an upper bound. Target: ``delta`` p99 under 1 s for N = 50.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.central.authority import pki
from gateway.central.sync_publish import publish_status_delta, publish_status_token
from gateway.credentials.status_list import Status, StatusCache, StatusList, sign_status_list_token
from gateway.credentials.trust import TrustStore
from gateway.credentials.verifier import Verifier
from gateway.mqtt import topics
from gateway.node.policy import CompiledPolicy, LoadedPolicy, load_signed, sign_document
from gateway.node.sync import AppliedPosture, Syncer, SyncStore, list_id_for, make_delta
from simulator.mosquitto import Broker, mosquitto_path, running_mosquitto

NAME = "revocation"
DESCRIPTION = "status list publish -> installed on all of N nodes (token and delta) vs MQTT floor"
NODES = 50
ROUNDS = 15
ENTRIES = 1_200_000
INVALID_RATE = 0.01  # as bench/status_list.py: about the share of a year's lost and retired
SEED = 20261123
SITE = "sejong"
URI = "https://csid.mpm.go.kr/status/bench0001"
TARGET_P99_S = 1.0


class _NoSink:
    def install_policy(self, loaded: LoadedPolicy, compiled: CompiledPolicy) -> None:
        return None

    def install_posture(self, posture: AppliedPosture) -> None:
        return None


@dataclass
class _World:
    status_key: ec.EllipticCurvePrivateKey
    trust: TrustStore
    policy: LoadedPolicy
    policy_key: ec.EllipticCurvePublicKey
    statuses: StatusList


def _world() -> _World:
    now = dt.datetime.now(dt.UTC)
    keys = pki.new_issuer(
        "행정안전부", organization="행정안전부", not_before=now - dt.timedelta(days=1)
    )
    policy_key = ec.generate_private_key(ec.SECP256R1())
    document = {
        "version": 1,
        "site": SITE,
        "issued_at": now.isoformat(),
        "schedules": {"office": {"windows": []}},
        "buildings": {"b1": {"name": "1동"}},
        "zones": {"z1": {"building": "b1"}},
        "doors": {"d1": {"zone": "z1", "direction": "entry"}},
        "posture_defaults": {p: {} for p in ("normal", "level4", "level3", "level2", "level1")}
        | {"lockdown": {"entry": False}, "fire": {"entry": False}},
    }
    signed = sign_document(json.dumps(document).encode(), policy_key)
    statuses = StatusList(ENTRIES, 2)
    for index in random.Random(SEED).sample(range(ENTRIES), int(ENTRIES * INVALID_RATE)):
        statuses.set(index, Status.INVALID)
    return _World(
        keys.status_signer.key,
        TrustStore([keys.iaca.certificate]),
        load_signed(signed, policy_key.public_key()),
        policy_key.public_key(),
        statuses,
    )


class _Node:
    """One gate's sync: its own client, verifier, status cache and sync store."""

    def __init__(self, n: int, world: _World, root: Path, on_installed: Callable[[], None]) -> None:
        cache = StatusCache({URI: world.status_key.public_key()})
        verifier = Verifier(world.trust, cache)
        store_dir = root / f"node-{n}"
        store_dir.mkdir()
        self.id = f"bench-{n:03d}"
        self.syncer = Syncer(
            verifier, world.policy, world.policy_key, SyncStore(store_dir), SITE, _NoSink()
        )
        self.version = 0
        self.installed_at = 0.0
        self.refused: list[str] = []
        self._on_installed = on_installed
        self.ready = asyncio.Event()

    async def run(self, broker: Broker, floor_topic: str) -> None:
        async with aiomqtt.Client(broker.host, broker.port, identifier=self.id) as client:
            for name in ("status_list", "status_list_delta"):
                await client.subscribe(topics.subscription(name, site=SITE), qos=1)
            await client.subscribe(floor_topic, qos=1)
            self.ready.set()
            async for message in client.messages:
                payload = message.payload
                assert isinstance(payload, bytes)
                if str(message.topic) == floor_topic:
                    self.installed_at = time.perf_counter()
                    self._on_installed()
                    continue
                await self._apply(str(message.topic), payload, message.retain)

    async def _apply(self, topic: str, payload: bytes, retained: bool) -> None:
        found = topics.match(topic)
        assert found is not None
        now = dt.datetime.now(dt.UTC)
        # As the node does (gateway/node/runtime/inbound.py): off the loop, for the fsyncs.
        events = await asyncio.to_thread(
            self.syncer.handle, found.name, found.params, payload, retained=retained, now=now
        )
        for event in events:
            if event.kind == "sync":
                self.version = int(event.fields["version"])
                self.installed_at = time.perf_counter()
                self._on_installed()
            else:
                self.refused.append(str(event.fields.get("reason")))


class _Rounds:
    def __init__(self, nodes: list[_Node]) -> None:
        self.nodes = nodes
        self.changed = asyncio.Event()

    def poke(self) -> None:
        self.changed.set()

    async def until(self, done: Callable[[_Node], bool], timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout):
            while not all(done(n) for n in self.nodes):
                self.changed.clear()
                await self.changed.wait()


def _reached(node: _Node, *, version: int) -> bool:
    return node.version >= version


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1e3, 2), "p99_ms": round(p99 * 1e3, 2)}


async def _measure(n_nodes: int, rounds: int, broker: Broker) -> dict[str, Any]:
    world = _world()
    floor_topic = f"gateway/{SITE}/bench/floor"
    with tempfile.TemporaryDirectory() as tmp:
        nodes: list[_Node] = []
        tracker = _Rounds(nodes)
        nodes.extend(_Node(i, world, Path(tmp), tracker.poke) for i in range(n_nodes))
        tasks = [asyncio.create_task(n.run(broker, floor_topic)) for n in nodes]
        try:
            async with asyncio.timeout(30):
                await asyncio.gather(*(n.ready.wait() for n in nodes))
            return await _rounds(world, nodes, tracker, rounds, broker, floor_topic)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _rounds(
    world: _World, nodes: list[_Node], tracker: _Rounds, rounds: int, broker: Broker, floor: str
) -> dict[str, Any]:
    series: dict[str, list[float]] = {
        k: [] for k in ("token", "delta", "floor_token", "floor_delta")
    }
    per_node: dict[str, list[float]] = {k: [] for k in ("token", "delta")}
    sizes: dict[str, int] = {}
    iat = int(time.time()) - 2 * rounds - 10
    list_id = list_id_for(URI)
    async with aiomqtt.Client(broker.host, broker.port, identifier="bench-centre") as centre:
        for k in range(rounds):
            world.statuses.set(1000 + 2 * k, Status.INVALID)
            iat += 2
            token = sign_status_list_token(
                world.statuses, key=world.status_key, uri=URI, issued_at=iat,
                expires_at=None, ttl=24 * 3600,
            )  # fmt: skip
            delta = make_delta(
                uri=URI, base=iat, iat=iat + 1, changes=[(1001 + 2 * k, int(Status.INVALID))],
                key=world.status_key,
            )  # fmt: skip
            sizes = {"token_bytes": len(token), "delta_bytes": len(delta)}
            sends: list[tuple[str, Callable[[], Awaitable[None]], int, int]] = [
                ("token", functools.partial(publish_status_token, centre, SITE, token),
                 iat, len(token)),
                ("delta", functools.partial(publish_status_delta, centre, SITE, list_id, delta),
                 iat + 1, len(delta)),
            ]  # fmt: skip
            for kind, send, version, size in sends:
                t0 = time.perf_counter()
                await send()
                await tracker.until(functools.partial(_reached, version=version))
                series[kind].append(max(n.installed_at for n in nodes) - t0)
                per_node[kind].extend(n.installed_at - t0 for n in nodes)
                for n in nodes:
                    n.installed_at = 0.0
                t0 = time.perf_counter()
                await centre.publish(floor, b"\x00" * size, qos=1)
                await tracker.until(lambda n: n.installed_at > 0)
                series[f"floor_{kind}"].append(max(n.installed_at for n in nodes) - t0)
                for n in nodes:
                    n.installed_at = 0.0
    refused = sorted({r for n in nodes for r in n.refused})
    out: dict[str, Any] = {"nodes": len(nodes), "rounds": rounds, **sizes}
    for kind in ("token", "delta"):
        ours, floor_ = _percentiles(series[kind]), _percentiles(series[f"floor_{kind}"])
        out[kind] = {
            "all_nodes": ours,
            "per_node": _percentiles(per_node[kind]),
            "floor_all_nodes": floor_,
            "ratio_p50": round(ours["p50_ms"] / max(floor_["p50_ms"], 0.01), 1),
        }
    out["refused"] = refused
    out["target_p99_under_1s"] = {
        kind: out[kind]["all_nodes"]["p99_ms"] < TARGET_P99_S * 1e3 for kind in ("token", "delta")
    }
    return out


def run(nodes: int = NODES, rounds: int = ROUNDS) -> dict[str, Any]:
    if mosquitto_path() is None:
        return {"skipped": "mosquitto is not installed"}
    with running_mosquitto() as broker:
        return asyncio.run(_measure(nodes, rounds, broker))
