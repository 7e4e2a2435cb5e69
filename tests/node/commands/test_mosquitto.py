"""Against a real Mosquitto: the retain flag a subscriber sees decides, not the signature.

A command left retained on the commands topic reaches a node that subscribes
later with the retain flag set (MQTT delivers retained-on-subscribe messages
so); the gate refuses it. One published while the node is subscribed arrives
with the flag clear and is accepted.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from gateway.mqtt.topics import TOPICS, topic_for
from gateway.node.commands import Accepted, CommandGate, Refused, ReplayMemory
from tests.mqtt.broker import Broker, mosquitto_path, running_mosquitto
from tests.node.commands.kit import DOORS, NOW, Policies, command, policy, signed

TIMEOUT = 10.0


@pytest.fixture(scope="module")
def mosquitto() -> Iterator[Broker]:
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    with running_mosquitto() as broker:
        yield broker


async def next_message(client: aiomqtt.Client) -> aiomqtt.Message:
    async with asyncio.timeout(TIMEOUT):
        return await anext(aiter(client.messages))


def _payload(message: aiomqtt.Message) -> bytes:
    assert isinstance(message.payload, bytes)
    return message.payload


@pytest.mark.parametrize(
    "protocol", [aiomqtt.ProtocolVersion.V311, aiomqtt.ProtocolVersion.V5], ids=["3.1.1", "5"]
)
async def test_a_retained_command_is_refused_and_a_live_one_accepted(
    mosquitto: Broker, tmp_path: Path, protocol: aiomqtt.ProtocolVersion
) -> None:
    site = f"t-{uuid.uuid4().hex[:16]}"  # topics of this test alone
    node = "gate-6-01"
    gate = CommandGate(
        site, node, DOORS, Policies(policy()), ReplayMemory(tmp_path / "replay.sqlite3")
    )
    topic = topic_for("commands", site=site, node=node)
    qos = TOPICS["commands"].qos
    stale = signed(command(site=site, node=node))
    live = signed(command(site=site, node=node))

    host, port = mosquitto.host, mosquitto.port
    async with aiomqtt.Client(host, port, identifier=f"{site}-c", protocol=protocol) as centre:
        await centre.publish(topic, stale, qos=qos, retain=True)  # the mistake we guard against
        async with aiomqtt.Client(
            host, port, identifier=f"{site}-n", protocol=protocol
        ) as node_link:
            await node_link.subscribe(topic, qos=qos)
            first = await next_message(node_link)
            assert first.retain
            verdict = gate.check(_payload(first), retained=first.retain, now=NOW)
            assert isinstance(verdict, Refused)
            assert verdict.reason == "retained"

            await centre.publish(topic, live, qos=qos, retain=False)
            second = await next_message(node_link)
            assert not second.retain
            assert _payload(second) == live
            assert isinstance(gate.check(live, retained=second.retain, now=NOW), Accepted)
        await centre.publish(topic, b"", qos=qos, retain=True)  # clear the retained message
