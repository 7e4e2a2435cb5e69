"""Stores for the collector tests: SQLite in a temp dir, and a real PostgreSQL database
created for this test session (dropped at the end); PostgreSQL tests skip if unreachable."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest

from gateway.central.collector.store import EventStore, PostgresStore, SqliteStore

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
TABLES = "events, alarms, chains, nodes, presence, quarantine"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN, timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _admin_sync(sql: str) -> None:
    """In a thread of its own: the fixture may be first asked for inside a running loop."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _admin(sql)).result()


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    name = f"collector_{uuid.uuid4().hex[:12]}"
    try:
        _admin_sync(f"CREATE DATABASE {name}")
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 unreachable: {exc}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        _admin_sync(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EventStore]:
    engine: EventStore
    if request.param == "sqlite":
        engine = SqliteStore(tmp_path / "store.sqlite")
        await engine.migrate()
    else:
        dsn = request.getfixturevalue("pg_dsn")
        engine = PostgresStore(dsn)
        await engine.migrate()
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY")
        finally:
            await conn.close()
    yield engine
    await engine.close()
