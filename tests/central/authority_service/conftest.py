"""An authority with people and a phone, a config naming it, and a gate node that listens."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import aiomqtt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.central.authority.service import Authority
from gateway.central.authority_service.build import RunningAuthority, start_authority
from gateway.central.authority_service.config import load_service_config
from gateway.credentials.status_list import StatusCache, StatusOutcome, StatusReference
from gateway.credentials.trust import TrustStore
from gateway.credentials.verifier import Verifier
from gateway.mqtt import topics
from gateway.node.policy import load_signed, sign_document
from gateway.node.sync import Syncer, SyncEvent, SyncStore
from tests.central.conftest import EXAMPLES, KIM, NOW, new_authority
from tests.mqtt.broker import CONF, HOST, mosquitto_path
from tests.node.policy.site import site as policy_site
from tests.node.sync.conftest import Sink

TIMEOUT = 10.0


class Wall:
    """The service's and the node's clock: moves only when told."""

    def __init__(self, start: dt.datetime = NOW) -> None:
        self.at = start

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += dt.timedelta(seconds=seconds)


@dataclass
class Setup:
    tmp: Path
    db: Path
    policy_key: ec.EllipticCurvePrivateKey
    kim_mobile: str  # serial
    kim_index: int
    status_uri: str
    site: str = field(default_factory=lambda: f"auth-{uuid.uuid4().hex[:10]}")
    wall: Wall = field(default_factory=Wall)

    def config(self, port: int, **extra: str) -> Path:
        lines = [
            f'authority_db = "{self.db}"',
            'state_db = "state.sqlite"',
            f'sites = ["{self.site}"]',
            "poll_interval_s = 0.05",
            "[mqtt]",
            f"port = {port}",
            f'client_id = "authority-{self.site}"',
            "reconnect_initial_s = 0.05",
            "reconnect_max_s = 0.2",
            "ack_timeout_s = 2.0",
            "[keys]",
            'policy_signer_key = "policy.pem"',
        ]
        lines += [f"{key} = {value}" for key, value in extra.items()]
        path = self.tmp / "authority-service.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    async def start(self, port: int) -> RunningAuthority:
        return await start_authority(load_service_config(self.config(port)), wall=self.wall)


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    db = tmp_path / "authority.db"
    with new_authority(db, capacity=4096) as authority:
        authority.enroll_file(EXAMPLES / "hr-export.csv", now=NOW, actor="hr", reason="load")
        phone = ec.generate_private_key(ec.SECP256R1())
        issued = authority.issue_mobile(KIM, phone.public_key(), now=NOW, actor="clerk")
        serial, index = issued.credential.serial, issued.credential.status_index
        uri = authority.status_uri
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "policy.pem").write_bytes(pem)
    return Setup(tmp_path, db, key, serial, index, uri)


@dataclass
class GateNode:
    """A node's Syncer fed from MQTT; ``arrived`` holds (perf time, event) per sync event."""

    syncer: Syncer
    cache: StatusCache
    setup: Setup
    arrived: list[tuple[float, SyncEvent]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def status_of(self, index: int) -> StatusOutcome:
        ref = StatusReference(index, self.setup.status_uri)
        return self.cache.lookup(ref, int(self.setup.wall().timestamp()))

    async def wait_for(self, what: str, version: int) -> float:
        """The perf_counter reading when a ``sync`` of ``what`` at ``version`` arrived."""
        while True:
            for at, event in self.arrived:
                fields = event.fields
                if event.kind == "sync" and (fields["what"], fields["version"]) == (what, version):
                    return at
            self.changed.clear()
            await self.changed.wait()


def gate_node(setup: Setup) -> GateNode:
    with Authority.open(setup.db) as authority:
        iaca = authority.iaca_certificate
        status_key = authority.status_signer_certificate.public_key()
    assert isinstance(status_key, ec.EllipticCurvePublicKey)
    cache = StatusCache({setup.status_uri: status_key})
    policy = load_signed(
        sign_document(json.dumps(policy_site(version=1)).encode(), setup.policy_key),
        setup.policy_key.public_key(),
    )
    syncer = Syncer(
        Verifier(TrustStore([iaca]), cache),
        policy,
        setup.policy_key.public_key(),
        SyncStore(setup.tmp / f"node-{uuid.uuid4().hex[:6]}"),
        setup.site,
        Sink(),
    )
    return GateNode(syncer, cache, setup)


@contextlib.asynccontextmanager
async def listening(node: GateNode, port: int) -> AsyncIterator[None]:
    """Subscribe the node to its site's sync topics; yields once subscribed."""
    names = ("status_list", "status_list_delta", "policy", "posture")
    async with aiomqtt.Client(HOST, port, identifier=uuid.uuid4().hex) as client:
        for name in names:
            await client.subscribe(topics.subscription(name, site=node.setup.site), qos=1)

        async def pump() -> None:
            async for message in client.messages:
                found = topics.match(message.topic.value)
                assert found is not None
                assert isinstance(message.payload, bytes)
                events = node.syncer.handle(
                    found.name,
                    found.params,
                    message.payload,
                    retained=message.retain,
                    now=node.setup.wall(),
                )
                at = time.perf_counter()
                node.arrived += [(at, event) for event in events]
                node.changed.set()

        task = asyncio.create_task(pump())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@contextlib.contextmanager
def mosquitto_on(port: int, directory: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Mosquitto with the test config on a given port: a broker that comes back where it was."""
    exe = mosquitto_path()
    if exe is None:
        pytest.skip("mosquitto is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    conf = directory / "mosquitto.conf"
    conf.write_text(Template(CONF.read_text()).substitute(port=port, data_dir=directory))
    proc = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
                break
            time.sleep(0.02)  # polling the port, as tests/mqtt/broker.py does
        else:
            raise RuntimeError("mosquitto did not start")
        yield proc
    finally:
        proc.terminate()
        proc.wait(5)
