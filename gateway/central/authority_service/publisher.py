"""The authority service's MQTT side: retained documents and one-shot deltas, each until PUBACK.

Two kinds of message go out, each with the registry's QoS and retain flag:

* **retained documents** (status-list tokens, policy, posture): the publisher
  keeps the *current* one per topic. A newer one replaces an older one that is
  still waiting, so after an outage only the latest goes out. On every
  (re)connect every current document is published again: the broker may have
  restarted and lost its retained store, and nodes treat the same bytes as a
  no-op (the nodes get the retained copies again on their own reconnect anyway).
* **deltas**: sent once, in order, before any waiting document, and only while
  connected. A delta waiting when the connection drops is dropped: the token
  published right after it says the same and more, and a delta sent late on a
  base the nodes no longer hold would only raise ``base_mismatch`` alarms.

A message counts as published only on a PUBACK with a success reason code
(aiomqtt ignores the code, so we read it from paho as the node's publisher
does); then its topic, version and digest go into the durable record
(:class:`~gateway.central.authority_service.state.ServiceState`). A refusal or a
lost connection reconnects with capped exponential backoff.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiomqtt
import structlog

from gateway.central.authority_service.state import ServiceState
from gateway.mqtt import topics
from gateway.mqtt.ack import AckTap

log = structlog.get_logger("gateway.central.authority_service")
Sleep = Callable[[float], Awaitable[None]]
ClientFactory = Callable[[], aiomqtt.Client]
_ACKS_KEPT = 1024  # PUBACK times remembered for wait_acked


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message: ``name`` is the registry's topic name, ``version`` its document version."""

    name: str
    topic: str
    payload: bytes
    version: int
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "digest", hashlib.sha256(self.payload).hexdigest())

    @classmethod
    def build(cls, name: str, payload: bytes, version: int, **params: str) -> Outgoing:
        return cls(name, topics.topic_for(name, **params), payload, version)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Publisher:
    """Publishes what it is given; :meth:`run` until cancelled."""

    def __init__(
        self,
        state: ServiceState,
        client_factory: ClientFactory,
        *,
        ack_timeout: float = 10.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 30.0,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.perf_counter,
        wall: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self._state = state
        self._client_factory = client_factory
        self._ack_timeout = ack_timeout
        self._backoff_initial, self._backoff_max = backoff_initial, backoff_max
        self._sleep, self.clock, self._wall = sleep, clock, wall
        self._current: dict[str, Outgoing] = {}  # topic -> the document to keep retained
        self._waiting: dict[str, Outgoing] = {}  # documents not yet PUBACKed, oldest first
        self._deltas: deque[Outgoing] = deque()
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._acked: OrderedDict[str, float] = OrderedDict()  # digest -> clock at PUBACK
        self.connected = asyncio.Event()
        self.sessions = 0

    # --- What to publish --------------------------------------------------------------

    def retain(self, message: Outgoing) -> None:
        """Make ``message`` the current document on its topic and publish it.

        An older version than the current one is ignored: republishing it would
        overwrite the broker's retained copy with something every node refuses.
        """
        held = self._current.get(message.topic)
        if held is not None and held.version > message.version:
            log.warning("retain_older_ignored", topic=message.topic, version=message.version)
            return
        self._current[message.topic] = message
        self._waiting.pop(message.topic, None)  # re-insert at the end: order of arrival
        self._waiting[message.topic] = message
        self._wake.set()

    def send_once(self, message: Outgoing) -> bool:
        """Queue a delta; False (dropped) while disconnected: its token will follow."""
        if not self.connected.is_set():
            log.info("delta_dropped_offline", topic=message.topic, version=message.version)
            return False
        self._deltas.append(message)
        self._wake.set()
        return True

    def pending(self) -> int:
        return len(self._deltas) + len(self._waiting)

    def current_version(self, topic: str) -> int | None:
        held = self._current.get(topic)
        return None if held is None else held.version

    async def drained(self) -> None:
        """Return once nothing waits for a PUBACK (wrap in a timeout)."""
        while self.pending():
            self._progress.clear()
            await self._progress.wait()

    async def wait_acked(self, message: Outgoing) -> float:
        """The clock reading at the PUBACK of ``message`` (or of the same bytes again)."""
        while (at := self._acked.get(message.digest)) is None:
            self._progress.clear()
            await self._progress.wait()
        return at

    # --- The connection -----------------------------------------------------------------

    async def run(self) -> None:
        attempt = 0
        while True:
            try:
                async with self._client_factory() as client:
                    attempt = 0
                    await self._session(client)
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                delay = float(min(self._backoff_max, self._backoff_initial * 2**attempt))
                attempt += 1
                log.warning(
                    "authority_publisher_disconnected",
                    error=str(exc),
                    retry_in_s=delay,
                    pending=self.pending(),
                )
                await self._sleep(delay)
            finally:
                self.connected.clear()

    async def _session(self, client: aiomqtt.Client) -> None:
        tap = AckTap(client)
        self._deltas.clear()
        self._waiting = dict(self._current)  # a new session republishes every document
        self.sessions += 1
        self.connected.set()
        log.info("authority_publisher_connected", documents=len(self._waiting))
        while True:
            if self._deltas:
                await self._publish(tap, self._deltas[0])
                self._deltas.popleft()
            elif self._waiting:
                message = next(iter(self._waiting.values()))
                await self._publish(tap, message)
                if self._waiting.get(message.topic) is message:
                    del self._waiting[message.topic]
            else:
                self._wake.clear()
                await self._wake.wait()

    async def _publish(self, tap: AckTap, message: Outgoing) -> None:
        spec = topics.get(message.name)
        code = await tap.publish(
            message.topic, message.payload, spec.qos, spec.retain, self._ack_timeout
        )
        if code >= 0x80:
            raise aiomqtt.MqttCodeError(code, f"PUBACK refused {message.topic}")
        self._state.mark_published(
            message.topic, message.name, message.version, message.digest, self._wall()
        )
        self._acked[message.digest] = self.clock()
        self._acked.move_to_end(message.digest)
        while len(self._acked) > _ACKS_KEPT:
            self._acked.popitem(last=False)
        self._progress.set()
        log.info(
            "authority_published",
            topic=message.topic,
            version=message.version,
            bytes=len(message.payload),
        )
