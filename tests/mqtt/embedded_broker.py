"""The embedded broker (amqtt, MQTT 3.1.1) for tests: a free loopback port and known accounts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import aiomqtt

from gateway.mqtt.embedded import EmbeddedBroker
from gateway.mqtt.session import persistent_client

V311 = aiomqtt.ProtocolVersion.V311
ACCOUNTS = {
    "gate-a": "pw-gate-a",
    "gate-b": "pw-gate-b",
    "collector": "pw-collector",
    "authority": "pw-authority",
}


@asynccontextmanager
async def running_embedded(
    accounts: Mapping[str, str] = ACCOUNTS, port: int = 0
) -> AsyncIterator[EmbeddedBroker]:
    async with EmbeddedBroker(accounts, host="127.0.0.1", port=port) as broker:
        yield broker


def client(
    broker: EmbeddedBroker, user: str, identifier: str | None = None, **kwargs: object
) -> aiomqtt.Client:
    """A clean-session MQTT 3.1.1 client logged in as ``user`` (password from ACCOUNTS)."""
    return aiomqtt.Client(
        broker.host, broker.port, identifier=identifier, protocol=V311,
        username=user, password=ACCOUNTS[user], **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def persistent(
    broker: EmbeddedBroker, user: str, identifier: str, **kwargs: object
) -> aiomqtt.Client:
    """A ``clean_session=False`` MQTT 3.1.1 client logged in as ``user``."""
    return persistent_client(
        broker.host, broker.port, identifier, protocol=V311,
        username=user, password=ACCOUNTS[user], **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
