"""The door's only notion of time: monotonic seconds from an injected clock.

The controller never sleeps and never reads the wall clock. It keeps deadlines
and acts on them in :meth:`DoorController.tick`; whoever drives it (a test, the
simulator, or the asyncio adapter) calls ``tick`` when the next deadline is due.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds; only differences between two readings mean anything."""
        ...


class MonotonicClock:
    """The real clock: :func:`time.monotonic`."""

    def now(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to, for tests and the simulator."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a monotonic clock does not go back")
        self._now += seconds
