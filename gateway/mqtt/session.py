"""MQTT session settings shared by every client: persistent sessions and the Last Will.

Mosquitto 2 keeps a client's subscriptions and queues its QoS 1 messages while
it is away only if the session outlives the connection: MQTT 5 needs
``clean_start=False`` *and* a Session Expiry Interval (without one the session
ends with the connection); MQTT 3.1.1 needs ``clean_session=False``.
"""

from __future__ import annotations

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.mqtt.topics import AVAILABILITY_OFFLINE, get, topic_for

DEFAULT_SESSION_EXPIRY_S = 7 * 24 * 3600  # a week: a node may be cut off for days


def session_properties(expiry_s: int = DEFAULT_SESSION_EXPIRY_S) -> Properties:
    """CONNECT properties for a persistent MQTT 5 session."""
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = expiry_s
    return props


def availability_will(site: str, node: str) -> aiomqtt.Will:
    """The Last Will: ``offline``, retained, on the node's availability topic."""
    t = get("availability")
    return aiomqtt.Will(
        topic_for("availability", site=site, node=node),
        payload=AVAILABILITY_OFFLINE,
        qos=t.qos,
        retain=t.retain,
    )


def persistent_client(
    hostname: str,
    port: int,
    identifier: str,
    *,
    protocol: aiomqtt.ProtocolVersion = aiomqtt.ProtocolVersion.V5,
    expiry_s: int = DEFAULT_SESSION_EXPIRY_S,
    will: aiomqtt.Will | None = None,
    keepalive: int = 60,
    username: str | None = None,
    password: str | None = None,
    tls: aiomqtt.TLSParameters | None = None,
) -> aiomqtt.Client:
    """A client whose session (subscriptions, queued QoS 1) survives disconnects.

    ``username``/``password`` are for brokers that authenticate (the embedded
    broker always does: amqtt queues nothing for an anonymous session); ``tls``
    for a TLS listener (the site's Mosquitto: deploy/mosquitto/production.conf).
    """
    if protocol is aiomqtt.ProtocolVersion.V5:
        return aiomqtt.Client(
            hostname,
            port,
            identifier=identifier,
            protocol=protocol,
            clean_start=False,
            properties=session_properties(expiry_s),
            will=will,
            keepalive=keepalive,
            username=username,
            password=password,
            tls_params=tls,
        )
    return aiomqtt.Client(
        hostname,
        port,
        identifier=identifier,
        protocol=protocol,
        clean_session=False,
        will=will,
        keepalive=keepalive,
        username=username,
        password=password,
        tls_params=tls,
    )
