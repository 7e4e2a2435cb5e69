"""The PostgreSQL store: asyncpg, events COPied into a staging table, then one
``INSERT … SELECT … ON CONFLICT (node, seq) DO NOTHING``, all in one transaction."""

# ruff: noqa: S608 - SQL is built from constant column lists only; every value is bound.

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import asyncpg

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

_MIGRATION_LOCK = 0x6A7E_C011  # pg_advisory_xact_lock: one collector migrates at a time
_COLUMNS = ", ".join(sql.EVENT_COLUMNS)
_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS events_stage ON COMMIT DELETE ROWS AS "
    f"SELECT {_COLUMNS} FROM events WITH NO DATA"
)
_MOVE = (
    f"INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM events_stage "
    "ORDER BY node, seq ON CONFLICT (node, seq) DO NOTHING"
)
_UPSERT_NODE = """
INSERT INTO nodes (node, site, online, availability_at, last_heartbeat_at, heartbeat,
                   last_event_at, last_seq)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (node) DO UPDATE SET site = excluded.site,
  online = COALESCE(excluded.online, nodes.online),
  availability_at = COALESCE(excluded.availability_at, nodes.availability_at),
  last_heartbeat_at = COALESCE(excluded.last_heartbeat_at, nodes.last_heartbeat_at),
  heartbeat = COALESCE(excluded.heartbeat, nodes.heartbeat),
  last_event_at = GREATEST(excluded.last_event_at, nodes.last_event_at),
  last_seq = GREATEST(excluded.last_seq, nodes.last_seq)
"""


