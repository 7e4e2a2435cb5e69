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
from gateway.mqtt.session import persistent_client
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
        second = EmbeddedBroker(ACCOUNTS, port=broker.port)
        with pytest.raises(EmbeddedBrokerError, match="cannot listen"):
            await second.start()
        assert not second.running


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
            got: list[int] = []
            while len(got) < 100:
                message = await next_message(collector)
                # amqtt 0.12.1 replays a session's queue with the retain flag set
                # (broker.py, _publish_session_retained_messages): never read it.
                assert (message.qos, message.retain) == (1, True)
                assert isinstance(message.payload, bytes)
                got.append(json.loads(message.payload)["seq"])
        assert got == list(range(1, 101))


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


UNACKING_SUBSCRIBER = textwrap.dedent(
    """
    import sys, threading, paho.mqtt.client as mqtt
    host, port, client_id, topic, password = sys.argv[1:]
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                    protocol=mqtt.MQTTv311, manual_ack=True)
    c.username_pw_set("collector", password)
    c.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    c.on_subscribe = lambda *a: print("subscribed", flush=True)
    c.on_message = lambda c, u, m: print("got", m.payload.decode(), flush=True)  # no ack
    c.connect(host, int(port))
    c.loop_forever()
    """
)


async def test_amqtt_drops_a_qos1_message_in_flight_when_its_subscriber_dies(site: str) -> None:
    """amqtt 0.12.1 (mqtt/protocol/handler.py, _handle_qos1_message_flow): a PUBLISH
    written but not PUBACKed leaves inflight_out when the connection goes (or after
    5 s), so a persistent session does *not* get it again (MQTT 3.1.1 4.4 says it
    should). Only our restart carries unacknowledged messages over."""
    collector_id = f"collector-{site}"
    topic = topic_for("events", site=site, node="gate-a")
    async with running_embedded() as broker:
        proc = subprocess.Popen(
            [sys.executable, "-c", UNACKING_SUBSCRIBER, broker.host, str(broker.port),
             collector_id, topic, ACCOUNTS["collector"]],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            readline = proc.stdout.readline
            assert await asyncio.wait_for(asyncio.to_thread(readline), TIMEOUT) == b"subscribed\n"
            async with client(broker, "gate-a") as node:
                await node.publish(topic, b"in-flight", qos=1)
            assert (
                await asyncio.wait_for(asyncio.to_thread(readline), TIMEOUT) == b"got in-flight\n"
            )
            proc.kill()  # it never PUBACKs
            await asyncio.to_thread(proc.wait, TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        async with persistent(broker, "collector", collector_id) as collector:
            async with client(broker, "gate-a") as node:
                await node.publish(topic, b"marker", qos=1)
            assert (await next_message(collector)).payload == b"marker"


async def test_amqtt_lets_a_refused_login_disturb_a_connected_client_id(site: str) -> None:
    """amqtt 0.12.1 (broker.py, _initialize_client_session and _handle_client_session):
    a CONNECT is matched to the existing session, and may take it over, before the
    login is checked. A refused CONNECT with a node's client id and clean_session=0
    cuts the node off; with clean_session=1 it deletes the node's session, so the
    node stays connected but deaf. Keep the listener on the loopback."""
    node_id = f"gate-{site}"
    commands = topic_for("commands", site=site, node="gate-a")

    def subscribers() -> list[str]:
        return [s.client_id for s, _ in broker._broker.subscriptions.get(commands, [])]

    def intruder(clean: bool) -> aiomqtt.Client:
        return aiomqtt.Client(
            broker.host, broker.port, identifier=node_id, protocol=V311, clean_session=clean
        )

    async with running_embedded() as broker:
        async with persistent(broker, "gate-a", node_id) as node:
            await node.subscribe(commands, qos=1)
            assert subscribers() == [node_id]
            with pytest.raises(aiomqtt.MqttCodeError, match=r"[Nn]ot authori[sz]ed"):
                async with intruder(clean=True):
                    pass
            assert subscribers() == []  # the node's subscription is gone
        async with persistent(broker, "gate-a", node_id) as node:
            with pytest.raises(aiomqtt.MqttCodeError, match=r"[Nn]ot authori[sz]ed"):
                async with intruder(clean=False):
                    pass
            with pytest.raises(aiomqtt.MqttError, match="Disconnected"):
                await next_message(node)


async def test_amqtt_queues_nothing_for_a_session_it_let_in_anonymously(site: str) -> None:
    """The DESIGN fact, and why EmbeddedBroker loads no AnonymousAuthPlugin: with
    allow_anonymous on, every session is anonymous (even one with a username) and
    an anonymous session gets no offline queue. amqtt's own default bind is 0.0.0.0."""
    from amqtt.broker import Broker
    from amqtt.contexts import ListenerConfig

    assert ListenerConfig().bind == "0.0.0.0:1883"
    topic = topic_for("events", site=site, node="gate-a")
    config = {
        "listeners": {"default": {"type": "tcp", "bind": "127.0.0.1:0"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    amqtt_broker = Broker(config)
    await amqtt_broker.start()
    try:
        port = amqtt_broker._servers["default"].instance.sockets[0].getsockname()[1]

        def collector() -> aiomqtt.Client:  # a username and clean_session=0: still anonymous
            return persistent_client(
                "127.0.0.1", port, f"c-{site}", protocol=V311, username="collector", password="x"
            )

        async with collector() as c:
            await c.subscribe(topic, qos=1)
        async with aiomqtt.Client("127.0.0.1", port, protocol=V311) as node:
            await node.publish(topic, b"while-away", qos=1)
        async with collector() as c:
            async with aiomqtt.Client("127.0.0.1", port, protocol=V311) as node:
                await node.publish(topic, b"marker", qos=1)
            assert (await next_message(c)).payload == b"marker"
    finally:
        await amqtt_broker.shutdown()


async def test_a_shared_subscription_is_a_literal_filter_that_matches_nothing(site: str) -> None:
    """No shared subscriptions in amqtt 0.12.1: ``$share/group/...`` is accepted
    as a plain filter, and no published topic ever matches it."""
    events = topic_for("events", site=site, node="gate-a")
    heartbeat = topic_for("heartbeat", site=site, node="gate-a")
    async with running_embedded() as broker, client(broker, "collector") as collector:
        await collector.subscribe(f"$share/collectors/{events}", qos=1)
        await collector.subscribe(heartbeat, qos=1)
        async with client(broker, "gate-a") as node:
            await node.publish(events, b"event", qos=1)
            await node.publish(heartbeat, b"marker", qos=1)
        assert (await next_message(collector)).payload == b"marker"
