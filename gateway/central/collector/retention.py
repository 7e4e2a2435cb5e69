"""The retention purge: events older than ``events_days`` go; open alarms stay until
acknowledged (the store deletes only acknowledged alarms past the cutoff)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

import structlog

from gateway.central.collector.config import RetentionSection
from gateway.central.collector.store import EventStore

log = structlog.get_logger("gateway.central.collector.retention")
Clock = Callable[[], dt.datetime]
Sleep = Callable[[float], Awaitable[None]]


def cutoff(settings: RetentionSection, now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(days=settings.events_days)


async def purge_once(store: EventStore, settings: RetentionSection, now: dt.datetime) -> int:
    older_than = cutoff(settings, now)
    deleted = await store.purge(older_than)
    log.info("retention_purge", deleted=deleted, older_than=older_than.isoformat())
    return deleted


async def purge_forever(
    store: EventStore, settings: RetentionSection, clock: Clock, sleep: Sleep
) -> None:
    while True:
        await purge_once(store, settings, clock())
        await sleep(settings.purge_interval_s)
