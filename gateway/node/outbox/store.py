"""The outbox store: SQLite in WAL mode, one writer thread, group commit, hash chain, signatures.

``await outbox.append(kind, payload)`` returns the :class:`Event` once its row
is committed (with ``synchronous=FULL``: once the WAL is fsynced). Appends made
while a commit is in flight wait in a queue and go in the next transaction,
so a burst costs one commit (and one fsync) per group, not per event.
:meth:`Outbox.submit` is the non-blocking form the tap path uses after the
relay has been driven (see ``docs/reliability.md``).

``seq`` and the chain head come from the table at open (the newest row is
never pruned), and move in memory only after a commit. Delivered rows are
pruned after the retention period; undelivered rows never are. Past the size
limit (undelivered count or bytes) the outbox appends an ``outbox_alarm``
event (``state="raised"``) once per crossing and ``state="recovered"`` when the
depth falls back under the recovery mark; it keeps every event.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.node.outbox.chain import GENESIS_HASH, Event, canonical_json, event_hash, format_at
from gateway.node.outbox.keys import public_key_bytes

log = structlog.get_logger("gateway.node.outbox")
ALARM_KIND = "outbox_alarm"
ROW_OVERHEAD_BYTES = 320  # at, kind, hashes, signature and SQLite's own per-row cost, roughly
Clock = Callable[[], dt.datetime]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq          INTEGER PRIMARY KEY,
    at           TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    prev_hash    TEXT    NOT NULL,
    hash         TEXT    NOT NULL,
    signature    TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    delivered_at TEXT
);
CREATE INDEX IF NOT EXISTS events_pending ON events (seq) WHERE delivered_at IS NULL;
CREATE TABLE IF NOT EXISTS outbox_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_COLUMNS = "seq, at, kind, payload, prev_hash, hash, signature, delivered_at"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Synchronous(enum.Enum):
    """SQLite's ``synchronous`` in WAL mode (see ``docs/reliability.md``)."""

    FULL = "FULL"  # the WAL is fsynced at every commit: a committed row survives power loss
    NORMAL = "NORMAL"  # fsync only at checkpoints: survives kill -9, not power loss


class OutboxClosed(RuntimeError):
    pass


class OutboxKeyMismatch(RuntimeError):
    """The database holds a chain signed by another node key."""


@dataclass(frozen=True)
class Limits:
    """When the undelivered backlog raises the alarm, and how long delivered rows are kept."""

    max_pending_count: int = 200_000
    max_pending_bytes: int = 128 * 1024 * 1024
    recover_ratio: float = 0.9  # recovered once both are at or under this share of the limit
    retention: dt.timedelta = dt.timedelta(days=7)


@dataclass(frozen=True)
class _Item:
    kind: str
    at: str
    payload_json: str  # canonical JSON: parsed back on the writer thread, off the tap path


_Queued = tuple[_Item, "asyncio.Future[Event]"]


