"""kill -9 of a whole node process during a 1,000-tap burst, against a real Mosquitto.

The node (:mod:`tests.node.link.burst_node`: the ``gateway node`` service with the
memory reader) is SIGKILLed at seeded random points of the burst and restarted
each time on the same state folder; the last run finishes the burst. A
subscriber with a persistent session deduplicates by (node, seq), as the
collector does. At the end it must hold every event from seq 1 to the node's
head exactly once, the hash chain must verify with the node's key, and every
tap the node reported as committed before a kill must be there as a decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import aiomqtt
import pytest
from cryptography.hazmat.primitives import serialization

from gateway.mqtt.payloads import EventBatch
from gateway.mqtt.session import persistent_client
from gateway.mqtt.topics import subscription
from gateway.node.outbox import Event, load_or_create_node_key, verify_chain
from tests.mqtt.broker import Broker, mosquitto_path, running_mosquitto
from tests.node.test_node_app import CARD, WORLD, write_site

ROOT = Path(__file__).resolve().parents[3]
BURST = 1_000
TIMEOUT = 60.0
SITE = "sejong-6"
NODE = "b6-in"

pytestmark = pytest.mark.skipif(mosquitto_path() is None, reason="mosquitto is not installed")


class Subscriber:
    """The collector's view: first copy of each (node, seq) kept, copies counted."""

    def __init__(self) -> None:
        self.events: dict[int, Event] = {}
        self.duplicates = 0
        self.arrivals: list[int] = []
        self.changed = asyncio.Event()
        self.subscribed = asyncio.Event()

    async def listen(self, broker: Broker) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            async with persistent_client(
                broker.host, broker.port, "kill9-collector", expiry_s=600
            ) as client:
                await client.subscribe(subscription("events", site=SITE), qos=1)
                self.subscribed.set()
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    batch = EventBatch.model_validate_json(message.payload)
                    for wire in batch.events:
                        if wire.seq in self.events:
                            self.duplicates += 1
                            continue
                        self.events[wire.seq] = Event.from_wire(wire.model_dump())
                        self.arrivals.append(wire.seq)
                    self.changed.set()

    async def wait_for_all(self, head: int) -> None:
        async with asyncio.timeout(TIMEOUT):
            while len(self.events) < head or set(self.events) != set(range(1, head + 1)):
                self.changed.clear()
                await self.changed.wait()


def _config(tmp_path: Path, broker: Broker) -> Path:
    config = write_site(tmp_path, "udp:127.0.0.1:50000")
    with config.open("a", encoding="utf-8") as f:
        f.write(
            f'\n[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\nheartbeat_seconds = 3600\n'
            '\n[state]\ndir = "state"\ndurability = "full"\n'
        )
    return config


def _cards(tmp_path: Path) -> Path:
    holders = [CARD, WORLD.issue_card(40), WORLD.issue_card(41)]
    pairs = [
        [
            h.card_object.hex(),
            h.card_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
        ]
        for h in holders
    ]
    path = tmp_path / "cards.json"
    path.write_text(json.dumps(pairs))
    return path


def _start(config: Path, cards: Path, first: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.node.link.burst_node", str(config), str(cards),
         str(first), str(BURST)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


def _run_until(child: subprocess.Popen[str], kill_after: int | None) -> tuple[int, int | None]:
    """Read the child's lines; SIGKILL it after ``kill_after`` commits. -> (next tap, head)."""
    assert child.stdout is not None
    next_tap, commits = 0, 0
    for line in child.stdout:
        word, *rest = line.split()
        if word == "committed":
            next_tap, commits = int(rest[0]) + 1, commits + 1
            if kill_after is not None and commits >= kill_after:
                child.send_signal(signal.SIGKILL)
                child.wait()
                return next_tap, None
        elif word == "delivered":
            child.terminate()
            child.wait()
            return next_tap, int(rest[0])
    child.wait()
    raise AssertionError(f"the node exited on its own with {child.returncode}")


@pytest.mark.parametrize("seed", [5, 23])
async def test_sigkill_during_a_burst_loses_and_duplicates_nothing(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    with running_mosquitto() as broker:
        subscriber = Subscriber()
        listener = asyncio.create_task(subscriber.listen(broker))
        async with asyncio.timeout(TIMEOUT):
            await subscriber.subscribed.wait()
        config, cards = _config(tmp_path, broker), _cards(tmp_path)
        first, kills, head = 0, 0, None
        try:
            while head is None:
                child = _start(config, cards, first)
                kill_after = rng.randint(20, 300) if kills < 3 else None
                first, head = await asyncio.to_thread(_run_until, child, kill_after)
                kills += 1
            await subscriber.wait_for_all(head)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
    assert first == BURST
    key = load_or_create_node_key(tmp_path / "state" / "node.key")
    events = [subscriber.events[seq] for seq in range(1, head + 1)]
    verify_chain(events, key.public_key())  # raises ChainError naming the first bad seq
    decisions = [e for e in events if e.kind == "decision"]
    # Each tap committed before a kill is there: at least BURST decisions over all runs
    # (a tap judged but not yet committed when killed may add one more, never fewer).
    assert len(decisions) >= BURST
    starts = [e for e in events if e.kind == "node" and e.payload.get("phase") == "started"]
    assert len(starts) == 4  # three kills and the last run
    # Order per node: the first copy of each seq arrived in seq order.
    assert subscriber.arrivals == sorted(subscriber.arrivals)
    assert kills == 4
