"""What a person watching ``gateway demo`` sees: taps, grants, denials and alarms as they happen.

:class:`Tally` is a node listener (one per gate, the same one every gate calls); the
:class:`Board` draws it with rich, a few times a second, on stderr, so stdout keeps
only the ``--json`` summary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

Listener = Callable[[dict[str, Any]], None]


@dataclass
class Tally:
    taps: int = 0
    granted: int = 0
    denied: int = 0
    alarms: int = 0
    events: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    alarm_kinds: Counter[str] = field(default_factory=Counter)
    per_gate: Counter[str] = field(default_factory=Counter)

    def listener_for(self, gate_id: str) -> tuple[Listener, ...]:
        def listen(record: dict[str, Any]) -> None:
            self.events += 1
            event = record.get("event")
            if event == "decision":
                self.taps += 1
                self.per_gate[gate_id] += 1
                if record.get("granted"):
                    self.granted += 1
                else:
                    self.denied += 1
                    self.reasons[str(record.get("reason") or record.get("rule") or "?")] += 1
            if record.get("is_alarm"):
                self.alarms += 1
                self.alarm_kinds[str(record.get("door_event") or event)] += 1

        return (listen,)


class Board:
    """A live panel: simulated time, the counters and the commonest denial reasons."""

    def __init__(self, tally: Tally, total_s: float, console: Console | None = None) -> None:
        self.tally = tally
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]simulated morning"),
            BarColumn(),
            TextColumn("{task.fields[clock]}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self.task = self.progress.add_task("site", total=total_s, clock="")
        self.live = Live(self._render(), console=self.console, refresh_per_second=4)

    def _render(self) -> Group:
        t = self.tally
        table = Table(show_header=True, header_style="bold", box=None)
        for column in ("taps", "granted", "denied", "alarms", "events"):
            table.add_column(column, justify="right")
        table.add_row(
            f"{t.taps:,}", f"[green]{t.granted:,}", f"[red]{t.denied:,}",
            f"[yellow]{t.alarms:,}", f"{t.events:,}",
        )  # fmt: skip
        reasons = ", ".join(f"{r} {n}" for r, n in t.reasons.most_common(4)) or "none yet"
        alarms = ", ".join(f"{a} {n}" for a, n in t.alarm_kinds.most_common(4)) or "none yet"
        notes = Table.grid(padding=(0, 1))
        notes.add_row("[dim]denied for", reasons)
        notes.add_row("[dim]alarms", alarms)
        return Group(self.progress, table, notes)

    def advance(self, sim_s: float, clock: str) -> None:
        self.progress.update(self.task, completed=sim_s, clock=clock)
        self.live.update(self._render())

    def __enter__(self) -> Board:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.update(self._render())
        self.live.__exit__(None, None, None)