class Outbox:
    """One node's outbox. Open it with the DB path and the node key; close it when done."""

    def __init__(
        self,
        path: Path,
        key: Ed25519PrivateKey,
        *,
        now: Clock = utc_now,
        synchronous: Synchronous = Synchronous.FULL,
        limits: Limits = Limits(),  # frozen: one shared default is safe
        max_batch: int = 256,
    ) -> None:
        self.path = Path(path)
        self._key = key
        self.public_key: Ed25519PublicKey = key.public_key()
        self._now = now
        self.synchronous = synchronous
        self.limits = limits
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=10.0
        )
        mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            self._conn.close()
            raise sqlite3.OperationalError(f"{self.path}: journal_mode is {mode}, WAL is required")
        self._conn.execute(f"PRAGMA synchronous={synchronous.value}")
        self._conn.executescript(_SCHEMA)
        head = self._conn.execute(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        self._head_seq: int = 0 if head is None else int(head[0])
        self._head_hash: str = GENESIS_HASH if head is None else str(head[1])
        count, size = self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM events WHERE delivered_at IS NULL"
        ).fetchone()
        self._pending_count, self._pending_bytes = int(count), int(size)
        self._check_node_key()
        state = self._conn.execute("SELECT value FROM outbox_state WHERE key = 'alarm'").fetchone()
        self._alarm_raised = state is not None and state[0] == "raised"
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-writer")
        self._queue: asyncio.Queue[_Queued | None] | None = None
        self._inflight: set[asyncio.Future[Event]] = set()
        self._writer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        with self._lock:
            self._check_limits_locked()

    def _check_node_key(self) -> None:
        """One database, one signer: a chain signed by two keys would not verify at the centre."""
        mine = public_key_bytes(self.public_key).hex()
        row = self._conn.execute("SELECT value FROM outbox_state WHERE key = 'node_key'").fetchone()
        if row is None:
            self._conn.execute(
                "INSERT INTO outbox_state (key, value) VALUES ('node_key', ?)", (mine,)
            )
        elif row[0] != mine:
            self._conn.close()
            raise OutboxKeyMismatch(
                f"{self.path} was written with node key {row[0][:16]}…, not {mine[:16]}…"
            )

    # -- state ---------------------------------------------------------------------------
    @property
    def head(self) -> tuple[int, str]:
        """The last committed seq and its hash (0 and the genesis hash when empty)."""
        return self._head_seq, self._head_hash

    @property
    def depth(self) -> tuple[int, int]:
        """Undelivered rows: how many, and roughly how many bytes."""
        return self._pending_count, self._pending_bytes

    @property
    def alarm_raised(self) -> bool:
        return self._alarm_raised

    # -- writing ---------------------------------------------------------------------------
    def _item(self, kind: str, payload: Mapping[str, Any]) -> _Item:
        if self._closed:
            raise OutboxClosed("the outbox is closed")
        if not kind:
            raise ValueError("an event needs a kind")
        text = canonical_json(dict(payload))  # fails here, on the caller, not in a batch
        if not text.startswith("{"):
            raise TypeError("a payload is a JSON object")
        return _Item(kind, format_at(self._now()), text)

    def submit(self, kind: str, payload: Mapping[str, Any]) -> asyncio.Future[Event]:
        """Queue one event (stamped now) and return a future resolved once it is committed.

        Call on the event loop's thread. The future need not be awaited: the row is written
        either way (the writer thread resolves the future; a failed write sets its exception).
        Raises at once for a payload that is not a JSON object, or a closed outbox.
        """
        item = self._item(kind, payload)
        loop = asyncio.get_running_loop()
        queue = self._ensure_writer(loop)
        future: asyncio.Future[Event] = loop.create_future()
        self._inflight.add(future)
        future.add_done_callback(self._inflight.discard)
        queue.put_nowait((item, future))
        return future

    async def append(self, kind: str, payload: Mapping[str, Any]) -> Event:
        """Append one event and return it once its row is committed."""
        return await self.submit(kind, payload)

    def append_sync(self, kind: str, payload: Mapping[str, Any]) -> Event:
        """Append and commit on the caller's thread (shutdown, or code with no loop)."""
        item = self._item(kind, payload)
        with self._lock:
            (event,) = self._write_locked([item])
            self._check_limits_locked()
        return event

    def _ensure_writer(self, loop: asyncio.AbstractEventLoop) -> asyncio.Queue[_Queued | None]:
        writer = self._writer
        if self._queue is None or self._loop is not loop or writer is None or writer.done():
            self._loop = loop
            self._queue = asyncio.Queue()
            self._writer = loop.create_task(self._write_loop(self._queue), name="outbox-writer")
        return self._queue

    async def _write_loop(self, queue: asyncio.Queue[_Queued | None]) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await queue.get()
            batch: list[_Queued] = []
            if first is None:
                stopping = True
            else:
                batch.append(first)
            while not stopping and len(batch) < self.max_batch and not queue.empty():
                item = queue.get_nowait()
                if item is None:
                    stopping = True
                else:
                    batch.append(item)
            if not batch:
                continue
            # The thread resolves the futures itself, so a cancelled writer task (sync close)
            # never strands a caller whose row was committed.
            await loop.run_in_executor(self._executor, self._write_batch, batch)

    def _write_batch(self, batch: list[_Queued]) -> None:
        futures = [future for _item, future in batch]
        with self._lock:
            try:
                events = self._write_locked([item for item, _future in batch])
            except Exception as exc:
                _settle(futures, exc)
                return
            try:
                self._check_limits_locked()
            except Exception as exc:  # the group is committed: its callers must hear so
                log.error("outbox_alarm_write_failed", error=f"{type(exc).__name__}: {exc}")
        _settle(futures, events)

    def _write_locked(self, batch: list[_Item], alarm_state: str | None = None) -> list[Event]:
        seq, prev = self._head_seq, self._head_hash
        events: list[Event] = []
        rows: list[tuple[Any, ...]] = []
        size = 0
        for item in batch:
            seq += 1
            payload = json.loads(item.payload_json)
            digest = event_hash(seq, item.at, item.kind, payload, prev)
            signature = self._key.sign(bytes.fromhex(digest)).hex()
            row_size = len(item.payload_json.encode("utf-8")) + ROW_OVERHEAD_BYTES
            events.append(Event(seq, item.at, item.kind, payload, prev, digest, signature))
            rows.append(
                (seq, item.at, item.kind, item.payload_json, prev, digest, signature, row_size)
            )
            size += row_size
            prev = digest
        with self._transaction():
            self._conn.executemany(
                "INSERT INTO events (seq, at, kind, payload, prev_hash, hash, signature, size)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            if alarm_state is not None:  # the alarm event and its state commit together
                self._conn.execute(
                    "INSERT OR REPLACE INTO outbox_state (key, value) VALUES ('alarm', ?)",
                    (alarm_state,),
                )
        self._head_seq, self._head_hash = seq, prev
        self._pending_count += len(rows)
        self._pending_bytes += size
        return events

    @contextlib.contextmanager
    def _transaction(self) -> Any:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- the size limit -------------------------------------------------------------------
    def _check_limits_locked(self) -> None:
        limits = self.limits
        count, size = self._pending_count, self._pending_bytes
        over = count > limits.max_pending_count or size > limits.max_pending_bytes
        under = (
            count <= limits.max_pending_count * limits.recover_ratio
            and size <= limits.max_pending_bytes * limits.recover_ratio
        )
        if over and not self._alarm_raised:
            state = "raised"
        elif under and self._alarm_raised:
            state = "recovered"
        else:
            return
        payload = {
            "alarm": "outbox_backlog",
            "state": state,
            "is_alarm": state == "raised",
            "pending_count": count,
            "pending_bytes": size,
            "max_pending_count": limits.max_pending_count,
            "max_pending_bytes": limits.max_pending_bytes,
        }
        item = _Item(ALARM_KIND, format_at(self._now()), canonical_json(payload))
        self._write_locked([item], alarm_state=state)
        self._alarm_raised = state == "raised"

    # -- reading, delivery, pruning --------------------------------------------------------
    def pending(self, limit: int = 500) -> list[Event]:
        """Undelivered events, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE delivered_at IS NULL ORDER BY seq LIMIT ?",  # noqa: S608
                (limit,),
            ).fetchall()
        return [Event.from_row(tuple(row)) for row in rows]

    def oldest_pending_age(self, now: dt.datetime) -> float | None:
        """Seconds since the oldest undelivered event happened; None when all are delivered."""
        with self._lock:
            row = self._conn.execute(
                "SELECT at FROM events WHERE delivered_at IS NULL ORDER BY seq LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        at = dt.datetime.strptime(row[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
        return max(0.0, (now - at).total_seconds())

    def events(self, after_seq: int = 0, limit: int = 10_000) -> list[Event]:
        """Stored events (delivered or not) with seq > ``after_seq``, in seq order."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?",  # noqa: S608
                (after_seq, limit),
            ).fetchall()
        return [Event.from_row(tuple(row)) for row in rows]

    def mark_delivered(
        self, up_to_seq: int | None = None, *, seqs: Iterable[int] | None = None
    ) -> int:
        """Mark delivered every undelivered event with seq <= ``up_to_seq``, or exactly ``seqs``.

        The publisher calls this after the broker's PUBACK. Returns how many rows changed.
        It takes the writer's lock, so on the event loop prefer :meth:`mark_delivered_async`
        (a commit in flight can hold the lock for an fsync).
        """
        if (up_to_seq is None) == (seqs is None):
            raise ValueError("give up_to_seq or seqs, not both")
        if seqs is not None:
            wanted = sorted(set(seqs))
            if not wanted:
                return 0
            marks = ",".join("?" * len(wanted))
            where = f"delivered_at IS NULL AND seq IN ({marks})"
            args: tuple[Any, ...] = tuple(wanted)
        else:
            where = "delivered_at IS NULL AND seq <= ?"
            args = (up_to_seq,)
        when = format_at(self._now())
        with self._lock:
            with self._transaction():
                count, size = self._conn.execute(
                    f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM events WHERE {where}",  # noqa: S608
                    args,
                ).fetchone()
                self._conn.execute(
                    f"UPDATE events SET delivered_at = ? WHERE {where}",  # noqa: S608
                    (when, *args),
                )
            self._pending_count -= int(count)
            self._pending_bytes -= int(size)
            self._check_limits_locked()
        return int(count)

    def prune(self) -> int:
        """Delete delivered rows past the retention; never undelivered ones, never the head."""
        cutoff = format_at(self._now() - self.limits.retention)
        with self._lock, self._transaction():
            cursor = self._conn.execute(
                "DELETE FROM events WHERE delivered_at IS NOT NULL AND delivered_at < ?"
                " AND seq < (SELECT MAX(seq) FROM events)",
                (cutoff,),
            )
        return cursor.rowcount

    async def pending_async(self, limit: int = 500) -> list[Event]:
        """:meth:`pending` on the writer's thread, so the loop never waits on the lock."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.pending, limit)

    async def mark_delivered_async(
        self, up_to_seq: int | None = None, *, seqs: Iterable[int] | None = None
    ) -> int:
        wanted = None if seqs is None else list(seqs)
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, lambda: self.mark_delivered(up_to_seq, seqs=wanted)
        )

    # -- lifecycle ------------------------------------------------------------------------
    async def flush(self) -> None:
        """Wait until everything submitted so far is committed."""
        if self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    async def aclose(self) -> None:
        """Commit everything queued, stop the writer, close the database. Idempotent."""
        if self._closed:
            return
        if self._queue is not None and self._writer is not None:
            self._queue.put_nowait(None)
            await self._writer
        self._closed = True
        self._close_db()

    def close(self) -> None:
        """Synchronous shutdown flush: commit what is still queued on this thread, then close.

        For a loop that is no longer running (a signal handler, ``atexit``). Queued futures
        are resolved through their loop when it still runs.
        """
        if self._closed:
            return
        self._closed = True
        leftover: list[_Queued] = []
        if self._queue is not None:
            while not self._queue.empty():
                queued = self._queue.get_nowait()
                if queued is not None:
                    leftover.append(queued)
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
        self._executor.shutdown(wait=True)  # a group in flight commits first: seq keeps order
        if leftover:
            self._write_batch(leftover)
        self._close_db()

    def _close_db(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            self._conn.close()

    def node_listener(
        self, on_committed: Callable[[], None] | None = None
    ) -> Callable[[dict[str, Any]], None]:
        """A :class:`~gateway.node.runtime.node.GateNode` listener: each record becomes an event.

        The record's ``event`` names the kind (``decision``, ``door``, ``node``, ``passage`` ...);
        a ``tap`` seen again while the card is still on the reader (``read="repeat"``) is not
        kept. Each is submitted without waiting (an enqueue, no I/O): the relay, driven right
        after the ``decision`` event, never waits on a commit. A refused or failed write is
        logged at ERROR. ``on_committed`` runs once each event is on disk (the publisher's
        :meth:`~gateway.node.publisher.Publisher.notify`).
        """

        def listen(record: dict[str, Any]) -> None:
            if record.get("event") == "tap" and record.get("read") == "repeat":
                return
            fields = {k: v for k, v in record.items() if k != "event"}
            kind = str(record.get("event", "event"))
            try:
                future = self.submit(kind, fields)
            except (TypeError, ValueError, OutboxClosed) as exc:
                log.error("outbox_refused", kind=kind, error=f"{type(exc).__name__}: {exc}")
                return
            future.add_done_callback(_log_failure)
            if on_committed is not None:
                future.add_done_callback(lambda _f: on_committed())

        return listen


def _log_failure(future: asyncio.Future[Event]) -> None:
    """A write that failed is an error in the node's log, never a silent loss."""
    if not future.cancelled() and future.exception() is not None:
        exc = future.exception()
        log.error("outbox_write_failed", error=f"{type(exc).__name__}: {exc}")


def _settle(futures: list[asyncio.Future[Event]], outcome: list[Event] | Exception) -> None:
    """Resolve a group's futures on their loop (from any thread), in one loop callback."""
    if not futures:
        return
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
        futures[0].get_loop().call_soon_threadsafe(_resolve_all, futures, outcome)


def _resolve_all(futures: list[asyncio.Future[Event]], outcome: list[Event] | Exception) -> None:
    for index, future in enumerate(futures):
        if future.done():
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome[index])
