"""The publisher on MQTT 3.1.1 through the embedded broker: once, in order, across a restart."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.mqtt.embedded import EmbeddedBroker
from gateway.mqtt.payloads import EventBatch
from gateway.mqtt.session import availability_will
from gateway.mqtt.topics import subscription
from gateway.node.outbox import Outbox, Synchronous
from gateway.node.publisher import Publisher
from tests.mqtt.embedded_broker import persistent, running_embedded

TIMEOUT = 30.0
NODE = "gate-a"
BURST = 500


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

    def __init__(self, site: str) -> None:
        self.site = site
        self.seen: set[tuple[str, int]] = set()
        self.seqs: list[int] = []
        self.duplicates = 0
        self._targets: list[tuple[int, asyncio.Event]] = []
        self.subscribed = asyncio.Event()

    def add(self, payload: bytes) -> None:
        batch = EventBatch.model_validate_json(payload)
        for event in batch.events:
            if (batch.node, event.seq) in self.seen:
                self.duplicates += 1
                continue
            self.seen.add((batch.node, event.seq))
            self.seqs.append(event.seq)
        for n, reached in self._targets:
            if len(self.seqs) >= n:
                reached.set()

    async def wait_for(self, n: int) -> None:
        reached = asyncio.Event()
        self._targets.append((n, reached))
        if len(self.seqs) >= n:
            reached.set()
        async with asyncio.timeout(TIMEOUT):
            await reached.wait()

    async def listen(self, broker: EmbeddedBroker) -> None:
        """A persistent 3.1.1 session as the collector account, until the connection goes."""
        self.subscribed.clear()
        with contextlib.suppress(aiomqtt.MqttError):
            async with persistent(broker, "collector", f"collector-{self.site}") as client:
                await client.subscribe(subscription("events", site=self.site), qos=1)
                self.subscribed.set()
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    self.add(message.payload)


def _publisher(outbox: Outbox, broker: EmbeddedBroker, site: str) -> Publisher:
    def node_client() -> aiomqtt.Client:  # 3.1.1 and the node's account
        return persistent(broker, NODE, NODE, will=availability_will(site, NODE))

    return Publisher(
        outbox, hostname=broker.host, port=broker.port, site=site, node=NODE,
        client_factory=node_client, batch_size=5, backoff_max=0.5,
    )  # fmt: skip


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _subscribed(collector: Collector, broker: EmbeddedBroker) -> asyncio.Task[None]:
    listener = asyncio.create_task(collector.listen(broker))
    async with asyncio.timeout(TIMEOUT):
        await collector.subscribed.wait()
    return listener


async def test_a_burst_of_500_arrives_once_in_order(outbox: Outbox, site: str) -> None:
    async with running_embedded() as broker:
        collector = Collector(site)
        listener = await _subscribed(collector, broker)
        for n in range(BURST):
            outbox.submit("door", {"n": n})
        await outbox.flush()
        publisher = _publisher(outbox, broker, site)
        task = asyncio.create_task(publisher.run())
        try:
            await collector.wait_for(BURST)
            async with asyncio.timeout(TIMEOUT):
                await publisher.wait_delivered(BURST)
        finally:
            await _cancel(task)
            await _cancel(listener)
    assert collector.seqs == list(range(1, BURST + 1))
    assert collector.duplicates == 0  # no reconnect, so not even a resend
    assert outbox.pending() == []
    assert publisher.sessions == 1


async def test_a_broker_restart_mid_burst_loses_nothing_and_keeps_order(
    outbox: Outbox, site: str
) -> None:
    async with running_embedded() as broker:
        collector = Collector(site)
        listener = await _subscribed(collector, broker)
        publisher = _publisher(outbox, broker, site)
        task = asyncio.create_task(publisher.run())
        try:
            for n in range(BURST):
                await outbox.append("door", {"n": n})
                publisher.notify()
                if n == 150:  # mid-stream: the publisher has a batch in flight
                    await collector.wait_for(50)
                    port = broker.port
                    await broker.stop()
                    await listener  # the collector saw its connection go
                    assert publisher.delivered_seq < BURST
                    await broker.start()
                    assert broker.port == port
                    # The publisher reconnects and delivers all 151 while the
                    # collector is away: its session was carried over the
                    # restart, so they wait in its queue.
                    async with asyncio.timeout(TIMEOUT):
                        await publisher.wait_delivered(n + 1)
                    listener = await _subscribed(collector, broker)
            await collector.wait_for(BURST)
            async with asyncio.timeout(TIMEOUT):
                await publisher.wait_delivered(BURST)
        finally:
            await _cancel(task)
            await _cancel(listener)
    assert collector.seqs == list(range(1, BURST + 1))
    assert outbox.pending() == []
    assert publisher.sessions >= 2  # it did reconnect and resend what was unacknowledged
