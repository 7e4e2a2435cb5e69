"""What the tour reports: one beat per tap (or token), each with expected and actual outcome."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GRANTED = "granted"
DENIED = "denied"
REFUSED = "refused"  # a status token the gate would not apply
APPLIED = "applied"


@dataclass(frozen=True, slots=True)
class Beat:
    """One step of the story and the gate's answer to it.

    ``expected`` and ``actual`` are ``granted``, a denial reason such as
    ``revoked``, or, for a status token fed to the gate, ``refused`` or
    ``applied``. ``decision`` is ``granted``, ``denied``, ``refused`` or
    ``applied``; ``reason`` says why a tap was denied or a token refused.
    """

    number: int
    at: dt.datetime
    title: str
    credential: str
    expected: str
    actual: str
    decision: str
    reason: str | None = None
    detail: str = ""
    cpu_us: float | None = None  # verify() CPU time; None when nothing was verified
    events: tuple[str, ...] = ()  # what the authority and the gate did just before
    holder_id: str | None = None  # as far as the gate learned them before deciding
    serial: str | None = None
    saved: str | None = None  # the presentation as a file, relative to --dir
    status_token: str | None = None  # the token the gate held, relative to --dir

    @property
    def matched(self) -> bool:
        return self.expected == self.actual

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "at": self.at.isoformat(),
            "title": self.title,
            "credential": self.credential,
            "holder_id": self.holder_id,
            "serial": self.serial,
            "expected": self.expected,
            "actual": self.actual,
            "decision": self.decision,
            "reason": self.reason,
            "matched": self.matched,
            "detail": self.detail,
            "cpu_us": None if self.cpu_us is None else round(self.cpu_us, 1),
            "events": list(self.events),
            "saved": self.saved,
            "status_token": self.status_token,
        }


@dataclass(frozen=True, slots=True)
class TourResult:
    started_at: dt.datetime
    reader_id: str
    authority: str
    status_uri: str
    hr_file: Path
    enrolled: int
    beats: list[Beat] = field(default_factory=list)
    kept: Path | None = None  # --dir, when the authority's files were kept

    @property
    def ok(self) -> bool:
        return bool(self.beats) and all(beat.matched for beat in self.beats)

    @property
    def verify_cpu_us(self) -> list[float]:
        return [beat.cpu_us for beat in self.beats if beat.cpu_us is not None]

    def counts(self) -> dict[str, Any]:
        taps = [beat for beat in self.beats if beat.cpu_us is not None]
        cpu = self.verify_cpu_us
        return {
            "beats": len(self.beats),
            "matched": sum(beat.matched for beat in self.beats),
            "mismatched": sum(not beat.matched for beat in self.beats),
            "taps": len(taps),
            "granted": sum(beat.decision == GRANTED for beat in taps),
            "denied": sum(beat.decision == DENIED for beat in taps),
            "by_outcome": dict(sorted(Counter(beat.actual for beat in self.beats).items())),
            "verify_cpu_us_median": round(statistics.median(cpu), 1) if cpu else None,
            "verify_cpu_us_max": round(max(cpu), 1) if cpu else None,
        }

    def summary(self) -> str:
        counts = self.counts()
        line = (
            f"{counts['matched']}/{counts['beats']} beats as expected: "
            f"{counts['granted']} taps granted, {counts['denied']} denied"
        )
        if counts["verify_cpu_us_median"] is not None:
            line += (
                f"; verify CPU median {counts['verify_cpu_us_median']:.0f} µs, "
                f"max {counts['verify_cpu_us_max']:.0f} µs"
            )
        if not self.ok:
            wrong = ", ".join(str(beat.number) for beat in self.beats if not beat.matched)
            line += f"; MISMATCH in beat {wrong}"
        return line

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "started_at": self.started_at.isoformat(),
            "reader_id": self.reader_id,
            "authority": self.authority,
            "status_uri": self.status_uri,
            "hr_file": str(self.hr_file),
            "enrolled": self.enrolled,
            "dir": None if self.kept is None else str(self.kept),
            "counts": self.counts(),
            "beats": [beat.to_json() for beat in self.beats],
            "summary": self.summary(),
        }
