"""The embedded MQTT broker for ``gateway demo`` and tests: amqtt 0.12, MQTT 3.1.1 only.

``async with EmbeddedBroker({"gate-1": "pw", ...}) as broker:`` serves on
``broker.host``/``broker.port`` (loopback and a free port by default; a wildcard
address is refused). Every client must log in with one of the accounts: amqtt
queues QoS 1 messages for an offline ``clean_session=False`` subscriber only if
its session is not anonymous (amqtt/broker.py ``_run_broadcast``), and its
``AnonymousAuthPlugin`` marks *every* session anonymous when it lets anonymous
clients in, so this broker loads only :class:`AccountsAuthPlugin`.

amqtt keeps sessions, subscriptions and retained messages in memory and
``Broker.start()`` clears them, and it PUBACKs a PUBLISH as soon as it is
queued, before any subscriber has it. So :meth:`EmbeddedBroker.stop` first
drains (stops reading from clients, waits until every accepted message has been
written to its subscribers or queued), and a restart of the same
``EmbeddedBroker`` carries retained messages and the persistent sessions
(subscriptions and queued messages) over. A killed process still loses them:
this is a demo broker. See docs/embedded-broker.md for what was verified.

amqtt is imported only when a broker starts, so ``gateway node`` never loads it.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import structlog

log = structlog.get_logger("gateway.mqtt.embedded")

DEFAULT_SESSION_EXPIRY_S = 7 * 24 * 3600  # as the clients ask for (gateway.mqtt.session)
_AUTH_PLUGIN = f"{__name__}.AccountsAuthPlugin"
_QUIET_LOGGERS = ("amqtt", "transitions")
_DRAIN_POLL_S = 0.005


class EmbeddedBrokerError(RuntimeError):
    """The broker could not start (bad listener, port taken) or was misused."""


@dataclass
class _Carried:
    """What outlives one amqtt Broker instance when the EmbeddedBroker restarts."""

    retained: dict[str, tuple[bytes, int | None]] = field(default_factory=dict)
    subscriptions: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # client_id →
    queued: dict[str, list[Any]] = field(default_factory=dict)  # client_id → to redeliver


def quiet_amqtt_logging(level: int = logging.WARNING) -> None:
    """amqtt logs every packet at INFO/DEBUG; keep its warnings and errors only.

    Records still go through the root handler, which ``configure_logging`` points
    at structlog's JSON renderer.
    """
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(level)


def _check_host(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise EmbeddedBrokerError(f"listener host must be an IP address, not {host!r}") from None
    if address.is_unspecified:
        raise EmbeddedBrokerError(f"refusing to bind the wildcard address {host}")
    return host


def _check_accounts(accounts: Mapping[str, str]) -> dict[str, str]:
    if not accounts:
        raise EmbeddedBrokerError("at least one account is needed: anonymous clients are refused")
    for user, password in accounts.items():
        if not user or not password:
            raise EmbeddedBrokerError("every account needs a non-empty username and password")
    return dict(accounts)


class EmbeddedBroker:
    """amqtt's Broker on one explicit TCP listener, accounts only; an async context manager."""

    def __init__(
        self,
        accounts: Mapping[str, str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        session_expiry_s: int | None = DEFAULT_SESSION_EXPIRY_S,
        drain_timeout_s: float = 5.0,
    ) -> None:
        self._accounts = _check_accounts(accounts)
        self.host = _check_host(host)
        self.port = port  # 0 until started: then the bound port, kept for restarts
        self._session_expiry_s = session_expiry_s
        self._drain_timeout_s = drain_timeout_s
        self._broker: Any = None
        self._carried = _Carried()

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._broker is not None

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _config(self) -> dict[str, Any]:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{self.port}"}},
            "session_expiry_interval": self._session_expiry_s,
            # No $SYS, no packet or event loggers: only the accounts check.
            "plugins": {_AUTH_PLUGIN: {"accounts": self._accounts}},
        }

    async def start(self) -> None:
        """Listen; after a :meth:`stop`, on the same port with what was carried over."""
        if self._broker is not None:
            raise EmbeddedBrokerError("already running")
        quiet_amqtt_logging()
        from amqtt.broker import Broker  # noqa: PLC0415 - lazy: see the module docstring
        from amqtt.errors import BrokerError  # noqa: PLC0415

        broker = Broker(self._config())
        try:
            await broker.start()
        except BrokerError as exc:
            raise EmbeddedBrokerError(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        # amqtt does not expose the bound address; port 0 needs the real one.
        sockets = broker._servers["default"].instance.sockets
        self.port = int(sockets[0].getsockname()[1])
        self._broker = broker
        await self._restore(broker)
        log.info("embedded_broker_started", host=self.host, port=self.port)

    async def stop(self) -> None:
        """Drain, remember what a restart needs, and shut amqtt down. Idempotent."""
        broker, self._broker = self._broker, None
        if broker is None:
            return
        drained = False
        try:
            drained = await _drain(broker, self._drain_timeout_s)
            if not drained:
                log.warning("embedded_broker_drain_timeout", timeout_s=self._drain_timeout_s)
            self._carried = _capture(broker)
        finally:  # even when cancelled mid-drain, the port and the tasks are released
            await broker.shutdown()
        log.info("embedded_broker_stopped", port=self.port, drained=drained)

    async def _restore(self, broker: Any) -> None:
        carried, self._carried = self._carried, _Carried()
        for topic, (data, qos) in carried.retained.items():
            await broker.retain_message(None, topic, data, qos)
        context = broker.plugins_manager.context
        for client_id in carried.subscriptions.keys() | carried.queued.keys():
            await context.add_subscription(client_id, None, None)  # an offline session
            for topic_filter, qos in carried.subscriptions.get(client_id, []):
                await context.add_subscription(client_id, topic_filter, qos)
            session = context.get_session(client_id)
            session.clean_session = False  # its expiry counts from now: it was made offline
            for message in carried.queued.get(client_id, []):
                session.retained_messages.put_nowait(message)


def _handlers(broker: Any) -> list[Any]:
    return [handler for _session, handler in broker.sessions.values() if handler is not None]


def _transport(handler: Any) -> Any:
    writer = getattr(handler, "writer", None)
    stream = getattr(writer, "_writer", None)  # amqtt's StreamWriterAdapter over asyncio's
    return getattr(stream, "transport", None)


def _quiescent(broker: Any) -> bool:
    """Nothing accepted is still on its way: every PUBACKed message is written or queued."""
    if not broker._broadcast_queue.empty():
        return False
    for session, handler in broker.sessions.values():
        if not session.delivered_message_queue.empty():
            return False
        if any(m.publish_packet is None for m in session.inflight_out.values()):
            return False
        reader = getattr(getattr(handler, "reader", None), "_reader", None)
        if reader is not None and len(getattr(reader, "_buffer", b"")) > 0:
            return False
        transport = _transport(handler)
        if transport is not None and transport.get_write_buffer_size() > 0:
            return False
    return True


async def _drain(broker: Any, timeout_s: float) -> bool:
    """Stop reading from clients, then wait until everything accepted has gone out.

    Without this, ``Broker.shutdown`` drops what it has PUBACKed but not yet
    broadcast. With reads paused no new PUBLISH is accepted; the clients resend
    whatever is unacknowledged to the next broker. Two quiet polls in a row, so
    a packet parsed or a delivery task scheduled just before a poll has had its
    turn on the loop (a QoS 1 delivery enters ``inflight_out`` before it writes).
    """
    for server in broker._servers.values():
        server.instance.close()  # no new connections
    for handler in _handlers(broker):
        transport = _transport(handler)
        if transport is not None:
            transport.pause_reading()
    quiet_polls = 0
    try:
        async with asyncio.timeout(timeout_s):
            while quiet_polls < 2:
                await asyncio.sleep(_DRAIN_POLL_S)  # polling amqtt's queues: it has no hook
                quiet_polls = quiet_polls + 1 if _quiescent(broker) else 0
    except TimeoutError:
        return False
    return True


def _capture(broker: Any) -> _Carried:
    carried = _Carried()
    for topic, message in broker.retained_messages.items():
        carried.retained[topic] = (bytes(message.data), message.qos)
    persistent = {
        client_id: session
        for client_id, (session, _handler) in broker.sessions.items()
        if not session.clean_session and not session.is_anonymous
    }
    for topic_filter, subscribers in broker.subscriptions.items():
        for session, qos in subscribers:
            if session.client_id in persistent:
                carried.subscriptions.setdefault(session.client_id, []).append((topic_filter, qos))
    for client_id, session in persistent.items():
        # Written but not acknowledged (reads were paused, so its PUBACK may be
        # unread) goes first, then what waited for it to reconnect: redelivered
        # at least once, oldest first, as MQTT 3.1.1 4.4 asks of a session.
        unacked = [m for m in session.inflight_out.values() if m.qos in (1, 2)]
        queue = session.retained_messages
        if waiting := unacked + [queue.get_nowait() for _ in range(queue.qsize())]:
            carried.queued[client_id] = waiting
    return carried


@functools.cache
def _accounts_plugin_class() -> type:
    from amqtt.plugins.base import BaseAuthPlugin  # noqa: PLC0415

    class AccountsAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
        """Username and password from an in-memory table; no username, no entry."""

        @dataclass
        class Config:
            accounts: dict[str, str] = field(default_factory=dict)

        async def authenticate(self, *, session: Any) -> bool:
            expected = self.config.accounts.get(session.username or "")
            given = session.password or ""
            if isinstance(given, bytes):
                given = given.decode("utf-8", "replace")
            ok = expected is not None and hmac.compare_digest(expected.encode(), given.encode())
            if not ok:
                log.warning("embedded_broker_login_refused", username=session.username)
            return ok

    AccountsAuthPlugin.__module__ = __name__
    AccountsAuthPlugin.__qualname__ = "AccountsAuthPlugin"
    return AccountsAuthPlugin


def __getattr__(name: str) -> Any:
    # amqtt loads plugins by dotted path; building the class here keeps amqtt's
    # import out of whoever merely imports this module.
    if name == "AccountsAuthPlugin":
        return _accounts_plugin_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
