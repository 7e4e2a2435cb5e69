"""The simulation's one clock: seconds since the scenario's start, as wall time and monotonic.

Nodes, doors and the authority read it; nothing in the simulation reads the
machine's clock to decide anything (only the latency figures are wall time).
"""

from __future__ import annotations

import datetime as dt

MONOTONIC_ORIGIN = 1000.0  # a door clock reading: only differences mean anything


class SimClock:
    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.start = start
        self.t = 0.0  # seconds since start

    def wall(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.t)

    def now(self) -> float:
        """The door controller's :class:`~gateway.node.door.Clock`."""
        return MONOTONIC_ORIGIN + self.t

    def monotonic(self) -> float:
        return MONOTONIC_ORIGIN + self.t

    def advance_to(self, t: float) -> None:
        if t < self.t:
            raise ValueError(f"the clock does not go back ({t} < {self.t})")
        self.t = t

    def at(self, when: dt.time) -> float:
        """Seconds since start of ``when`` on the scenario's day (negative: before the start)."""
        moment = dt.datetime.combine(self.start.date(), when, tzinfo=self.start.tzinfo)
        return (moment - self.start).total_seconds()
