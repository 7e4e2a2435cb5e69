"""End to end over a real Mosquitto: the centre publishes retained, a fresh node installs once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from gateway.central import sync_publish
from gateway.mqtt import topics
from gateway.node.sync import SyncEvent
from tests.credentials.conftest import NOW
from tests.mqtt.broker import Broker, mosquitto_path, running_mosquitto
from tests.node.sync.conftest import LIST, SITE, T0, Keys, Node, boot

TIMEOUT = 10.0


@pytest.fixture(scope="module")
def mosquitto() -> Iterator[Broker]:
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed")
    with running_mosquitto() as broker:
        yield broker


async def receive(broker: Broker, node: Node, count: int) -> list[SyncEvent]:
    """Connect afresh, take ``count`` retained messages, feed them to the syncer."""
    events: list[SyncEvent] = []
    async with aiomqtt.Client(broker.host, broker.port, identifier=uuid.uuid4().hex) as client:
        for name in ("status_list", "policy", "posture"):
            await client.subscribe(topics.subscription(name, site=SITE), qos=1)
        async with asyncio.timeout(TIMEOUT):
            messages = aiter(client.messages)
            for _ in range(count):
                message = await anext(messages)
                assert message.retain
                found = topics.match(message.topic.value)
                assert found is not None
                assert isinstance(message.payload, bytes)
                events += node.syncer.handle(
                    found.name, found.params, message.payload, retained=True, now=NOW
                )
    return events


async def test_retained_documents_install_once(
    mosquitto: Broker, keys: Keys, tmp_path: Path
) -> None:
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as centre:
        await sync_publish.publish_status_token(centre, SITE, keys.token(T0 + 10))
        await sync_publish.publish_policy(centre, SITE, keys.policy_doc(8))
        await sync_publish.publish_posture(centre, SITE, keys.posture(4, posture="level3"))
    node = boot(keys, tmp_path)
    events = await receive(mosquitto, node, 3)
    assert sorted((e.kind, e.fields["what"], e.fields["version"]) for e in events) == [
        ("sync", "policy", 8),
        ("sync", "posture", 4),
        ("sync", "status_list", T0 + 10),
    ]
    assert sync_publish.list_id_for("https://csid.mpm.go.kr/status/0123abcd") == "0123abcd"
    assert node.syncer.snapshot(NOW, "b6-lobby")["status_lists"][LIST]["version"] == T0 + 10
    assert await receive(mosquitto, node, 3) == []  # redelivered on reconnect: no-ops
