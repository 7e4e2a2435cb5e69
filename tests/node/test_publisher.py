"""The publisher against a real Mosquitto (our own, on a free port): order, outages, refusals."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.mqtt.payloads import EventBatch
from gateway.mqtt.session import availability_will, persistent_client, session_properties
from gateway.mqtt.topics import acl_patterns, subscription
from gateway.node.outbox import Outbox, Synchronous
from gateway.node.publisher import REFUSED_KIND, Publisher
from tests.mqtt.broker import Broker, mosquitto_path, running_mosquitto

TIMEOUT = 15.0
NODE = "gate-a"


@pytest.fixture(autouse=True)
def _needs_mosquitto() -> None:
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")


@pytest.fixture
def site() -> str:
    return f"t-{uuid.uuid4().hex[:16]}"


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    box = Outbox(
        tmp_path / "outbox.sqlite", Ed25519PrivateKey.generate(), synchronous=Synchronous.NORMAL
    )
    yield box
    await box.aclose()


class Collector:
    """A subscriber's view: events deduplicated by (node, seq), in first-arrival order."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, int]] = set()
        self.seqs: list[int] = []
        self.target = 0
        self.reached = asyncio.Event()
        self.subscribed = asyncio.Event()

    def add(self, payload: bytes) -> None:
        batch = EventBatch.model_validate_json(payload)
        for event in batch.events:
            if (batch.node, event.seq) not in self.seen:
                self.seen.add((batch.node, event.seq))
                self.seqs.append(event.seq)
        if len(self.seqs) >= self.target:
            self.reached.set()

    async def wait_for(self, n: int) -> None:
        self.target = n
        if len(self.seqs) < n:
            self.reached.clear()
            async with asyncio.timeout(TIMEOUT):
                await self.reached.wait()

    async def listen(self, broker: Broker, site: str) -> None:
        """Subscribe with a persistent session and collect until the connection goes."""
        self.subscribed.clear()
        with contextlib.suppress(aiomqtt.MqttError):
            async with persistent_client(
                broker.host, broker.port, f"collector-{site}", expiry_s=300
            ) as client:
                await client.subscribe(subscription("events", site=site), qos=1)
                self.subscribed.set()
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    self.add(message.payload)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_200_events_arrive_once_in_order_and_are_marked_delivered(
    outbox: Outbox, site: str
) -> None:
    with running_mosquitto() as broker:
        collector = Collector()
        listener = asyncio.create_task(collector.listen(broker, site))
        async with asyncio.timeout(TIMEOUT):
            await collector.subscribed.wait()
        for n in range(100):  # half before the publisher starts, half while it runs
            outbox.submit("door", {"n": n})
        await outbox.flush()
        publisher = Publisher(
            outbox, hostname=broker.host, port=broker.port, site=site, node=NODE, batch_size=32
        )
        task = asyncio.create_task(publisher.run())
        try:
            for n in range(100, 200):
                await outbox.append("door", {"n": n})
                publisher.notify()
            await collector.wait_for(200)
            async with asyncio.timeout(TIMEOUT):
                await publisher.wait_delivered(200)
        finally:
            await _cancel(task)
            await _cancel(listener)
    assert collector.seqs == list(range(1, 201))
    assert outbox.pending() == []
    assert outbox.depth[0] == 0


def _restart(process: subprocess.Popen[bytes], host: str, port: int) -> subprocess.Popen[bytes]:
    """Start the same mosquitto command (same config, same port) again."""
    proc = subprocess.Popen(process.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.02)  # polling interval for the port, not a wait for an outcome
    proc.kill()
    proc.wait()
    raise RuntimeError("mosquitto did not restart")


@contextlib.contextmanager
def _reaped(procs: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    try:
        yield
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)


async def test_broker_outage_mid_stream_loses_nothing_and_keeps_order(
    outbox: Outbox, site: str
) -> None:
    # Persistence on: the collector's queued messages survive the broker's restart.
    restarted: list[subprocess.Popen[bytes]] = []
    with running_mosquitto(extra="\npersistence true\n") as broker, _reaped(restarted):
        broker_up = asyncio.Event()
        broker_up.set()

        async def gated_sleep(_delay: float) -> None:  # reconnect backoff waits for the broker
            await broker_up.wait()

        collector = Collector()
        listener = asyncio.create_task(collector.listen(broker, site))
        async with asyncio.timeout(TIMEOUT):
            await collector.subscribed.wait()
        publisher = Publisher(
            outbox, hostname=broker.host, port=broker.port, site=site, node=NODE,
            batch_size=5, sleep=gated_sleep,
        )  # fmt: skip
        task = asyncio.create_task(publisher.run())
        try:
            for n in range(150):
                await outbox.append("door", {"n": n})
                publisher.notify()
                if n == 100:
                    await collector.wait_for(20)
                    broker_up.clear()
                    broker.process.terminate()  # mid-stream: the publisher is still sending
                    await asyncio.to_thread(broker.process.wait, TIMEOUT)
                    await listener
            assert publisher.delivered_seq < 150  # the last 49 were appended while it was down
            restarted.append(
                await asyncio.to_thread(_restart, broker.process, broker.host, broker.port)
            )
            listener = asyncio.create_task(collector.listen(broker, site))
            async with asyncio.timeout(TIMEOUT):
                await collector.subscribed.wait()
            broker_up.set()
            await collector.wait_for(150)
            async with asyncio.timeout(TIMEOUT):
                await publisher.wait_delivered(150)
        finally:
            await _cancel(task)
            await _cancel(listener)
    assert collector.seqs == list(range(1, 151))
    assert publisher.sessions >= 2  # it did reconnect and resend
    assert outbox.pending() == []


async def test_a_refused_puback_leaves_events_pending_and_raises_an_alarm(
    outbox: Outbox, site: str
) -> None:
    acl = "\n".join([*acl_patterns(site), ""])
    with running_mosquitto(extra="\nacl_file $data_dir/acl\n", files={"acl": acl}) as broker:

        def intruder() -> aiomqtt.Client:  # not gate-a: the ACL refuses gate-a's topics
            return aiomqtt.Client(
                broker.host, broker.port, identifier=f"intruder-{site}", username="intruder",
                protocol=aiomqtt.ProtocolVersion.V5, clean_start=False,
                properties=session_properties(300), will=availability_will(site, NODE),
            )  # fmt: skip

        backed_off: asyncio.Future[float] = asyncio.get_running_loop().create_future()

        async def sleep(delay: float) -> None:
            if not backed_off.done():
                backed_off.set_result(delay)
            await asyncio.Event().wait()  # stay backed off until cancelled

        for n in range(5):
            await outbox.append("door", {"n": n})
        publisher = Publisher(
            outbox, hostname=broker.host, port=broker.port, site=site, node=NODE,
            client_factory=intruder, sleep=sleep,
        )  # fmt: skip
        task = asyncio.create_task(publisher.run())
        try:
            async with asyncio.timeout(TIMEOUT):
                assert await backed_off > 0
        finally:
            await _cancel(task)
    pending = outbox.pending()
    assert [e.seq for e in pending] == [1, 2, 3, 4, 5, 6]
    assert [e.kind for e in pending[:5]] == ["door"] * 5
    alarm = pending[5]
    assert alarm.kind == REFUSED_KIND
    assert alarm.payload["reason_code"] == 0x87
    assert (alarm.payload["first_seq"], alarm.payload["last_seq"]) == (1, 5)
    assert publisher.delivered_seq == 0
