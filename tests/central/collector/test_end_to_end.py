"""Real node outbox + publisher → our own Mosquitto → collector → store, exactly once."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.central.collector.config import load_collector_config
from gateway.central.collector.model import EventFilter, WriteSet
from gateway.central.collector.service import Collector
from gateway.central.collector.store import EventStore, SqliteStore, StoreError
from gateway.node.outbox import Outbox, Synchronous, public_key_bytes
from gateway.node.publisher import Publisher
from tests.mqtt.broker import Broker, mosquitto_path, running_mosquitto

TIMEOUT = 20.0
NODE = "gate-a"


@pytest.fixture(autouse=True)
def _needs_mosquitto() -> None:
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed")


class FlakyStore(SqliteStore):
    """Fails the first write that carries events, as a database outage would."""

    failed = False

    async def write(self, changes: WriteSet) -> int:
        if changes.events and not self.failed:
            self.failed = True
            raise StoreError("simulated outage")
        return await super().write(changes)


async def _no_wait(_: float) -> None:
    await asyncio.sleep(0)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _until_stored(collector: Collector, store: EventStore, n: int) -> None:
    async with asyncio.timeout(TIMEOUT):
        while await store.count() < n:
            collector.progress.clear()
            await collector.progress.wait()


def _config(
    tmp: Path, broker: Broker, site: str, key: Ed25519PrivateKey, protocol: int,
    share: str | None = None,
) -> Path:  # fmt: skip
    public = base64.urlsafe_b64encode(public_key_bytes(key)).decode().rstrip("=")
    group = "" if share is None else f'share_group = "{share}"\n'

    path = tmp / "collector.toml"
    path.write_text(
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\nprotocol = {protocol}\n'
        f'client_id = "collector-{site}"\nsite = "{site}"\nsession_expiry_s = 300\n{group}'
        f'[store]\nurl = "sqlite:store.sqlite"\n[nodes.{NODE}]\npublic_key = "{public}"\n',
        encoding="utf-8",
    )
    return path


@contextlib.asynccontextmanager
async def _node(tmp: Path, broker: Broker, site: str) -> AsyncIterator[tuple[Outbox, Publisher]]:
    box = Outbox(
        tmp / "outbox.sqlite", Ed25519PrivateKey.generate(), synchronous=Synchronous.NORMAL
    )
    publisher = Publisher(box, hostname=broker.host, port=broker.port, site=site, node=NODE,
                          batch_size=25)  # fmt: skip
    task = asyncio.create_task(publisher.run())
    try:
        yield box, publisher
    finally:
        await _cancel(task)
        await box.aclose()


@pytest.mark.parametrize(("protocol", "share"), [(5, None), (5, "collectors"), (311, None)])
async def test_exactly_once_across_a_collector_restart(
    tmp_path: Path, protocol: int, share: str | None
) -> None:
    site = f"t-{uuid.uuid4().hex[:12]}"
    with running_mosquitto() as broker:
        async with _node(tmp_path, broker, site) as (box, publisher):
            config = _config(tmp_path, broker, site, box._key, protocol, share)
            loaded = load_collector_config(config)
            store = SqliteStore(tmp_path / "store.sqlite")
            first = Collector(loaded, store, reconnect_sleep=_no_wait)
            running = asyncio.create_task(first.run())
            async with asyncio.timeout(TIMEOUT):
                await first.subscribed.wait()
            for n in range(150):
                await box.append("decision", {"granted": True, "door": "d1", "n": n})
                publisher.notify()
            await _until_stored(first, store, 60)
            await _cancel(running)  # the collector goes away mid-stream

            for n in range(150, 300):
                await box.append("door", {"door_event": "door_opened", "door": "d1", "n": n})
                publisher.notify()
            async with asyncio.timeout(TIMEOUT):
                await publisher.wait_delivered(300)  # the broker queues for the session

            second = Collector(
                loaded, store, reconnect_sleep=_no_wait
            )  # same client id: same session
            running = asyncio.create_task(second.run())
            try:
                await _until_stored(second, store, 300)
            finally:
                await _cancel(running)
            page = await store.search(EventFilter(node=NODE), limit=1000)
            assert sorted(e.seq for e in page.events) == list(range(1, 301))
            assert await store.alarms() == []
            chain = await store.chain(NODE)
            assert chain is not None
            assert (chain.head_seq, chain.gaps) == (300, [])
            await store.close()


async def test_nothing_is_acknowledged_before_the_store_commits(tmp_path: Path) -> None:
    site = f"t-{uuid.uuid4().hex[:12]}"
    with running_mosquitto() as broker:
        async with _node(tmp_path, broker, site) as (box, publisher):
            loaded = load_collector_config(_config(tmp_path, broker, site, box._key, 5))
            store = FlakyStore(tmp_path / "store.sqlite")
            collector = Collector(loaded, store, reconnect_sleep=_no_wait)
            running = asyncio.create_task(collector.run())
            try:
                async with asyncio.timeout(TIMEOUT):
                    await collector.subscribed.wait()
                for n in range(40):
                    await box.append("decision", {"granted": False, "door": "d1", "n": n})
                publisher.notify()
                await _until_stored(collector, store, 40)
            finally:
                await _cancel(running)
            assert store.failed  # the first write failed, and its messages came back
            assert await store.count() == 40
            await store.close()
