"""A node wired to a real broker in this process, with the centre's keys in the test's hands.

The site is :func:`tests.node.test_node_app.write_site`'s, with the policy
re-signed by a key the test keeps and an operator allowed to command the
door, plus ``[mqtt]`` and ``[state]``. The node is the one ``gateway node``
runs (:func:`node_service`) with the memory reader, so a test taps cards in
microseconds and reads every event the node emits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.central.commands import operator_entry
from gateway.config.loader import load_node_config
from gateway.node.door import FakeClock
from gateway.node.policy import sign_document
from gateway.node.readers.memory import MemoryReader
from gateway.node.runtime import GateNode, NodeOptions, build_parts
from gateway.node.runtime.assemble import node_service
from gateway.node.runtime.service import NodeService
from simulator.holder.chip_card import ChipCard
from tests.credentials.conftest import CardHolder
from tests.node.test_node_app import NOW, POLICY, write_site

TIMEOUT = 15.0
SITE = "sejong-6"
NODE = "b6-in"
OPERATOR = "soc-1"


@dataclass
class CentreKeys:
    policy: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    operator: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )


def signed_policy(keys: CentreKeys, version: int, **changes: Any) -> bytes:
    document = {
        **POLICY,
        "version": version,
        "operators": {
            OPERATOR: operator_entry(keys.operator.public_key(), ["unlock", "relock", "resync"])
        },
        **changes,
    }
    return sign_document(json.dumps(document, ensure_ascii=False).encode(), keys.policy)


def write_linked_site(
    root: Path,
    host: str,
    port: int,
    protocol: int = 5,
    password: str | None = None,
    mqtt_extra: str = "",
) -> CentreKeys:
    config = write_site(root, "udp:127.0.0.1:50000")
    keys = CentreKeys()
    files = root / "simulated"
    (files / "policy-signer.pem").write_bytes(
        keys.policy.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (files / "policy.cose").write_bytes(signed_policy(keys, POLICY["version"]))
    login = ""
    if password is not None:
        secret = root / "broker.password"
        secret.write_text(password, encoding="utf-8")
        secret.chmod(0o600)
        login = 'password_file = "broker.password"\n'
    with config.open("a", encoding="utf-8") as f:
        f.write(
            f'\n[mqtt]\nhost = "{host}"\nport = {port}\nprotocol = {protocol}\n'
            f"heartbeat_seconds = 3600\n{login}{mqtt_extra}"
            '\n[state]\ndir = "state"\n'
        )
    return keys


class Seen:
    """Every event the node emits; wait for one that matches, with a deadline."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def __call__(self, record: dict[str, Any]) -> None:
        self.events.append(record)
        self._changed.set()

    async def next(self, match: Callable[[dict[str, Any]], bool], after: int = 0) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            while True:
                for record in self.events[after:]:
                    if match(record):
                        return record
                self._changed.clear()
                await self._changed.wait()

    def mark(self) -> int:
        return len(self.events)


@dataclass
class LinkedNode:
    service: NodeService
    gate: GateNode
    reader: MemoryReader
    seen: Seen
    keys: CentreKeys
    clock: Callable[[], dt.datetime]

    async def tap(self, holder: CardHolder, uid: bytes = b"\x01\x02\x03\x04") -> dict[str, Any]:
        mark = self.seen.mark()
        self.reader.present(uid, ChipCard(holder.card_object, holder.card_key))
        return await self.seen.next(lambda r: r["event"] == "decision", mark)


@asynccontextmanager
async def linked_node(
    root: Path, keys: CentreKeys, now: Callable[[], dt.datetime] = lambda: NOW
) -> AsyncIterator[LinkedNode]:
    loaded = load_node_config(root / "node.toml")
    options = NodeOptions(simulated=True, status_tokens=[root / "simulated" / "status.cwt"])
    parts = build_parts(loaded, options, now=now(), clock=FakeClock())
    reader = MemoryReader()
    parts.reader = reader
    seen = Seen()
    gate = GateNode(parts, now=now, listeners=(seen,), retap_holdoff_s=0.0)
    service = node_service(loaded, gate, now=now)
    await service.start()
    try:
        assert service.publisher is not None
        async with asyncio.timeout(TIMEOUT):
            await service.publisher.connected.wait()
        yield LinkedNode(service, gate, reader, seen, keys, now)
    finally:
        await service.shutdown("test over")
