"""The store interface the collector writes through and the viewer and ``gateway logs`` read.

Two engines implement it: :class:`~.sqlite.SqliteStore` (one file, WAL) and
:class:`~.postgres.PostgresStore` (asyncpg, COPY into a staging table). Both are
idempotent on (node, seq): writing an event twice stores it once.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from gateway.central.collector.model import (
    Alarm,
    ChainState,
    EventFilter,
    NodeHealth,
    Page,
    Presence,
    StoredEvent,
    WriteSet,
)

MAX_PAGE = 1000


class StoreError(RuntimeError):
    """The store refused or failed; nothing of the write set was committed."""


class EventStore(Protocol):
    """Async store API. Every method is safe to call from one event loop at a time."""

    async def migrate(self) -> int:
        """Apply missing schema steps in order; return the schema version now in force."""

    async def close(self) -> None: ...

    # -- the collector's side --------------------------------------------------------------
    async def write(self, changes: WriteSet) -> int:
        """Commit everything in ``changes`` in one transaction; return events newly stored.

        Events already stored under the same (node, seq) are skipped, not overwritten.
        """

    async def chain(self, node: str) -> ChainState | None:
        """The verified chain head of ``node`` (None: nothing seen yet)."""

    async def links_after(self, node: str, seq: int) -> list[tuple[int, str, str]]:
        """``(seq, prev_hash, hash)`` of the node's stored events above ``seq``, ascending."""

    async def hashes(self, node: str, seqs: list[int]) -> dict[int, str]:
        """Stored hashes of those seqs of ``node`` (absent ones are missing from the dict)."""

    # -- the viewer's side -----------------------------------------------------------------
    async def search(
        self, filters: EventFilter, limit: int = 100, cursor: str | None = None
    ) -> Page:
        """Events matching ``filters``, newest first (by ``at`` then id), ``limit`` a page."""

    async def follow(
        self, filters: EventFilter, after_id: int, limit: int = 500
    ) -> list[StoredEvent]:
        """Events stored after ``after_id`` (ascending id): the live feed and ``--follow``."""

    async def last_id(self) -> int:
        """The newest stored event's id (0 when empty): where a live feed starts."""

    async def count(self, filters: EventFilter | None = None) -> int: ...

    async def alarms(self, open_only: bool = True, limit: int = 500) -> list[Alarm]:
        """Alarms, newest first; ``open_only``: neither cleared nor acknowledged."""

    async def acknowledge(self, alarm_id: int, by: str, comment: str | None = None) -> bool:
        """Mark an alarm acknowledged; False if there is no such alarm or it was already."""

    async def nodes(self) -> list[NodeHealth]:
        """Every node seen, by node id."""

    async def inside(self, building: str | None = None) -> list[Presence]:
        """Who is inside ``building`` now (every building when None), by building and since."""

    async def purge(self, older_than: dt.datetime) -> int:
        """Delete events whose ``at`` is before ``older_than``; alarms stay until acknowledged
        (acknowledged or cleared alarms older than that go too). Return events deleted."""
