"""QoS 1 throughput, publisher → broker → subscriber: the embedded broker (amqtt) against Mosquitto.

The same client code runs against each broker: aiomqtt, MQTT 3.1.1, a login,
a subscriber on a QoS 1 subscription and a publisher on another connection.
Each message is timed from the first PUBLISH until the subscriber has the last.

``sequential``  one message in flight (``await publish`` waits for the PUBACK),
                as the node's publisher sends its batches.
``pipelined``   up to ``WINDOW`` messages in flight at once.

Mosquitto is our own (deploy/mosquitto/test.conf, a free loopback port). The
embedded broker runs in a child process (``python -m bench.broker --serve``),
as Mosquitto does, and again in the benchmark's own event loop
(``embedded_in_loop``), as ``gateway demo`` may run it, sharing the CPU with
the clients. Each figure is the median of ``ROUNDS``, the three brokers taking
turns in every round. ``ratio`` is embedded (own process) ÷ Mosquitto.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiomqtt

from gateway.logging_setup import configure_logging
from simulator.mosquitto import mosquitto_path, running_mosquitto

NAME = "broker"
DESCRIPTION = "QoS 1 messages/s through the embedded broker (amqtt) vs Mosquitto"

WINDOW = 100
MODES = {"sequential_msg_s": (1_000, 1), "pipelined_msg_s": (3_000, WINDOW)}  # messages, window
ROUNDS = 3
HOST = "127.0.0.1"
PAYLOAD = b"x" * 200  # about one event batch of a couple of events
ACCOUNTS = {"bench-pub": "pw-pub", "bench-sub": "pw-sub"}
TOPIC = "gateway/bench/node/gate-1/events"
TIMEOUT_S = 120.0


def _client(host: str, port: int, user: str) -> aiomqtt.Client:
    client = aiomqtt.Client(
        host, port, identifier=user, protocol=aiomqtt.ProtocolVersion.V311,
        username=user, password=ACCOUNTS[user],
    )  # fmt: skip
    client.pending_calls_threshold = WINDOW  # a full window is the point, not a warning
    return client


async def _publish_all(pub: aiomqtt.Client, n: int, window: int) -> None:
    """``window`` senders, each awaiting its own PUBACKs: at most ``window`` in flight."""

    async def sender(count: int) -> None:
        for _ in range(count):
            await pub.publish(TOPIC, PAYLOAD, qos=1)

    shares = [n // window + (1 if i < n % window else 0) for i in range(window)]
    await asyncio.gather(*(sender(share) for share in shares))


async def _throughput(host: str, port: int, n: int, window: int) -> float:
    """Messages/s from the first PUBLISH until the subscriber has all ``n``."""
    async with _client(host, port, "bench-sub") as sub, _client(host, port, "bench-pub") as pub:
        await sub.subscribe(TOPIC, qos=1)
        received = 0
        all_in = asyncio.Event()

        async def count() -> None:
            nonlocal received
            async for _message in sub.messages:
                received += 1
                if received == n:
                    all_in.set()
                    return

        counter = asyncio.create_task(count())
        start = time.perf_counter()
        async with asyncio.timeout(TIMEOUT_S):
            await _publish_all(pub, n, window)
            await all_in.wait()
        elapsed = time.perf_counter() - start
        await counter
    return round(n / elapsed, 1)


async def _rounds(ports: dict[str, int]) -> dict[str, dict[str, float]]:
    """Median of ROUNDS, the brokers taking turns so a load spike hits all of them."""
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in ports}
    for _ in range(ROUNDS):
        for name, port in ports.items():
            for mode, (n, window) in MODES.items():
                figure = await _throughput(HOST, port, n, window)
                samples[name].setdefault(mode, []).append(figure)
    return {
        name: {mode: statistics.median(values) for mode, values in modes.items()}
        for name, modes in samples.items()
    }


@contextlib.contextmanager
def _embedded_child() -> Iterator[int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.broker", "--serve"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the child prints its port once it listens
        if not line.strip().isdigit():
            raise RuntimeError(f"embedded broker child did not start: {line!r}")
        yield int(line)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()  # the child stops when its stdin closes
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.asynccontextmanager
async def _embedded_in_loop() -> AsyncIterator[int]:
    from gateway.mqtt.embedded import EmbeddedBroker  # noqa: PLC0415 - amqtt only when run

    async with EmbeddedBroker(ACCOUNTS) as broker:
        yield broker.port


async def _serve() -> None:
    from gateway.mqtt.embedded import EmbeddedBroker  # noqa: PLC0415

    configure_logging("WARNING")  # logs to stderr: stdout carries the port
    async with EmbeddedBroker(ACCOUNTS) as broker:
        print(broker.port, flush=True)
        await asyncio.to_thread(sys.stdin.read)  # until the parent closes our stdin


def run(*, progress: bool = False) -> dict[str, Any]:
    if mosquitto_path() is None:
        return {"skipped": "mosquitto is not installed"}
    configure_logging("WARNING")  # the in-loop broker's logs to stderr, not into --json

    def show(label: str) -> None:
        if progress:
            print(f"{label}…", file=sys.stderr, flush=True)

    with running_mosquitto() as mosquitto, _embedded_child() as child_port:

        async def measure() -> dict[str, dict[str, float]]:
            async with _embedded_in_loop() as loop_port:
                show(f"{ROUNDS} rounds of Mosquitto, embedded (own process, in loop)")
                ports = {"mosquitto": mosquitto.port, "embedded": child_port}
                return await _rounds({**ports, "embedded_in_loop": loop_port})

        figures = asyncio.run(measure())
    ours, embedded = figures["mosquitto"], figures["embedded"]
    return {
        "messages": {mode: n for mode, (n, _window) in MODES.items()},
        "window": WINDOW,
        "payload_bytes": len(PAYLOAD),
        "rounds": ROUNDS,
        **figures,
        "ratio": {mode: round(embedded[mode] / ours[mode], 3) for mode in MODES},
    }


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        asyncio.run(_serve())
    else:
        print(run(progress=True))
