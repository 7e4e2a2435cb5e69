"""The same node against the embedded broker of ``gateway demo`` (amqtt, MQTT 3.1.1, logins).

A revocation published by the centre denies the next tap; the node's events reach a
persistent subscriber exactly once; a forged token raises a security event.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.central.sync_publish import publish_status_token
from gateway.credentials.status_list import Status
from gateway.mqtt.payloads import EventBatch
from gateway.mqtt.topics import subscription
from tests.mqtt.embedded_broker import ACCOUNTS as KNOWN
from tests.mqtt.embedded_broker import persistent, running_embedded
from tests.node.link.site import NODE, SITE, linked_node, write_linked_site
from tests.node.test_node_app import NOW, WORLD

ACCOUNTS = {**KNOWN, NODE: "pw-node"}
T0 = int(NOW.timestamp())


async def test_revocation_and_events_over_the_embedded_broker(tmp_path: Path) -> None:
    async with running_embedded(ACCOUNTS) as broker:
        keys = write_linked_site(
            tmp_path, broker.host, broker.port, protocol=311, password=ACCOUNTS[NODE]
        )
        seqs: list[int] = []
        got = asyncio.Event()

        async def collect() -> None:
            async with persistent(broker, "collector", "collector-1") as client:
                await client.subscribe(subscription("events", site=SITE), qos=1)
                subscribed.set()
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    seqs.extend(
                        e.seq for e in EventBatch.model_validate_json(message.payload).events
                    )
                    got.set()

        subscribed = asyncio.Event()
        collector = asyncio.create_task(collect())
        async with asyncio.timeout(15):
            await subscribed.wait()
        card = WORLD.issue_card(70)
        async with linked_node(tmp_path, keys) as node:
            assert (await node.tap(card))["granted"] is True
            WORLD.set_status(card.index, Status.INVALID)
            async with persistent(broker, "authority", "authority-1") as centre:
                mark = node.seen.mark()
                await publish_status_token(centre, SITE, WORLD.token(iat=T0 + 10))
                await node.seen.next(lambda r: r["event"] == "sync", mark)
            denied = await node.tap(card)
            assert denied["reason"] == "revoked"
            await node.service.outbox.flush()
            head = node.service.outbox.head[0]
            assert node.service.publisher is not None
            async with asyncio.timeout(15):
                await node.service.publisher.wait_delivered(head)
                while len(set(seqs)) < head:
                    got.clear()
                    await got.wait()
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)
    # Every event up to the head read before the stop, and the stop's own (drained at shutdown)
    # with no gap.
    assert sorted(set(seqs)) == list(range(1, max(seqs) + 1))
    assert max(seqs) >= head
