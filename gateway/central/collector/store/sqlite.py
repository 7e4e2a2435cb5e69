"""The SQLite store: one file in WAL mode, one connection, one transaction per write set."""

# ruff: noqa: S608 - SQL is built from constant column lists only; every value is bound.

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite

from gateway.central.collector.model import (
    Alarm,
    ChainState,
    ClearAlarm,
    EventFilter,
    NewAlarm,
    NodeHealth,
    Page,
    Presence,
    StoredEvent,
    WriteSet,
)
from gateway.central.collector.store import sql
from gateway.central.collector.store.base import MAX_PAGE, StoreError
from gateway.central.collector.store.migrations import SCHEMA_VERSION_TABLE, steps

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def to_text(when: dt.datetime) -> str:
    """One fixed-width UTC spelling, so text order is time order."""
    if when.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return when.astimezone(dt.UTC).strftime(_FORMAT)


def from_text(text: Any) -> dt.datetime:
    return dt.datetime.strptime(str(text), _FORMAT).replace(tzinfo=dt.UTC)


def _q(_: int) -> str:
    return "?"


_INSERT_EVENT = (
    f"INSERT OR IGNORE INTO events ({', '.join(sql.EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(sql.EVENT_COLUMNS))})"
)
_UPSERT_NODE = """
INSERT INTO nodes (node, site, online, availability_at, last_heartbeat_at, heartbeat,
                   last_event_at, last_seq)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (node) DO UPDATE SET site = excluded.site,
  online = COALESCE(excluded.online, nodes.online),
  availability_at = COALESCE(excluded.availability_at, nodes.availability_at),
  last_heartbeat_at = COALESCE(excluded.last_heartbeat_at, nodes.last_heartbeat_at),
  heartbeat = COALESCE(excluded.heartbeat, nodes.heartbeat),
  last_event_at = MAX(COALESCE(excluded.last_event_at, ''), COALESCE(nodes.last_event_at, '')),
  last_seq = MAX(COALESCE(excluded.last_seq, 0), COALESCE(nodes.last_seq, 0))
"""


