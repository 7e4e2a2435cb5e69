"""The collector's event store: one interface, SQLite or PostgreSQL behind it."""

from __future__ import annotations

from pathlib import Path

from gateway.central.collector.store.base import MAX_PAGE, EventStore, StoreError
from gateway.central.collector.store.postgres import PostgresStore
from gateway.central.collector.store.sql import BadCursor
from gateway.central.collector.store.sqlite import SqliteStore


def open_store(url: str, *, base: Path | None = None) -> EventStore:
    """``sqlite:///abs/path``, ``sqlite:relative/path`` (from ``base``) or ``postgresql://…``."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    if url.startswith("sqlite:"):
        path = Path(url.removeprefix("sqlite:").removeprefix("//"))
        if not path.is_absolute() and base is not None:
            path = base / path
        return SqliteStore(path)
    raise ValueError(f"store url must start with sqlite: or postgresql://, not {url!r}")


__all__ = [
    "MAX_PAGE",
    "BadCursor",
    "EventStore",
    "PostgresStore",
    "SqliteStore",
    "StoreError",
    "open_store",
]
