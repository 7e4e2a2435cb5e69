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
the clients. ``ratio`` is embedded ÷ Mosquitto messages/s (child process).
"""

from __future__ import annotations

import asyncio
import contextlib
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

SEQUENTIAL = 2_000
PIPELINED = 5_000
WINDOW = 100
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


async def _both(host: str, port: int) -> dict[str, float]:
    return {
        "sequential_msg_s": await _throughput(host, port, SEQUENTIAL, 1),
        "pipelined_msg_s": await _throughput(host, port, PIPELINED, WINDOW),
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

    def show(label: str) -> None:
        if progress:
            print(f"{label}…", file=sys.stderr, flush=True)

    show("mosquitto")
    with running_mosquitto() as mosquitto:
        ours = asyncio.run(_both(mosquitto.host, mosquitto.port))
    show("embedded (child process)")
    with _embedded_child() as port:
        embedded = asyncio.run(_both("127.0.0.1", port))

    async def in_loop() -> dict[str, float]:
        async with _embedded_in_loop() as port:
            return await _both("127.0.0.1", port)

    show("embedded (in the clients' loop)")
    shared = asyncio.run(in_loop())
    return {
        "messages": {"sequential": SEQUENTIAL, "pipelined": PIPELINED, "window": WINDOW},
        "payload_bytes": len(PAYLOAD),
        "mosquitto": ours,
        "embedded": embedded,
        "embedded_in_loop": shared,
        "ratio": {
            "sequential": round(embedded["sequential_msg_s"] / ours["sequential_msg_s"], 3),
            "pipelined": round(embedded["pipelined_msg_s"] / ours["pipelined_msg_s"], 3),
        },
    }


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        asyncio.run(_serve())
    else:
        print(run(progress=True))
