from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.mqtt.broker import Broker, mosquitto_path, running_mosquitto


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[Broker]:
    """A Mosquitto of our own (deploy/mosquitto/test.conf) on a free loopback port."""
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    with running_mosquitto() as broker:
        yield broker


@pytest.fixture
def site() -> str:
    """A site id no other test uses, so every test has its own topics."""
    return f"t-{uuid.uuid4().hex[:16]}"
