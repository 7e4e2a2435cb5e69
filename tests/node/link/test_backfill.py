"""Events the broker acknowledged and then lost come back: the collector asks the node again.

The node starts before any collector has subscribed, so its first events are
PUBACKed and dropped by the broker (as across a broker restart that forgot a
subscription). When the collector then sees the node's next events it has a gap;
it raises ``integrity_gap``, publishes a resend request, the node re-publishes
the range from its outbox, the gap fills and the alarm clears.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from pathlib import Path

import pytest

from gateway.central.collector.config import load_collector_config
from gateway.central.collector.service import Collector
from gateway.central.collector.store import SqliteStore
from gateway.node.outbox import load_or_create_node_key, public_key_bytes
from tests.mqtt.broker import mosquitto_path, running_mosquitto
from tests.node.link.site import NODE, SITE, linked_node, write_linked_site
from tests.node.test_node_app import WORLD

pytestmark = pytest.mark.skipif(mosquitto_path() is None, reason="mosquitto is not installed")
TIMEOUT = 15.0


def _collector_config(root: Path, port: int) -> Path:
    key = load_or_create_node_key(root / "state" / "node.key")
    public = base64.urlsafe_b64encode(public_key_bytes(key)).decode().rstrip("=")
    path = root / "collector.toml"
    path.write_text(
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nsite = "{SITE}"\n'
        'client_id = "collector-backfill"\nsession_expiry_s = 300\n'
        f'[store]\nurl = "sqlite:store.sqlite"\n[nodes.{NODE}]\npublic_key = "{public}"\n',
        encoding="utf-8",
    )
    return path


async def test_a_gap_the_broker_made_is_filled_by_asking_the_node_again(tmp_path: Path) -> None:
    with running_mosquitto() as broker:
        keys = write_linked_site(tmp_path, broker.host, broker.port)
        async with linked_node(tmp_path, keys) as node:
            publisher = node.service.publisher
            assert publisher is not None
            await node.service.outbox.flush()
            lost_head = node.service.outbox.head[0]
            async with asyncio.timeout(TIMEOUT):
                await publisher.wait_delivered(lost_head)  # acknowledged; nobody subscribed
            assert lost_head >= 1

            store = SqliteStore(tmp_path / "store.sqlite")
            collector = Collector(
                load_collector_config(_collector_config(tmp_path, broker.port)), store
            )
            running = asyncio.create_task(collector.run())
            try:
                async with asyncio.timeout(TIMEOUT):
                    await collector.subscribed.wait()
                await node.tap(WORLD.issue_card(90))
                await node.service.outbox.flush()
                head = node.service.outbox.head[0]
                async with asyncio.timeout(TIMEOUT):
                    while (chain := await store.chain(NODE)) is None or chain.head_seq < head:
                        collector.progress.clear()
                        await collector.progress.wait()
                alarms = await store.alarms(open_only=False)
            finally:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
                await store.close()
            resends = [r for r in node.seen.events if r["event"] == "resend"]
    assert chain.gaps == []
    gap_alarms = [a for a in alarms if a.kind.value == "integrity_gap"]
    assert gap_alarms, "the gap was seen"
    assert all(a.cleared_at is not None for a in gap_alarms)  # and resolved, not left open
    assert resends[0]["outcome"] == "queued"
    assert resends[0]["from_seq"] == 1
    assert publisher.resent >= lost_head
    assert collector.ingest.stats.resend_requests >= 1