class SqliteStore:
    """:class:`~gateway.central.collector.store.base.EventStore` on a SQLite file."""

    def __init__(self, path: Path, *, synchronous: str = "NORMAL") -> None:
        self.path = path
        self._synchronous = synchronous
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            db = await aiosqlite.connect(self.path, isolation_level=None)
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute(f"PRAGMA synchronous={self._synchronous}")
            await db.execute("PRAGMA busy_timeout=10000")
            self._db = db
        return self._db

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def migrate(self) -> int:
        db = await self._conn()
        await db.execute(SCHEMA_VERSION_TABLE)
        current = 0
        for version, statements in steps("sqlite"):
            async with self._transaction() as db:
                async with db.execute(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_version"
                ) as cur:
                    row = await cur.fetchone()
                current = int(row[0]) if row else 0
                if version <= current:
                    continue
                for statement in statements:
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_version VALUES (?, ?)",
                    (version, to_text(dt.datetime.now(dt.UTC))),
                )
                current = version
        return current

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT; ROLLBACK on anything, cancellation included, so a
        cancelled collector never leaves the shared connection inside a transaction."""
        db = await self._conn()
        async with self._lock:
            try:
                # BEGIN inside the try: a cancellation while it is queued on aiosqlite's
                # thread still runs it there, and must still be rolled back.
                await db.execute("BEGIN IMMEDIATE")
                yield db
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await asyncio.shield(db.execute("ROLLBACK"))
                raise
            await db.execute("COMMIT")

    async def write(self, changes: WriteSet) -> int:
        try:
            async with self._transaction() as db:
                return await self._write(db, changes)
        except sqlite3.Error as exc:
            raise StoreError(f"write failed, nothing committed: {exc}") from exc

    async def _write(self, db: aiosqlite.Connection, changes: WriteSet) -> int:
        before = db.total_changes
        await db.executemany(_INSERT_EVENT, [sql.event_to_row(e, to_text) for e in changes.events])
        inserted = db.total_changes - before
        for chain in changes.chains.values():
            await db.execute(
                "INSERT INTO chains VALUES (?, ?, ?, ?) ON CONFLICT (node) DO UPDATE SET "
                "head_seq = excluded.head_seq, head_hash = excluded.head_hash, "
                "gaps = excluded.gaps",
                (chain.node, chain.head_seq, chain.head_hash, json.dumps(chain.gaps)),
            )
        for op in changes.alarms:
            if isinstance(op, NewAlarm):
                await db.execute(
                    "INSERT OR IGNORE INTO alarms (kind, severity, key, site, node, door, "
                    "detail, raised_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (op.kind.value, op.severity.value, op.key, op.site, op.node, op.door,
                     json.dumps(op.detail, ensure_ascii=False), to_text(op.raised_at)),
                )  # fmt: skip
            elif isinstance(op, ClearAlarm):
                await db.execute(
                    "UPDATE alarms SET cleared_at = ? WHERE key = ? AND cleared_at IS NULL",
                    (to_text(op.at), op.key),
                )
        for change in changes.presence:
            p = change.presence
            if change.op == "enter":
                await db.execute(
                    "INSERT OR REPLACE INTO presence VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (p.building, p.holder_id, p.zone, p.door, p.node, to_text(p.since),
                     p.organization_code),
                )  # fmt: skip
            else:
                await db.execute(
                    "DELETE FROM presence WHERE building = ? AND holder_id = ?",
                    (p.building, p.holder_id),
                )
        for n in changes.nodes.values():
            await db.execute(_UPSERT_NODE, _node_row(n))
        for q in changes.quarantine:
            await db.execute(
                "INSERT INTO quarantine (received_at, topic, node, reason, raw) "
                "VALUES (?, ?, ?, ?, ?)",
                (to_text(q.received_at), q.topic, q.node, q.reason, q.raw),
            )
        return inserted

    async def _all(self, query: str, args: tuple[Any, ...] | list[Any] = ()) -> list[Any]:
        db = await self._conn()
        async with db.execute(query, args) as cur:
            return list(await cur.fetchall())

    async def chain(self, node: str) -> ChainState | None:
        rows = await self._all(
            "SELECT head_seq, head_hash, gaps FROM chains WHERE node = ?", (node,)
        )
        if not rows:
            return None
        seq, head, gaps = rows[0]
        return ChainState(node, int(seq), head, [(int(a), int(b)) for a, b in json.loads(gaps)])

    async def links_after(self, node: str, seq: int) -> list[tuple[int, str, str]]:
        rows = await self._all(
            "SELECT seq, prev_hash, hash FROM events WHERE node = ? AND seq > ? ORDER BY seq",
            (node, seq),
        )
        return [(int(s), p, h) for s, p, h in rows]

    async def hashes(self, node: str, seqs: list[int]) -> dict[int, str]:
        if not seqs:
            return {}
        marks = ", ".join("?" * len(seqs))
        rows = await self._all(
            f"SELECT seq, hash FROM events WHERE node = ? AND seq IN ({marks})",
            (node, *seqs),
        )
        return {int(s): h for s, h in rows}

    async def search(
        self, filters: EventFilter, limit: int = 100, cursor: str | None = None
    ) -> Page:
        limit = max(1, min(limit, MAX_PAGE))
        clauses, args = sql.where(filters, _q, to_text)
        if cursor is not None:
            at, event_id = sql.decode_cursor(cursor)
            clauses.append("(at < ? OR (at = ? AND id < ?))")
            args += [to_text(at), to_text(at), event_id]
        cond = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._all(
            f"{sql.SELECT_EVENTS}{cond} ORDER BY at DESC, id DESC LIMIT ?", [*args, limit + 1]
        )
        events = [sql.event_from_row(r, from_text) for r in rows[:limit]]
        more = len(rows) > limit
        last = events[-1] if events else None
        next_cursor = sql.encode_cursor(last.at, last.id or 0) if more and last else None
        return Page(events, next_cursor)

    async def follow(
        self, filters: EventFilter, after_id: int, limit: int = 500
    ) -> list[StoredEvent]:
        clauses, args = sql.where(filters, _q, to_text)
        clauses.append("id > ?")
        rows = await self._all(
            f"{sql.SELECT_EVENTS} WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?",
            [*args, after_id, max(1, min(limit, MAX_PAGE))],
        )
        return [sql.event_from_row(r, from_text) for r in rows]

    async def last_id(self) -> int:
        rows = await self._all("SELECT COALESCE(MAX(id), 0) FROM events")
        return int(rows[0][0])

    async def count(self, filters: EventFilter | None = None) -> int:
        clauses, args = sql.where(filters or EventFilter(), _q, to_text)
        cond = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._all(f"SELECT COUNT(*) FROM events{cond}", args)
        return int(rows[0][0])

    async def alarms(self, open_only: bool = True, limit: int = 500) -> list[Alarm]:
        cond = " WHERE cleared_at IS NULL AND acknowledged_at IS NULL" if open_only else ""
        rows = await self._all(
            f"SELECT {sql.ALARM_COLUMNS} FROM alarms{cond} ORDER BY raised_at DESC, id DESC "
            "LIMIT ?",
            (limit,),
        )
        return [sql.alarm_from_row(r, from_text) for r in rows]

    async def acknowledge(self, alarm_id: int, by: str, comment: str | None = None) -> bool:
        db = await self._conn()
        async with self._lock:
            cur = await db.execute(
                "UPDATE alarms SET acknowledged_by = ?, acknowledged_at = ?, comment = ? "
                "WHERE id = ? AND acknowledged_at IS NULL",
                (by, to_text(dt.datetime.now(dt.UTC)), comment, alarm_id),
            )
            return cur.rowcount == 1

    async def nodes(self) -> list[NodeHealth]:
        rows = await self._all(
            "SELECT node, site, online, availability_at, last_heartbeat_at, heartbeat, "
            "last_event_at, last_seq FROM nodes ORDER BY node"
        )
        return [_node_from_row(r) for r in rows]

    async def inside(self, building: str | None = None) -> list[Presence]:
        cond, args = (" WHERE building = ?", (building,)) if building is not None else ("", ())
        rows = await self._all(
            "SELECT building, holder_id, zone, door, node, since, organization_code "
            f"FROM presence{cond} ORDER BY building, since",
            args,
        )
        return [Presence(b, h, z, d, n, from_text(s), o) for b, h, z, d, n, s, o in rows]

    async def purge(self, older_than: dt.datetime) -> int:
        cutoff = to_text(older_than)
        async with self._transaction() as db:
            cur = await db.execute("DELETE FROM events WHERE at < ?", (cutoff,))
            deleted = cur.rowcount
            await db.execute(
                "DELETE FROM alarms WHERE raised_at < ? AND acknowledged_at IS NOT NULL",
                (cutoff,),
            )
            await db.execute("DELETE FROM quarantine WHERE received_at < ?", (cutoff,))
        return deleted


def _node_row(n: NodeHealth) -> tuple[Any, ...]:
    def t(x: dt.datetime | None) -> str | None:
        return None if x is None else to_text(x)

    return (
        n.node, n.site, n.online, t(n.availability_at), t(n.last_heartbeat_at),
        None if n.heartbeat is None else json.dumps(n.heartbeat, ensure_ascii=False),
        t(n.last_event_at), n.last_seq,
    )  # fmt: skip


def _node_from_row(r: Any) -> NodeHealth:
    node, site, online, avail, beat_at, beat, last_at, last_seq = r

    def t(x: Any) -> dt.datetime | None:
        return None if x in (None, "") else from_text(x)

    return NodeHealth(
        node=node,
        site=site,
        online=None if online is None else bool(online),
        availability_at=t(avail),
        last_heartbeat_at=t(beat_at),
        heartbeat=None if beat is None else json.loads(beat),
        last_event_at=t(last_at),
        last_seq=None if not last_seq else int(last_seq),
    )
