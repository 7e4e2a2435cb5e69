"""The authority as a running service: every status change reaches the gates within a second.

A change made through this service (:class:`LifecycleActions`, what the
viewer's admin pages call) is followed at once by :meth:`AuthorityService.sync_status`:
a new token, a delta to it from the token the gates hold, the delta sent first
and the token retained after it. A change made by ``gateway authority …`` in
another process is seen by :meth:`AuthorityService.poll_once`, which costs one
``PRAGMA data_version`` when nothing changed, and is run every
``poll_interval_s`` (0.2 s by default).

The authority (synchronous SQLite, fsync per change, signing) runs on one
worker thread of its own so that the event loop, which may be the viewer's,
never waits on a disk; one asyncio lock keeps "change, then release" in order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import structlog

from gateway.central.authority.service import Authority
from gateway.central.authority_service.publisher import Outgoing, Publisher
from gateway.central.authority_service.state import ServiceState
from gateway.central.authority_service.status import StatusRelease, StatusTracker
from gateway.mqtt import topics
from gateway.node.sync.keys import list_id_for

log = structlog.get_logger("gateway.central.authority_service")
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AuthorityService:
    """Open with :meth:`start`, then call, poll or :meth:`run`; :meth:`close` at the end."""

    def __init__(
        self,
        authority_path: Path,
        state: ServiceState,
        publisher: Publisher,
        *,
        sites: list[str],
        actor: str = "authority-service",
        wall: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        if not sites:
            raise ValueError("at least one site")
        self.state = state
        self.publisher = publisher
        self.sites = [topics.check_level("site", site) for site in sites]
        self.actor = actor
        self.wall = wall
        self._path = authority_path
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="authority")
        self._authority: Authority | None = None
        self._tracker: StatusTracker | None = None
        self._seen_version: int | None = None
        self._lock = asyncio.Lock()

    # --- Life ------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the authority and queue the current token for republishing."""
        self._authority = await self.call(Authority.open, self._path)
        base = self._published_base(self._authority.status_uri)
        self._tracker = await self.call(StatusTracker, self._authority, base)
        current = await self.call(self._tracker.current)
        if current is not None and self._tracker.base_iat == current.iat:
            # Republish: the broker may have lost its retained copy. A token newer than
            # what the gates were given goes out with its delta at the first poll instead.
            self._announce(current)

    def _published_base(self, uri: str) -> int | None:
        """The oldest token some site was last given: a delta must start from what all hold."""
        versions = []
        for site in self.sites:
            topic = topics.topic_for("status_list", site=site, list=list_id_for(uri))
            versions.append(self.state.published_version(topic))
        return None if None in versions else min(v for v in versions if v is not None)

    async def close(self) -> None:
        if self._authority is not None:
            await self.call(self._authority.close)
        self._worker.shutdown(wait=True)

    @property
    def authority(self) -> Authority:
        """For calls through :meth:`call` only: it belongs to the worker thread."""
        if self._authority is None:
            raise RuntimeError("the service is not started")
        return self._authority

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the authority's own thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, lambda: fn(*args, **kwargs))

    # --- Changes --------------------------------------------------------------------------

    async def change(
        self, fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> tuple[T, StatusRelease | None]:
        """Make a change on the authority, then release what it did to the gates."""
        async with self._lock:
            result = await self.call(fn, *args, **kwargs)
            return result, await self._release()

    async def sync_status(self) -> StatusRelease | None:
        """Publish whatever status change is in the database and not yet released."""
        async with self._lock:
            return await self._release()

    async def poll_once(self) -> StatusRelease | None:
        """Pick up changes another process (the CLI) committed; cheap when there are none."""
        version = await self.call(self.authority.data_version)
        if version == self._seen_version:
            return None
        self._seen_version = version
        return await self.sync_status()

    async def _release(self) -> StatusRelease | None:
        tracker = self._tracker
        if tracker is None:
            raise RuntimeError("the service is not started")
        release = await self.call(tracker.release, self.wall(), self.actor)
        if release is not None:
            self._announce(release)
            log.info(
                "status_released",
                iat=release.iat,
                changes=len(release.changes),
                delta=release.delta is not None,
            )
        return release

    def _announce(self, release: StatusRelease) -> None:
        for site in self.sites:
            if release.delta is not None:
                self.publisher.send_once(self.delta_message(release, site))
            self.publisher.retain(self.token_message(release, site))

    def token_message(self, release: StatusRelease, site: str) -> Outgoing:
        return Outgoing.build(
            "status_list", release.token, release.iat, site=site, list=list_id_for(release.uri)
        )

    def delta_message(self, release: StatusRelease, site: str) -> Outgoing:
        if release.delta is None:
            raise ValueError("this release has no delta")
        return Outgoing.build(
            "status_list_delta",
            release.delta,
            release.iat,
            site=site,
            list=list_id_for(release.uri),
        )

    # --- Running --------------------------------------------------------------------------

    async def run(
        self,
        *,
        poll_interval: float = 0.2,
        extra: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Publish, poll and run ``extra`` loops (the HR schedule) until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.publisher.run(), name="authority-publisher")
            group.create_task(self._poll_loop(poll_interval, sleep), name="authority-poll")
            for loop in extra:
                group.create_task(loop())

    async def _poll_loop(self, interval: float, sleep: Sleep) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception:  # a bad moment in the database must not stop publishing
                log.exception("authority_poll_failed")
            await sleep(interval)
