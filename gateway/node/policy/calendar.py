"""Korean public holidays as data, and weekly schedules evaluated against them.

The holidays for 2025-2030 live in ``holidays_kr.toml`` beside this module
(its header names the source). A schedule is a list of windows, each on some
day types (``mon`` … ``sun`` and ``holiday``) from ``start`` to ``end``. A
window whose end is not after its start crosses midnight: the part after
midnight belongs to the day the window started on, so a Friday 22:00-06:00
window still covers Saturday 05:59 even though Saturday lists no window.

A date listed as a holiday matches only windows that list ``holiday``, never
its weekday's; every other date matches its weekday's windows.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DayType = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday"]
WEEKDAYS: tuple[DayType, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOLIDAY: DayType = "holiday"
MINUTES_PER_DAY = 24 * 60
_ONE_DAY = dt.timedelta(days=1)


def parse_hhmm(value: str) -> int:
    """``"HH:MM"`` (00:00 to 24:00) as minutes after midnight."""
    hours, sep, minutes = value.partition(":")
    if not (sep and len(hours) == 2 and len(minutes) == 2 and (hours + minutes).isdigit()):
        raise ValueError(f"{value!r} is not a time HH:MM, e.g. '09:00'")
    total = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or total > MINUTES_PER_DAY:
        raise ValueError(f"{value!r} is not a time of day between 00:00 and 24:00")
    return total


class Window(BaseModel):
    """One weekly time window, e.g. weekdays 09:00-18:00, or every night 18:00-09:00."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: tuple[DayType, ...] = Field(min_length=1)
    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str) -> str:
        parse_hhmm(value)
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Window:
        if parse_hhmm(self.start) == MINUTES_PER_DAY:
            raise ValueError("a window cannot start at 24:00; write 00:00")
        if parse_hhmm(self.start) == parse_hhmm(self.end):
            raise ValueError(
                f"window {self.start}-{self.end} is empty; for a whole day write 00:00-24:00"
            )
        return self

    @property
    def crosses_midnight(self) -> bool:
        return parse_hhmm(self.end) < parse_hhmm(self.start)


class Schedule(BaseModel):
    """A named set of windows. An empty schedule is never open."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    windows: tuple[Window, ...] = ()


class HolidayCalendar:
    """Which dates are public holidays. Sundays count as holidays (regulation art. 2 ①)."""

    __slots__ = ("_dates", "_names", "years")

    def __init__(self, names: dict[dt.date, str], years: Iterable[int]) -> None:
        self._names = dict(names)
        self._dates = frozenset(self._names)
        self.years = frozenset(years)

    @classmethod
    def korean(cls, extra: Iterable[dt.date] = ()) -> HolidayCalendar:
        names, years = _korean_data()
        merged = dict(names)
        for day in extra:
            merged.setdefault(day, "임시공휴일")
        return cls(merged, years | {day.year for day in merged})

    def listed(self, day: dt.date) -> bool:
        """Listed as a public holiday (Sundays are not listed)."""
        return day in self._dates

    def is_holiday(self, day: dt.date) -> bool:
        return day in self._dates or day.weekday() == 6

    def name(self, day: dt.date) -> str | None:
        return self._names.get(day) or ("일요일" if day.weekday() == 6 else None)

    def covers(self, year: int) -> bool:
        """Whether the data for ``year`` is present (outside it only Sundays are holidays)."""
        return year in self.years

    def day_type(self, day: dt.date) -> DayType:
        return HOLIDAY if day in self._dates else WEEKDAYS[day.weekday()]


@cache
def _korean_data() -> tuple[dict[dt.date, str], frozenset[int]]:
    text = resources.files(__package__).joinpath("holidays_kr.toml").read_text("utf-8")
    data = tomllib.loads(text)
    names: dict[dt.date, str] = {}
    years: set[int] = set()
    for year in data["year"]:
        years.add(int(year["year"]))
        for entry in year["days"]:
            day = entry["date"]
            if not isinstance(day, dt.date) or day.year != year["year"]:
                raise ValueError(f"holidays_kr.toml: bad date {day!r} under {year['year']}")
            names[day] = str(entry["name"])
    return names, frozenset(years)


@dataclass(frozen=True, slots=True)
class CompiledSchedule:
    """A schedule as interval tables per day type, for a lookup of a few comparisons."""

    same_day: dict[DayType, tuple[tuple[int, int], ...]]
    spill: dict[DayType, int]  # day type -> minutes after the next midnight still open

    @classmethod
    def build(cls, schedule: Schedule) -> CompiledSchedule:
        same: dict[DayType, list[tuple[int, int]]] = {d: [] for d in (*WEEKDAYS, HOLIDAY)}
        spill: dict[DayType, int] = {}
        for window in schedule.windows:
            start, end = parse_hhmm(window.start), parse_hhmm(window.end)
            for day in window.days:
                if window.crosses_midnight:
                    same[day].append((start, MINUTES_PER_DAY))
                    spill[day] = max(spill.get(day, 0), end)
                else:
                    same[day].append((start, end or MINUTES_PER_DAY))
        return cls({d: tuple(v) for d, v in same.items()}, spill)

    def open_at(self, calendar: HolidayCalendar, local: dt.datetime) -> bool:
        """Whether the schedule is open at the local wall-clock time ``local``."""
        minute = local.hour * 60 + local.minute
        day = local.date()
        for start, end in self.same_day[calendar.day_type(day)]:
            if start <= minute < end:
                return True
        return minute < self.spill.get(calendar.day_type(day - _ONE_DAY), 0)
