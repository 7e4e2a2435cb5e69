"""Publishing the signed site documents to the nodes (the centre side of docs/sync.md).

Each helper publishes on the registry's topic with the registry's QoS and
retain flag, so a node that connects later still gets the current document.
The bytes are published exactly as signed; the node verifies them.
"""

from __future__ import annotations

import aiomqtt
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.mqtt import topics
from gateway.mqtt.payloads import PostureState, TrustAnchors
from gateway.mqtt.signed import CT_POSTURE, CT_TRUST_ANCHORS, sign_message
from gateway.node.sync.keys import key_id, list_id_for, token_uri

__all__ = [
    "list_id_for",
    "publish_policy",
    "publish_posture",
    "publish_status_delta",
    "publish_status_token",
    "publish_trust_anchors",
    "sign_posture",
    "sign_trust_anchors",
]


async def _publish(client: aiomqtt.Client, name: str, payload: bytes, **params: str) -> None:
    topic = topics.get(name)
    await client.publish(
        topics.topic_for(name, **params), payload, qos=topic.qos, retain=topic.retain
    )


async def publish_status_token(client: aiomqtt.Client, site: str, token: bytes) -> None:
    """The token goes on the topic of the list its ``sub`` names."""
    uri = token_uri(token)
    if uri is None:
        raise ValueError("not a Status List Token: no sub claim")
    await _publish(client, "status_list", token, site=site, list=list_id_for(uri))


async def publish_status_delta(
    client: aiomqtt.Client, site: str, list_id: str, delta: bytes
) -> None:
    await _publish(client, "status_list_delta", delta, site=site, list=list_id)


async def publish_policy(client: aiomqtt.Client, site: str, signed: bytes) -> None:
    await _publish(client, "policy", signed, site=site)


async def publish_posture(client: aiomqtt.Client, site: str, signed: bytes) -> None:
    await _publish(client, "posture", signed, site=site)


async def publish_trust_anchors(client: aiomqtt.Client, site: str, signed: bytes) -> None:
    await _publish(client, "trust_anchors", signed, site=site)


def sign_posture(
    state: PostureState, key: ec.EllipticCurvePrivateKey, kid: bytes | None = None
) -> bytes:
    """Signed by the site's policy signer; ``kid`` defaults to :func:`key_id` of its key."""
    return sign_message(state, key, kid=kid or key_id(key.public_key()), content_type=CT_POSTURE)


def sign_trust_anchors(
    anchors: TrustAnchors, key: ec.EllipticCurvePrivateKey, kid: bytes | None = None
) -> bytes:
    """Signed by the site's policy signer; ``kid`` defaults to :func:`key_id` of its key."""
    return sign_message(
        anchors, key, kid=kid or key_id(key.public_key()), content_type=CT_TRUST_ANCHORS
    )
