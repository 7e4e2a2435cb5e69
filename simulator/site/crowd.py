"""When people walk up to a gate: the morning rush, lunch, the evening, duty staff, the cast.

Arrival times are drawn from a seeded generator (the same scenario gives the
same crowd every run), as seconds on the simulation's clock:

* staff arrive around ``morning_peak`` (normal, ``morning_spread_min`` minutes),
  each with probability ``attendance`` (set it low for a weekend or a holiday);
* with ``lunch``, staff go out around 12:00 and come back around 12:55;
* with ``evening``, staff leave around ``evening_peak``;
* 일직 officers arrive between 09:10 and 10:00, 숙직 officers between 18:10 and 19:30;
* people who should not get in (lost, forged, wrong building …) come in the rush too;
* cast members tap exactly when the scenario says.

Only visits inside the scenario's window are kept.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from simulator.site.clock import SimClock
from simulator.site.population import Person
from simulator.site.scenario import Scenario

COMES_ANYWAY = frozenset(
    {
        "lost",
        "suspended",
        "expired",
        "wrong_building",
        "unknown_org",
        "cloned",
        "replayed",
        "tampered",
        "borrower",
        "guard",
    }
)


@dataclass(frozen=True, slots=True)
class Visit:
    at: float  # sim seconds: arrival at the gates
    person: Person
    direction: str  # entry or exit
    old_device: bool = False  # a finder with the device superseded by a reissue


def _minutes(t: dt.time) -> float:
    return t.hour * 60 + t.minute + t.second / 60


def plan_visits(scenario: Scenario, people: list[Person], clock: SimClock) -> list[Visit]:
    rng = random.Random(scenario.scenario.seed * 7919 + 1)  # noqa: S311 (seeded, not keys)
    crowd = scenario.crowd
    exits = {b.id for b in scenario.buildings if b.exit_gates > 0}
    end = clock.at(scenario.scenario.end)
    visits: list[Visit] = []

    def at_minute(minute: float) -> float:
        return clock.at(dt.time(0)) + minute * 60

    peak = _minutes(crowd.morning_peak)
    for person in people:
        if person.kind == "cast":
            continue
        if person.kind == "duty_day":
            visits.append(Visit(at_minute(rng.uniform(9 * 60 + 10, 10 * 60)), person, "entry"))
            continue
        if person.kind == "duty_night":
            visits.append(
                Visit(at_minute(rng.uniform(18 * 60 + 10, 19 * 60 + 30)), person, "entry")
            )
            continue
        if person.kind not in COMES_ANYWAY and rng.random() >= crowd.attendance:
            continue
        arrive = at_minute(rng.gauss(peak, crowd.morning_spread_min))
        visits.append(Visit(arrive, person, "entry"))
        if person.kind != "staff" or person.building not in exits:
            continue
        if crowd.lunch:
            out = at_minute(rng.gauss(12 * 60, 10))
            back = at_minute(rng.gauss(12 * 60 + 55, 8))
            if arrive < out < back:
                visits += [Visit(out, person, "exit"), Visit(back, person, "entry")]
        if crowd.evening:
            leave = at_minute(rng.gauss(_minutes(crowd.evening_peak), 25))
            if leave > arrive + 60:
                visits.append(Visit(leave, person, "exit"))
    for member in scenario.cast:
        person = next(p for p in people if p.role == member.role)
        visits += [Visit(clock.at(t), person, "entry") for t in member.taps]
        visits += [Visit(clock.at(t), person, "entry", old_device=True) for t in member.finder_taps]
    kept = [v for v in visits if 0 <= v.at < end]
    kept.sort(key=lambda v: v.at)
    return kept