def _aware(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return when


def _same(value: Any) -> dt.datetime:
    return value  # type: ignore[no-any-return]


def _n(i: int) -> str:
    return f"${i}"


class PostgresStore:
    """:class:`~gateway.central.collector.store.base.EventStore` on PostgreSQL."""

    def __init__(self, dsn: str, *, pool_size: int = 4) -> None:
        self.dsn = dsn
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self._pool_size)
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def migrate(self) -> int:
        pool = await self._get_pool()
        async with pool.acquire() as conn:
            await conn.execute(SCHEMA_VERSION_TABLE)
            current = 0
            for version, statements in steps("postgres"):
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                    current = await conn.fetchval(
                        "SELECT COALESCE(MAX(version), 0) FROM schema_version"
                    )
                    if version <= current:
                        continue
                    for statement in statements:
                        await conn.execute(statement)
                    await conn.execute(
                        "INSERT INTO schema_version VALUES ($1, $2)",
                        version,
                        dt.datetime.now(dt.UTC).isoformat(),
                    )
                    current = version
            return int(current)

    async def write(self, changes: WriteSet) -> int:
        pool = await self._get_pool()
        try:
            async with pool.acquire() as conn, conn.transaction():
                return await self._write(conn, changes)
        except (asyncpg.PostgresError, OSError) as exc:
            raise StoreError(f"write failed, nothing committed: {exc}") from exc

    async def _write(self, conn: Any, changes: WriteSet) -> int:
        inserted = 0
        if changes.events:
            await conn.execute(_STAGE)
            await conn.copy_records_to_table(
                "events_stage",
                records=[sql.event_to_row(e, _aware) for e in changes.events],
                columns=sql.EVENT_COLUMNS,
            )
            status = await conn.execute(_MOVE)
            inserted = int(status.rsplit(" ", 1)[-1])
        if changes.chains:
            await conn.executemany(
                "INSERT INTO chains VALUES ($1, $2, $3, $4) ON CONFLICT (node) DO UPDATE SET "
                "head_seq = excluded.head_seq, head_hash = excluded.head_hash, "
                "gaps = excluded.gaps",
                [(c.node, c.head_seq, c.head_hash, json.dumps(c.gaps))
                 for c in changes.chains.values()],
            )  # fmt: skip
        for op in changes.alarms:
            if isinstance(op, NewAlarm):
                await conn.execute(
                    "INSERT INTO alarms (kind, severity, key, site, node, door, detail, "
                    "raised_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (key) "
                    "WHERE cleared_at IS NULL AND acknowledged_at IS NULL DO NOTHING",
                    op.kind.value, op.severity.value, op.key, op.site, op.node, op.door,
                    json.dumps(op.detail, ensure_ascii=False), op.raised_at,
                )  # fmt: skip
            elif isinstance(op, ClearAlarm):
                await conn.execute(
                    "UPDATE alarms SET cleared_at = $1 WHERE key = $2 AND cleared_at IS NULL",
                    op.at,
                    op.key,
                )
        for change in changes.presence:
            p = change.presence
            if change.op == "enter":
                await conn.execute(
                    "INSERT INTO presence VALUES ($1, $2, $3, $4, $5, $6, $7) "
                    "ON CONFLICT (building, holder_id) DO UPDATE SET zone = excluded.zone, "
                    "door = excluded.door, node = excluded.node, since = excluded.since, "
                    "organization_code = excluded.organization_code",
                    p.building, p.holder_id, p.zone, p.door, p.node, p.since,
                    p.organization_code,
                )  # fmt: skip
            else:
                await conn.execute(
                    "DELETE FROM presence WHERE building = $1 AND holder_id = $2",
                    p.building,
                    p.holder_id,
                )
        for n in changes.nodes.values():
            await conn.execute(
                _UPSERT_NODE,
                n.node, n.site, n.online, n.availability_at, n.last_heartbeat_at,
                None if n.heartbeat is None else json.dumps(n.heartbeat, ensure_ascii=False),
                n.last_event_at, n.last_seq,
            )  # fmt: skip
        for q in changes.quarantine:
            await conn.execute(
                "INSERT INTO quarantine (received_at, topic, node, reason, raw) "
                "VALUES ($1, $2, $3, $4, $5)",
                q.received_at, q.topic, q.node, q.reason, q.raw,
            )  # fmt: skip
        return inserted

    async def _fetch(self, query: str, *args: Any) -> list[Any]:
        pool = await self._get_pool()
        async with pool.acquire() as conn:
            return list(await conn.fetch(query, *args))

    async def chain(self, node: str) -> ChainState | None:
        rows = await self._fetch(
            "SELECT head_seq, head_hash, gaps::text FROM chains WHERE node = $1", node
        )
        if not rows:
            return None
        seq, head, gaps = rows[0]
        return ChainState(node, int(seq), head, [(int(a), int(b)) for a, b in json.loads(gaps)])

    async def links_after(self, node: str, seq: int) -> list[tuple[int, str, str]]:
        rows = await self._fetch(
            "SELECT seq, prev_hash, hash FROM events WHERE node = $1 AND seq > $2 ORDER BY seq",
            node,
            seq,
        )
        return [(int(s), p, h) for s, p, h in rows]

    async def hashes(self, node: str, seqs: list[int]) -> dict[int, str]:
        if not seqs:
            return {}
        rows = await self._fetch(
            "SELECT seq, hash FROM events WHERE node = $1 AND seq = ANY($2::bigint[])", node, seqs
        )
        return {int(s): h for s, h in rows}

    def _select(self) -> str:
        return sql.SELECT_EVENTS.replace("payload", "payload::text", 1)

    async def search(
        self, filters: EventFilter, limit: int = 100, cursor: str | None = None
    ) -> Page:
        limit = max(1, min(limit, MAX_PAGE))
        clauses, args = sql.where(filters, _n, _aware)
        if cursor is not None:
            at, event_id = sql.decode_cursor(cursor)
            i = len(args)
            clauses.append(f"(at < ${i + 1} OR (at = ${i + 1} AND id < ${i + 2}))")
            args += [at, event_id]
        cond = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._fetch(
            f"{self._select()}{cond} ORDER BY at DESC, id DESC LIMIT ${len(args) + 1}",
            *args,
            limit + 1,
        )
        events = [sql.event_from_row(r, _same) for r in rows[:limit]]
        last = events[-1] if events else None
        more = len(rows) > limit
        return Page(events, sql.encode_cursor(last.at, last.id or 0) if more and last else None)

    async def follow(
        self, filters: EventFilter, after_id: int, limit: int = 500
    ) -> list[StoredEvent]:
        clauses, args = sql.where(filters, _n, _aware)
        clauses.append(f"id > ${len(args) + 1}")
        rows = await self._fetch(
            f"{self._select()} WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ${len(args) + 2}",
            *args,
            after_id,
            max(1, min(limit, MAX_PAGE)),
        )
        return [sql.event_from_row(r, _same) for r in rows]

    async def last_id(self) -> int:
        rows = await self._fetch("SELECT COALESCE(MAX(id), 0) FROM events")
        return int(rows[0][0])

    async def count(self, filters: EventFilter | None = None) -> int:
        clauses, args = sql.where(filters or EventFilter(), _n, _aware)
        cond = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._fetch(f"SELECT COUNT(*) FROM events{cond}", *args)
        return int(rows[0][0])

    async def alarms(self, open_only: bool = True, limit: int = 500) -> list[Alarm]:
        cond = " WHERE cleared_at IS NULL AND acknowledged_at IS NULL" if open_only else ""
        columns = sql.ALARM_COLUMNS.replace("detail", "detail::text")
        rows = await self._fetch(
            f"SELECT {columns} FROM alarms{cond} ORDER BY raised_at DESC, id DESC LIMIT $1",
            limit,
        )
        return [sql.alarm_from_row(r, _same) for r in rows]

    async def acknowledge(self, alarm_id: int, by: str, comment: str | None = None) -> bool:
        pool = await self._get_pool()
        async with pool.acquire() as conn:
            status = await conn.execute(
                "UPDATE alarms SET acknowledged_by = $1, acknowledged_at = now(), comment = $2 "
                "WHERE id = $3 AND acknowledged_at IS NULL",
                by,
                comment,
                alarm_id,
            )
        return bool(status == "UPDATE 1")

    async def nodes(self) -> list[NodeHealth]:
        rows = await self._fetch(
            "SELECT node, site, online, availability_at, last_heartbeat_at, heartbeat::text, "
            "last_event_at, last_seq FROM nodes ORDER BY node"
        )
        return [
            NodeHealth(
                node=r[0],
                site=r[1],
                online=r[2],
                availability_at=r[3],
                last_heartbeat_at=r[4],
                heartbeat=None if r[5] is None else json.loads(r[5]),
                last_event_at=r[6],
                last_seq=None if r[7] is None else int(r[7]),
            )
            for r in rows
        ]

    async def inside(self, building: str | None = None) -> list[Presence]:
        query = (
            "SELECT building, holder_id, zone, door, node, since, organization_code FROM presence"
        )
        if building is None:
            rows = await self._fetch(f"{query} ORDER BY building, since")
        else:
            rows = await self._fetch(f"{query} WHERE building = $1 ORDER BY since", building)
        return [Presence(*r) for r in rows]

    async def purge(self, older_than: dt.datetime) -> int:
        pool = await self._get_pool()
        async with pool.acquire() as conn, conn.transaction():
            status = await conn.execute("DELETE FROM events WHERE at < $1", _aware(older_than))
            await conn.execute(
                "DELETE FROM alarms WHERE raised_at < $1 AND acknowledged_at IS NOT NULL",
                older_than,
            )
            await conn.execute("DELETE FROM quarantine WHERE received_at < $1", older_than)
        return int(status.rsplit(" ", 1)[-1])
