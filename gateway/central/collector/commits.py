"""A broadcast "the store just committed" for readers in the collector's own process.

The viewer's live feed polls the store (it is the one truth shared by every
collector of a group), but a poll every 0.5 s puts half a second on every event.
When the viewer runs beside the collector (``gateway collector`` with ``[viewer]``,
``gateway demo``), a commit wakes every waiting feed at once, and the poll stays
as the upper bound for events another collector of the group stored.
"""

from __future__ import annotations

import asyncio
import contextlib


class CommitSignal:
    def __init__(self) -> None:
        self._next: asyncio.Future[None] | None = None

    def notify(self) -> None:
        """Wake every waiter (from the event loop's thread)."""
        future, self._next = self._next, None
        if future is not None and not future.done():
            future.set_result(None)

    async def wait(self, timeout: float) -> None:
        """Return at the next commit, or after ``timeout`` seconds, whichever comes first."""
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._next), timeout)
