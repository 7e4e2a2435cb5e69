"""The gate node with its link to the centre: gate loop, outbox, publisher, heartbeat, inbound.

One process, one event loop, these tasks:

* the gate loop (:class:`GateNode`): taps → decisions → relay; every event is
  submitted to the outbox (no I/O on the tap path) and, once committed, wakes
* the publisher, which drains the outbox to the ``events`` topic over one MQTT
  session; beside it, for as long as that session lasts,
* the inbound loop: retained sync documents and commands, handed to
  :class:`Inbound` (the sync state and the command gate), and
* the heartbeat, published every ``heartbeat_s``.

Without an ``[mqtt]`` section only the gate loop runs: every event still lands
in the outbox and waits there.

A clean stop publishes ``offline`` on the availability topic (the Last Will
covers only an unclean one), relocks as the lock type requires, and flushes
the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Protocol

import aiomqtt
import structlog

from gateway.mqtt import topics
from gateway.node.health import HealthSources, heartbeat
from gateway.node.outbox import Outbox
from gateway.node.publisher import Publisher
from gateway.node.runtime.node import GateNode, utc_now

log = structlog.get_logger("gateway.node")
OFFLINE_PUBLISH_TIMEOUT_S = 2.0
DRAIN_S = 3.0  # at a clean stop, how long to wait for the last events' PUBACK


class Inbound(Protocol):
    """What the node does with a message from the centre (sync documents, commands)."""

    def subscriptions(self) -> Sequence[tuple[str, int]]: ...

    def on_started(self) -> None: ...

    def attach_publisher(self, publisher: Publisher) -> None: ...

    async def handle(
        self, client: aiomqtt.Client, topic: str, payload: bytes, *, retained: bool
    ) -> None: ...


class NodeService:
    def __init__(
        self,
        gate: GateNode,
        outbox: Outbox,
        *,
        site: str,
        node_id: str,
        publisher_factory: Callable[..., Publisher] | None = None,
        inbound: Inbound | None = None,
        health: HealthSources | None = None,
        heartbeat_s: float = 30.0,
        now: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.gate = gate
        self.outbox = outbox
        self.site = site
        self.node_id = node_id
        self.inbound = inbound
        self.health = health
        self.heartbeat_s = heartbeat_s
        self.now = now
        self._client: aiomqtt.Client | None = None
        self.publisher: Publisher | None = None
        self._gate_task: asyncio.Task[None] | None = None
        self._publisher_task: asyncio.Task[None] | None = None
        if publisher_factory is not None:
            subscriptions = inbound.subscriptions() if inbound is not None else ()
            companions = [self._remember_client, self._inbound_loop]
            if health is not None:
                companions.append(self._heartbeat_loop)
            self.publisher = publisher_factory(
                subscriptions=subscriptions, companions=tuple(companions)
            )
            if inbound is not None:
                inbound.attach_publisher(self.publisher)
        notify = None if self.publisher is None else self.publisher.notify
        gate.listeners.append(outbox.node_listener(on_committed=notify))

    # -- companions: they run while an MQTT session is up ------------------------------
    async def _remember_client(self, client: aiomqtt.Client) -> None:
        self._client = client
        try:
            await asyncio.Future()  # until the session ends
        finally:
            self._client = None

    async def _inbound_loop(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            data = payload if isinstance(payload, bytes) else str(payload or "").encode()
            if self.inbound is None:
                continue
            try:
                await self.inbound.handle(client, str(message.topic), data, retained=message.retain)
            except Exception as exc:  # a bug here must not end the session that carries events
                log.exception("inbound_failed", topic=str(message.topic))
                self.gate.emit(
                    "security",
                    is_alarm=True,
                    what="inbound",
                    reason="internal_error",
                    detail=f"{type(exc).__name__}: {exc}",
                    topic=str(message.topic),
                )

    async def _heartbeat_loop(self, client: aiomqtt.Client) -> None:
        assert self.health is not None
        spec = topics.get("heartbeat")
        topic = topics.topic_for("heartbeat", site=self.site, node=self.node_id)
        while True:
            beat = heartbeat(self.health, self.now())
            await client.publish(
                topic, beat.model_dump_json().encode(), qos=spec.qos, retain=spec.retain
            )
            await asyncio.sleep(self.heartbeat_s)  # a period, not a wait for something

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        await self.gate.start()
        if self.inbound is not None:
            self.inbound.on_started()
        self._gate_task = asyncio.create_task(self.gate.run(), name="gate-loop")
        if self.publisher is not None:
            self._publisher_task = asyncio.create_task(self.publisher.run(), name="publisher")

    async def wait(self) -> None:
        """Return when the gate loop or the publisher ends (only by failure: both loop forever)."""
        tasks = {t for t in (self._gate_task, self._publisher_task) if t is not None}
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # re-raise what ended it

    async def shutdown(self, reason: str = "stop", drain_s: float = DRAIN_S) -> None:
        """Stop taking taps, relock, try to deliver what is left, say offline, close."""
        await _cancel(self._gate_task)
        await self.gate.close(reason)
        await self.outbox.flush()
        if self.publisher is not None and self.publisher.connected.is_set():
            last_seq, _hash = self.outbox.head
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain_s):
                    await self.publisher.wait_delivered(last_seq)
            await self.say_offline()
        await _cancel(self._publisher_task)
        await self.outbox.aclose()

    async def say_offline(self) -> None:
        client = self._client
        if client is None:
            return
        spec = topics.get("availability")
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            async with asyncio.timeout(OFFLINE_PUBLISH_TIMEOUT_S):
                await client.publish(
                    topics.topic_for("availability", site=self.site, node=self.node_id),
                    topics.AVAILABILITY_OFFLINE,
                    qos=spec.qos,
                    retain=spec.retain,
                )


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
