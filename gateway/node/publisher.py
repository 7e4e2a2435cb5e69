"""The node's publisher: outbox events to the ``events`` topic, delivered only on a good PUBACK.

It connects with a persistent session (MQTT 5 ``clean_start=False`` and a session
expiry) and the ``offline`` Last Will, publishes ``online`` retained, then loops:
the oldest undelivered events (up to ``batch_size`` consecutive ones) go out as one
:class:`~gateway.mqtt.payloads.EventBatch` at QoS 1, one message in flight at a time,
so order is kept. Events are marked delivered only when the PUBACK's reason code is
a success (< 0x80), which :class:`~gateway.mqtt.ack.AckTap` reads (aiomqtt 2.x
ignores PUBACK reason codes).

A refused PUBACK (>= 0x80, e.g. 0x87 not authorized) never marks anything: it appends
one ``publish_refused`` alarm event per streak of refusals and backs off. A lost
connection reconnects with capped exponential backoff and resends what is still
pending; duplicates across a reconnect are allowed (the collector dedups by node+seq).

While idle the publisher polls the outbox every ``poll_interval`` seconds;
:meth:`Publisher.notify` wakes it at once (the node calls it when an event commits).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import aiomqtt
import structlog

from gateway.mqtt.ack import AckTap
from gateway.mqtt.payloads import MAX_BATCH, MAX_RESEND, EventBatch
from gateway.mqtt.session import availability_will, persistent_client
from gateway.mqtt.topics import AVAILABILITY_ONLINE, get, topic_for
from gateway.node.outbox import Event, Outbox

log = structlog.get_logger("gateway.node.publisher")
REFUSED_KIND = "publish_refused"
Sleep = Callable[[float], Awaitable[None]]
ClientFactory = Callable[[], aiomqtt.Client]
# Runs beside the event pump for as long as a session lasts (inbound messages, heartbeats);
# an MQTT error in any of them ends the session and the publisher reconnects.
Companion = Callable[[aiomqtt.Client], Coroutine[Any, Any, None]]


class Publisher:
    """Publishes one node's outbox; :meth:`run` until cancelled."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        hostname: str,
        port: int,
        site: str,
        node: str,
        client_factory: ClientFactory | None = None,
        batch_size: int = 100,
        poll_interval: float = 0.05,
        backoff_initial: float = 0.1,
        backoff_max: float = 30.0,
        ack_timeout: float = 10.0,
        sleep: Sleep = asyncio.sleep,
        subscriptions: Sequence[tuple[str, int]] = (),
        companions: Sequence[Companion] = (),
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be 1..{MAX_BATCH}")
        self._outbox = outbox
        self._hostname, self._port = hostname, port
        self._site, self._node = site, node
        self._client_factory = client_factory or self._default_client
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._backoff_initial, self._backoff_max = backoff_initial, backoff_max
        self._ack_timeout = ack_timeout
        self._sleep = sleep
        self._topic = topic_for("events", site=site, node=node)
        self._qos = get("events").qos
        self._wake = asyncio.Event()
        self._refusing = False
        self.connected = asyncio.Event()  # set while a session is up (for health and tests)
        self.sessions = 0  # how many connections came up (each one resends what is pending)
        self.delivered_seq = 0  # the highest seq marked delivered by this publisher
        self._progress = asyncio.Event()
        self._subscriptions = tuple(subscriptions)
        self._resend: tuple[int, int] | None = None  # a range the collector asked for again
        self.resent = 0
        self._companions = tuple(companions)

    def _default_client(self) -> aiomqtt.Client:
        return persistent_client(
            self._hostname, self._port, self._node, will=availability_will(self._site, self._node)
        )

    def notify(self) -> None:
        """New events are in the outbox: publish now rather than at the next poll."""
        self._wake.set()

    async def wait_delivered(self, seq: int) -> None:
        """Return once every event up to ``seq`` is marked delivered (wrap in a timeout)."""
        while self.delivered_seq < seq:
            self._progress.clear()
            await self._progress.wait()

    def _backoff(self, attempt: int) -> float:
        return float(min(self._backoff_max, self._backoff_initial * 2**attempt))

    async def run(self) -> None:
        """Connect, publish, reconnect on any MQTT failure; returns only by cancellation."""
        attempt = 0
        while True:
            try:
                async with self._client_factory() as client:
                    attempt = 0
                    await self._session(client)
            except* aiomqtt.MqttError as group:
                exc = group.exceptions[0]
                delay = self._backoff(attempt)
                attempt += 1
                log.warning("publisher_disconnected", error=str(exc), retry_in_s=delay)
                self.connected.clear()
                await self._sleep(delay)

    async def _session(self, client: aiomqtt.Client) -> None:
        """Subscribe, then pump events while the companions run; the first failure ends it."""
        for topic, qos in self._subscriptions:
            await client.subscribe(topic, qos=qos)
        if not self._companions:
            await self._serve(client)
            return
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._serve(client), name="publisher-pump")
                for companion in self._companions:
                    group.create_task(
                        companion(client), name=getattr(companion, "__name__", "companion")
                    )
        finally:
            self.connected.clear()

    async def _serve(self, client: aiomqtt.Client) -> None:
        tap = AckTap(client)
        availability = get("availability")
        rc = await tap.publish(
            topic_for("availability", site=self._site, node=self._node),
            AVAILABILITY_ONLINE,
            availability.qos,
            availability.retain,
            self._ack_timeout,
        )
        if rc >= 0x80:
            log.error("availability_refused", reason_code=rc)
        self.sessions += 1
        self.connected.set()
        refusals = 0
        while True:
            self._wake.clear()  # before reading: a notify() from now on is not missed
            if self._resend is not None:
                await self._resend_some(tap)
                continue
            batch = await self._outbox.pending_async(self._batch_size)
            if not batch:
                await self._idle()
                continue
            rc = await tap.publish(
                self._topic, self._payload(batch), self._qos, False, self._ack_timeout
            )
            if rc < 0x80:
                await self._outbox.mark_delivered_async(up_to_seq=batch[-1].seq)
                self.delivered_seq = batch[-1].seq
                self._progress.set()
                refusals, self._refusing = 0, False
                continue
            await self._refused(batch, rc)
            delay = self._backoff(refusals)
            refusals += 1
            await self._sleep(delay)

    def resend(self, from_seq: int, to_seq: int) -> None:
        """Publish events ``from_seq``..``to_seq`` again (the collector saw them lost).

        One range is held at a time (a new request widens it); the events go out as
        they are stored, signatures and all, ahead of what is pending, and nothing is
        marked. Events already pruned (past the outbox's retention) cannot be sent.
        """
        held = self._resend
        if held is not None:
            from_seq, to_seq = min(from_seq, held[0]), max(to_seq, held[1])
        self._resend = (from_seq, min(to_seq, from_seq + MAX_RESEND - 1))
        self._wake.set()

    async def _resend_some(self, tap: AckTap) -> None:
        assert self._resend is not None
        first, last = self._resend
        count = min(self._batch_size, last - first + 1)
        batch = await asyncio.to_thread(self._outbox.events, first - 1, count)
        batch = [e for e in batch if e.seq <= last]
        if not batch:  # pruned, or never written: nothing more to send
            log.warning("resend_unavailable", first_seq=first, last_seq=last)
            self._resend = None
            return
        rc = await tap.publish(
            self._topic, self._payload(batch), self._qos, False, self._ack_timeout
        )
        if rc >= 0x80:
            await self._refused(batch, rc)
            return
        self.resent += len(batch)
        following = batch[-1].seq + 1
        self._resend = None if following > last else (following, last)

    async def _idle(self) -> None:
        try:
            async with asyncio.timeout(self._poll_interval):
                await self._wake.wait()
        except TimeoutError:
            pass

    def _payload(self, batch: list[Event]) -> bytes:
        message = EventBatch(
            site=self._site,
            node=self._node,
            events=[e.to_wire() for e in batch],  # type: ignore[misc]
        )
        return message.model_dump_json().encode("utf-8")

    async def _refused(self, batch: list[Event], rc: int) -> None:
        """One alarm event per streak of refusals; the events stay pending."""
        log.error("publish_refused", reason_code=rc, first_seq=batch[0].seq, last_seq=batch[-1].seq)
        if self._refusing:
            return
        self._refusing = True
        await self._outbox.append(
            REFUSED_KIND,
            {
                "is_alarm": True,
                "topic": self._topic,
                "reason_code": rc,
                "first_seq": batch[0].seq,
                "last_seq": batch[-1].seq,
            },
        )
