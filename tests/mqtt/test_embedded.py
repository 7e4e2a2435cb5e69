"""The embedded broker (amqtt 0.12, MQTT 3.1.1): accounts, retained, Will, persistent sessions.

Each test starts its own broker on a free loopback port. Some tests pin down
amqtt behaviour that docs/embedded-broker.md relies on or warns about.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import aiomqtt
import pytest

from gateway.mqtt.embedded import EmbeddedBroker, EmbeddedBrokerError
from gateway.mqtt.topics import subscription, topic_for
from tests.mqtt.embedded_broker import ACCOUNTS, V311, client, persistent, running_embedded

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 10.0


async def next_message(c: aiomqtt.Client) -> aiomqtt.Message:
    async with asyncio.timeout(TIMEOUT):
        return await anext(aiter(c.messages))


async def test_binds_the_loopback_on_a_free_port_and_refuses_the_wildcard() -> None:
    for wildcard in ("0.0.0.0", "::"):
        with pytest.raises(EmbeddedBrokerError, match="wildcard"):
            EmbeddedBroker(ACCOUNTS, host=wildcard)
    with pytest.raises(EmbeddedBrokerError, match="anonymous"):
        EmbeddedBroker({})
    async with running_embedded() as broker:
        assert (broker.host, broker.url) == ("127.0.0.1", f"mqtt://127.0.0.1:{broker.port}")
        assert broker.port > 0
        sockets = broker._broker._servers["default"].instance.sockets
        assert [s.getsockname()[0] for s in sockets] == ["127.0.0.1"]


async def test_an_account_connects_and_anyone_else_is_refused(site: str) -> None:
    async with running_embedded() as broker:
        async with client(broker, "gate-a") as ok:
            await ok.publish(topic_for("heartbeat", site=site, node="gate-a"), b"{}", qos=1)
        refused = [
            aiomqtt.Client(broker.host, broker.port, protocol=V311),  # anonymous
            aiomqtt.Client(
                broker.host, broker.port, protocol=V311, username="gate-a", password="wrong"
            ),
            aiomqtt.Client(
                broker.host, broker.port, protocol=V311, username="nobody", password="pw"
            ),
        ]
        for c in refused:
            with pytest.raises(aiomqtt.MqttCodeError, match=r"[Nn]ot authori[sz]ed"):
                async with c:
                    pass
        # MQTT 5 (persistent_client's default) never connects. amqtt parses the
        # CONNECT as 3.1.1 before it checks the level, misreads the v5 properties
        # and waits for bytes that never come: no CONNACK, the client times out.
        v5 = aiomqtt.Client(
            broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5,
            username="gate-a", password=ACCOUNTS["gate-a"], timeout=1,
        )  # fmt: skip
        with pytest.raises(aiomqtt.MqttError, match="timed out"):
            async with v5:
                pass


async def test_a_retained_message_reaches_a_late_subscriber(site: str) -> None:
    topic = topic_for("posture", site=site)
    async with running_embedded() as broker:
        async with client(broker, "authority") as authority:
            await authority.publish(topic, b"signed-posture", qos=1, retain=True)
        async with client(broker, "gate-a") as late:
            await late.subscribe(topic, qos=1)
            message = await next_message(late)
        assert (str(message.topic), message.payload, message.retain) == (
            topic,
            b"signed-posture",
            True,
        )


WILL_CLIENT = textwrap.dedent(
    """
    import asyncio, sys, aiomqtt
    from gateway.mqtt.session import availability_will, persistent_client
    host, port, site, node, password = sys.argv[1:]
    async def main():
        async with persistent_client(
            host, int(port), node, protocol=aiomqtt.ProtocolVersion.V311,
            will=availability_will(site, node), keepalive=5, username=node, password=password,
        ) as c:
            await c.publish(f"gateway/{site}/node/{node}/availability", b"online", qos=1,
                            retain=True)
            print("ready", flush=True)
            await asyncio.Event().wait()
    asyncio.run(main())
    """
)


async def test_the_last_will_is_published_and_retained_when_a_node_drops(site: str) -> None:
    node = "gate-a"
    availability = topic_for("availability", site=site, node=node)
    async with running_embedded() as broker:
        proc = subprocess.Popen(
            [sys.executable, "-c", WILL_CLIENT, broker.host, str(broker.port), site, node,
             ACCOUNTS[node]],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), TIMEOUT)
            assert line == b"ready\n", proc.stderr.read() if proc.stderr else b""
            async with client(broker, "collector") as watcher:
                await watcher.subscribe(subscription("availability", site=site), qos=1)
                first = await next_message(watcher)
                assert (first.payload, first.retain) == (b"online", True)
                proc.kill()  # no DISCONNECT: the broker must publish the Will
                await asyncio.to_thread(proc.wait, TIMEOUT)
                will = await next_message(watcher)
                assert (str(will.topic), will.payload) == (availability, b"offline")
            async with client(broker, "authority") as later:
                await later.subscribe(availability, qos=1)
                retained = await next_message(later)
                assert (retained.payload, retained.retain) == (b"offline", True)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


async def _publish_events(broker: EmbeddedBroker, site: str, seqs: range) -> None:
    topic = topic_for("events", site=site, node="gate-a")
    async with client(broker, "gate-a") as node:
        for seq in seqs:
            await node.publish(topic, json.dumps({"seq": seq}).encode(), qos=1)


async def _receive_seqs(c: aiomqtt.Client, n: int) -> list[int]:
    got: list[int] = []
    while len(got) < n:
        message = await next_message(c)
        assert message.qos == 1
        assert isinstance(message.payload, bytes)
        got.append(json.loads(message.payload)["seq"])
    return got


async def test_an_offline_persistent_subscriber_gets_what_was_published_in_order(
    site: str,
) -> None:
    collector_id = f"collector-{site}"
    async with running_embedded() as broker:
        async with persistent(broker, "collector", collector_id) as collector:
            await collector.subscribe(subscription("events", site=site), qos=1)
        await _publish_events(broker, site, range(1, 101))
        async with persistent(broker, "collector", collector_id) as collector:
            assert await _receive_seqs(collector, 100) == list(range(1, 101))


async def test_a_restart_keeps_retained_messages_and_persistent_sessions(site: str) -> None:
    collector_id = f"collector-{site}"
    posture = topic_for("posture", site=site)
    async with running_embedded() as broker:
        async with persistent(broker, "collector", collector_id) as collector:
            await collector.subscribe(subscription("events", site=site), qos=1)
        async with client(broker, "authority") as authority:
            await authority.publish(posture, b"p1", qos=1, retain=True)
        await _publish_events(broker, site, range(1, 31))  # queued before the restart
        port = broker.port
        await broker.stop()
        await broker.start()
        assert broker.port == port
        await _publish_events(broker, site, range(31, 61))  # queued after it
        async with persistent(broker, "collector", collector_id) as collector:
            assert await _receive_seqs(collector, 60) == list(range(1, 61))
        async with client(broker, "gate-b") as late:
            await late.subscribe(posture, qos=1)
            assert (await next_message(late)).payload == b"p1"


async def test_amqtt_sends_a_new_client_retained_messages_it_never_subscribed_to(
    site: str,
) -> None:
    """amqtt 0.12.1 quirk (broker.py, _handle_client_session): on every connect it
    replays the retained messages of *every* subscription filter held by any
    client, at QoS 0. Subscribers must check the topic of what they receive."""
    availability = topic_for("availability", site=site, node="gate-b")
    async with running_embedded() as broker:
        async with client(broker, "collector") as collector:
            await collector.subscribe(subscription("availability", site=site), qos=1)
            async with client(broker, "gate-b") as node:
                await node.publish(availability, b"online", qos=1, retain=True)
            assert (await next_message(collector)).payload == b"online"
            async with client(broker, "gate-a") as bystander:  # subscribes to nothing
                unsolicited = await next_message(bystander)
        assert (str(unsolicited.topic), unsolicited.payload, unsolicited.qos) == (
            availability,
            b"online",
            0,
        )


def test_importing_the_module_does_not_import_amqtt() -> None:
    code = (
        "import sys, gateway.mqtt.embedded, gateway.node.publisher\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'amqtt'], 'amqtt loaded'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
