"""The running collector: subscribe, batch what arrived, commit, *then* acknowledge.

Ack order: the collector turns paho's automatic PUBACK off (``manual_ack_set``; aiomqtt
2.5 has no option for it) and acknowledges each QoS 1 message only after the store
committed the write set holding it. A crash before the commit leaves the messages
unacknowledged; the broker redelivers them to the persistent session (or, with a shared
subscription, to another collector of the group), and (node, seq) idempotency makes
the redelivery harmless. Exactly once as the store sees it; at least once on the wire.

MQTT 5 subscribes events and heartbeats as ``$share/<group>/…`` so several collectors
split the load; availability is subscribed plainly because a broker never sends
retained messages to a shared subscription.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable

import aiomqtt
import structlog

from gateway.central.collector.commits import CommitSignal
from gateway.central.collector.config import LoadedCollector
from gateway.central.collector.ingest import Incoming, Ingest
from gateway.central.collector.model import WriteSet
from gateway.central.collector.retention import purge_forever
from gateway.central.collector.store import EventStore
from gateway.mqtt.payloads import MAX_RESEND, ResendRequest
from gateway.mqtt.session import persistent_client
from gateway.mqtt.topics import get as get_topic
from gateway.mqtt.topics import subscription, topic_for

log = structlog.get_logger("gateway.central.collector")
Clock = Callable[[], dt.datetime]
Sleep = Callable[[float], Awaitable[None]]
ClientFactory = Callable[[], aiomqtt.Client]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


RESEND_AFTER_S = 10.0  # ask again for a gap still open after this long
RESEND_RANGES = 8  # at most this many gaps of one node asked for per commit


def subscriptions(loaded: LoadedCollector) -> list[str]:
    mqtt = loaded.config.mqtt
    events = subscription("events", site=mqtt.site)
    heartbeat = subscription("heartbeat", site=mqtt.site)
    availability = subscription("availability", site=mqtt.site)
    if mqtt.protocol == 5 and mqtt.share_group is not None:
        prefix = f"$share/{mqtt.share_group}/"
        return [prefix + events, prefix + heartbeat, availability]
    return [events, heartbeat, availability]


class Collector:
    """:meth:`run` until cancelled; ``progress`` is set after every commit (for tests)."""

    def __init__(
        self,
        loaded: LoadedCollector,
        store: EventStore,
        *,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        reconnect_sleep: Sleep | None = None,
        client_factory: ClientFactory | None = None,
        backoff_max: float = 10.0,
    ) -> None:
        self.loaded = loaded
        self.store = store
        self.ingest = Ingest(loaded, store)
        self._clock = clock
        self._sleep = sleep  # the periodic jobs: heartbeat watchdog, retention
        self._reconnect_sleep = reconnect_sleep or sleep
        self._client_factory = client_factory or self._default_client
        self._backoff_max = backoff_max
        self._max_messages = loaded.config.store.max_batch_messages
        self.subscribed = asyncio.Event()
        self.progress = asyncio.Event()
        self.commits = CommitSignal()  # wakes a viewer's live feed in this process
        self._asked: dict[tuple[str, int, int], float] = {}  # (node, first, last) -> when
        self._monotonic = time.monotonic

    def _default_client(self) -> aiomqtt.Client:
        mqtt = self.loaded.config.mqtt
        versions = aiomqtt.ProtocolVersion
        protocol = versions.V5 if mqtt.protocol == 5 else versions.V311
        return persistent_client(
            mqtt.host,
            mqtt.port,
            mqtt.client_id,
            protocol=protocol,
            expiry_s=mqtt.session_expiry_s,
            keepalive=mqtt.keepalive_s,
        )

    async def run(self) -> None:
        await self.store.migrate()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._watch_heartbeats())
            group.create_task(
                purge_forever(self.store, self.loaded.config.retention, self._clock, self._sleep)
            )
            await self._connect_forever()

    async def _connect_forever(self) -> None:
        attempt = 0
        while True:
            client = self._client_factory()
            # Off before connecting: a resumed session delivers its queue at once.
            client._client.manual_ack_set(True)
            try:
                async with client:
                    attempt = 0
                    for topic in subscriptions(self.loaded):
                        await client.subscribe(topic, qos=1)
                    self.subscribed.set()
                    log.info("collector_subscribed", client_id=self.loaded.config.mqtt.client_id)
                    await self._serve(client)
            except aiomqtt.MqttError as exc:
                self.subscribed.clear()
                delay = min(self._backoff_max, 0.1 * 2**attempt)
                attempt += 1
                log.warning("collector_disconnected", error=str(exc), retry_in_s=delay)
                await self._reconnect_sleep(delay)

    async def _serve(self, client: aiomqtt.Client) -> None:
        queue: asyncio.Queue[aiomqtt.Message] = asyncio.Queue()

        async def read() -> None:
            async for message in client.messages:
                queue.put_nowait(message)

        reader = asyncio.create_task(read())
        getter: asyncio.Future[aiomqtt.Message] | None = None
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    reader.result()  # the connection went: raise its MqttError
                    raise aiomqtt.MqttError("message stream ended")
                batch = [getter.result()]
                while len(batch) < self._max_messages and not queue.empty():
                    batch.append(queue.get_nowait())
                await self._commit(client, batch)
        finally:
            reader.cancel()
            if getter is not None:
                getter.cancel()

    async def _commit(self, client: aiomqtt.Client, messages: list[aiomqtt.Message]) -> None:
        now = self._clock()
        incoming = [
            Incoming(str(m.topic), m.payload if isinstance(m.payload, bytes) else b"", now)
            for m in messages
        ]
        changes, nodes = await self.ingest.process(incoming)
        if changes:
            try:
                await self.store.write(changes)
            except Exception:
                self.ingest.rollback(nodes)
                log.exception("store_write_failed", messages=len(messages))
                raise aiomqtt.MqttError("store write failed; reconnecting for redelivery") from None
            self.ingest.stats.commits += 1
        for m in messages:  # only now: the broker may forget them
            if m.qos > 0:
                client._client.ack(m.mid, m.qos)
        await self._ask_for_gaps(client, changes)
        self.progress.set()
        if changes:
            self.commits.notify()

    async def _ask_for_gaps(self, client: aiomqtt.Client, changes: WriteSet) -> None:
        """Ask a node again for what its chain is missing (a broker lost it, say).

        The node re-publishes those events, signed as before; they fill the gap, which
        clears its alarm. A range is asked for again only after ``RESEND_AFTER_S``.
        """
        if not changes.chains:
            return
        sites = {e.node: e.site for e in changes.events}
        now = self._monotonic()
        spec = get_topic("resend")
        for node, chain in changes.chains.items():
            site = sites.get(node)
            if site is None:
                continue
            for first, last in chain.gaps[:RESEND_RANGES]:
                if now - self._asked.get((node, first, last), -RESEND_AFTER_S) < RESEND_AFTER_S:
                    continue
                self._asked[(node, first, last)] = now
                upto = min(last, first + MAX_RESEND - 1)
                request = ResendRequest(site=site, node=node, from_seq=first, to_seq=upto)
                await client.publish(
                    topic_for("resend", site=site, node=node),
                    request.model_dump_json().encode(),
                    qos=spec.qos,
                    retain=spec.retain,
                )
                self.ingest.stats.resend_requests += 1
                log.warning("resend_requested", node=node, from_seq=first, to_seq=upto)

    async def _watch_heartbeats(self) -> None:
        interval = self.loaded.config.alarms.heartbeat_interval_s
        while True:
            await self._sleep(interval)
            await self.check_heartbeats()

    async def check_heartbeats(self) -> None:
        alarms = self.ingest.rules.check_heartbeats(self._clock())
        if alarms:
            await self.store.write(WriteSet(alarms=list(alarms)))
