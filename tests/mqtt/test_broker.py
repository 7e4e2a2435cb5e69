"""Against a real Mosquitto (our own, on a free port): Last Will and persistent sessions."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import aiomqtt
import pytest

from gateway.mqtt.session import persistent_client
from gateway.mqtt.topics import TOPICS, match, subscription, topic_for
from tests.mqtt.broker import Broker

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 10.0


async def next_message(client: aiomqtt.Client) -> aiomqtt.Message:
    async with asyncio.timeout(TIMEOUT):
        return await anext(aiter(client.messages))


async def test_availability_is_retained_and_the_last_will_says_offline(
    mosquitto: Broker, site: str
) -> None:
    node = f"gate-{site[2:12]}"  # client ids are broker-wide: unique per test too
    availability = topic_for("availability", site=site, node=node)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.mqtt.will_client", mosquitto.host, str(mosquitto.port),
         site, node],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), TIMEOUT)
        assert line == b"ready\n", proc.stderr.read() if proc.stderr else b""

        # A late subscriber gets the retained `online`.
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as watcher:
            await watcher.subscribe(subscription("availability", site=site), qos=1)
            first = await next_message(watcher)
            assert (str(first.topic), first.payload, first.retain) == (
                availability,
                b"online",
                True,
            )

            proc.kill()  # SIGKILL: no DISCONNECT, the broker must send the Will
            proc.wait(TIMEOUT)
            will = await next_message(watcher)
            assert (str(will.topic), will.payload) == (availability, b"offline")
            assert match(str(will.topic)) == ("availability", {"site": site, "node": node})

        # ...and the `offline` stays retained for whoever asks next.
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as later:
            await later.subscribe(availability, qos=1)
            retained = await next_message(later)
            assert (retained.payload, retained.retain) == (b"offline", True)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("protocol", [aiomqtt.ProtocolVersion.V5, aiomqtt.ProtocolVersion.V311])
async def test_persistent_session_receives_what_was_published_while_away_in_order(
    mosquitto: Broker, site: str, protocol: aiomqtt.ProtocolVersion
) -> None:
    collector_id = f"collector-{site}"
    events = TOPICS["events"]
    node_topic = topic_for("events", site=site, node="gate-1")

    async with persistent_client(
        mosquitto.host, mosquitto.port, collector_id, protocol=protocol, expiry_s=300
    ) as collector:
        await collector.subscribe(subscription("events", site=site), qos=events.qos)

    # The collector is away; the node publishes a burst at QoS 1.
    n = 50
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as node:
        for seq in range(1, n + 1):
            await node.publish(node_topic, json.dumps({"seq": seq}).encode(), qos=events.qos)

    # A new Client object with the same id: without clean_start=False explicit
    # it would be a "first connect" and start clean.
    got: list[int] = []
    async with persistent_client(
        mosquitto.host, mosquitto.port, collector_id, protocol=protocol, expiry_s=300
    ) as collector:
        while len(got) < n:
            message = await next_message(collector)
            assert match(str(message.topic)) == ("events", {"site": site, "node": "gate-1"})
            assert message.qos == 1
            assert isinstance(message.payload, bytes)
            got.append(json.loads(message.payload)["seq"])
    assert got == list(range(1, n + 1))


async def test_without_session_expiry_mqtt5_queues_nothing(mosquitto: Broker, site: str) -> None:
    """The Mosquitto 2 fact the session settings rest on: expiry 0 ends the session."""
    collector_id = f"collector-{site}"
    topic = topic_for("events", site=site, node="gate-1")
    async with persistent_client(mosquitto.host, mosquitto.port, collector_id, expiry_s=0) as c:
        await c.subscribe(topic, qos=1)
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as node:
        await node.publish(topic, b"lost", qos=1)
    async with persistent_client(mosquitto.host, mosquitto.port, collector_id, expiry_s=0) as c:
        # Subscribe again (the session is gone) and prove the channel works: only the
        # marker arrives, never the message published while away.
        await c.subscribe(topic, qos=1)
        await c.publish(topic, b"marker", qos=1)
        message = await next_message(c)
        assert message.payload == b"marker"
