"""The generated ACL patterns, loaded into a real Mosquitto, pin each node to its own topics."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiomqtt
import pytest

from gateway.mqtt.topics import acl_patterns, subscription, topic_for
from tests.mqtt.broker import Broker, mosquitto_path, running_mosquitto

SITE = "acl-site"
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def acl_broker() -> Iterator[Broker]:
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    # No password file here: the test broker takes usernames on trust, which is
    # enough to check what the patterns allow for a given %u.
    acl = "\n".join(
        [
            *acl_patterns(SITE),
            "user collector",
            f"topic read gateway/{SITE}/#",
            "user operator",
            f"topic write gateway/{SITE}/node/+/commands",
            "",
        ]
    )
    with running_mosquitto(extra="\nacl_file $data_dir/acl\n", files={"acl": acl}) as broker:
        yield broker


def client(broker: Broker, user: str) -> aiomqtt.Client:
    return aiomqtt.Client(
        broker.host, broker.port, username=user, identifier=user,
        protocol=aiomqtt.ProtocolVersion.V5,
    )  # fmt: skip


async def test_a_node_publishes_only_under_its_own_id(acl_broker: Broker) -> None:
    own = topic_for("events", site=SITE, node="gate-a")
    other = topic_for("events", site=SITE, node="gate-b")
    async with client(acl_broker, "collector") as collector, client(acl_broker, "gate-a") as a:
        await collector.subscribe(subscription("events", site=SITE), qos=1)
        await a.publish(other, b"forged", qos=1)  # the broker drops it
        await a.publish(own, b"mine", qos=1)
        async with asyncio.timeout(TIMEOUT):
            message = await anext(aiter(collector.messages))
        assert (str(message.topic), message.payload) == (own, b"mine")


async def test_a_node_cannot_read_another_nodes_commands(acl_broker: Broker) -> None:
    # Mosquitto 2 grants the SUBSCRIBE (reason code 1) and enforces `read` at delivery.
    other = topic_for("commands", site=SITE, node="gate-b")
    own = topic_for("commands", site=SITE, node="gate-a")
    async with client(acl_broker, "operator") as operator, client(acl_broker, "gate-a") as a:
        await a.subscribe(other, qos=1)
        await a.subscribe(own, qos=1)
        await operator.publish(other, b"for b", qos=1)
        await operator.publish(own, b"for a", qos=1)
        async with asyncio.timeout(TIMEOUT):
            message = await anext(aiter(a.messages))
        assert (str(message.topic), message.payload) == (own, b"for a")


def test_a_forged_publish_gets_not_authorized_in_its_puback(acl_broker: Broker) -> None:
    """Mosquitto answers a publish the ACL refuses with PUBACK reason 0x87 (MQTT 5).

    aiomqtt 2.x ignores PUBACK reason codes: ``await client.publish()`` returns
    normally (the test above relies on that). A publisher that marks events
    delivered on PUBACK must read the reason code itself (paho's on_publish).
    """
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.reasoncodes import ReasonCode

    codes: dict[int, int] = {}

    def on_publish(_c: mqtt.Client, _u: object, mid: int, rc: ReasonCode, _p: object) -> None:
        codes[mid] = rc.value

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="gate-a", protocol=mqtt.MQTTv5)
    c.username_pw_set("gate-a")
    c.on_publish = on_publish
    c.connect(acl_broker.host, acl_broker.port)
    c.loop_start()
    try:
        forged = c.publish(topic_for("events", site=SITE, node="gate-b"), b"x", qos=1)
        own = c.publish(topic_for("events", site=SITE, node="gate-a"), b"x", qos=1)
        forged.wait_for_publish(TIMEOUT)
        own.wait_for_publish(TIMEOUT)
    finally:
        c.disconnect()
        c.loop_stop()
    assert codes[forged.mid] == 0x87  # Not authorized
    assert codes[own.mid] < 0x80  # success (0x10 "no matching subscribers" is a success)
