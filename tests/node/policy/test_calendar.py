"""The holiday data and the schedule evaluator."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from gateway.node.policy.calendar import CompiledSchedule, HolidayCalendar, Schedule, Window

KR = HolidayCalendar.korean()
D = dt.date.fromisoformat


@pytest.mark.parametrize(
    ("day", "name"),
    [
        ("2025-01-28", "설날 전날"),
        ("2025-10-08", "대체공휴일(추석)"),  # 추석 10-05..07 took a Sunday
        ("2026-02-17", "설날"),
        ("2026-05-25", "대체공휴일(부처님오신날)"),  # 05-24 is a Sunday (2023 amendment)
        ("2026-08-17", "대체공휴일(광복절)"),
        ("2026-09-25", "추석"),
        ("2027-02-09", "대체공휴일(설날)"),  # 설날 02-06..08 took a Sunday
        ("2027-12-27", "대체공휴일(기독탄신일)"),
        ("2028-10-03", "추석·개천절"),
        ("2028-10-05", "대체공휴일(추석)"),  # overlap with 개천절
        ("2029-05-07", "대체공휴일(어린이날)"),
        ("2029-09-24", "대체공휴일(추석)"),
        ("2030-02-05", "대체공휴일(설날)"),
        ("2030-05-09", "부처님오신날"),
    ],
)
def test_listed_holidays(day: str, name: str) -> None:
    assert KR.listed(D(day))
    assert KR.name(D(day)) == name
    assert KR.day_type(D(day)) == "holiday"


@pytest.mark.parametrize("day", ["2026-09-23", "2026-09-28", "2026-06-05"])
def test_working_days(day: str) -> None:
    assert not KR.is_holiday(D(day))


def test_saturday_chuseok_gets_no_substitute() -> None:
    assert KR.listed(D("2026-09-26"))  # 추석 다음날, a Saturday
    assert not KR.listed(D("2026-09-28"))  # Saturdays do not count for 설날/추석


def test_sundays_are_holidays_but_keep_their_day_type() -> None:
    sunday = D("2026-09-20")
    assert KR.is_holiday(sunday)
    assert not KR.listed(sunday)
    assert KR.day_type(sunday) == "sun"
    assert KR.name(sunday) == "일요일"


def test_years_covered_and_extra_days() -> None:
    assert all(KR.covers(year) for year in range(2025, 2031))
    assert not KR.covers(2031)
    extra = HolidayCalendar.korean([D("2026-10-02")])
    assert extra.listed(D("2026-10-02"))
    assert extra.name(D("2026-10-02")) == "임시공휴일"
    assert not KR.listed(D("2026-10-02"))


def test_every_year_has_the_lunar_holidays() -> None:
    for year in range(2025, 2031):
        names = [
            KR.name(d) or "" for d in (D(f"{year}-01-01") + dt.timedelta(n) for n in range(365))
        ]
        assert sum("설날" in n and "대체" not in n for n in names) == 3, year
        assert sum("추석" in n and "대체" not in n for n in names) == 3, year
        assert any("부처님오신날" in n and "대체" not in n for n in names), year


def _open(schedule: Schedule, when: str) -> bool:
    return CompiledSchedule.build(schedule).open_at(KR, dt.datetime.fromisoformat(when))


def test_window_crossing_midnight_belongs_to_its_start_day() -> None:
    night = Schedule(windows=(Window(days=("fri",), start="22:00", end="06:00"),))
    assert not _open(night, "2026-09-18 21:59")
    assert _open(night, "2026-09-18 22:00")
    assert _open(night, "2026-09-19 05:59")  # Saturday, from Friday's window
    assert not _open(night, "2026-09-19 06:00")
    assert not _open(night, "2026-09-19 22:00")


def test_holiday_windows_replace_weekday_windows() -> None:
    sched = Schedule(
        windows=(
            Window(days=("thu",), start="09:00", end="18:00"),
            Window(days=("holiday",), start="10:00", end="12:00"),
        )
    )
    assert _open(sched, "2026-09-17 09:00")  # an ordinary Thursday
    assert not _open(sched, "2026-09-24 09:00")  # 추석 전날, a Thursday
    assert _open(sched, "2026-09-24 10:00")


def test_whole_day_and_until_midnight() -> None:
    always = Schedule(windows=(Window(days=("sat",), start="00:00", end="24:00"),))
    assert _open(always, "2026-09-19 00:00")
    assert _open(always, "2026-09-19 23:59")
    assert not _open(always, "2026-09-20 00:00")
    evening = Schedule(windows=(Window(days=("sat",), start="18:00", end="00:00"),))
    assert _open(evening, "2026-09-19 23:59")
    assert not _open(evening, "2026-09-20 00:00")


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("9:00", "18:00", "is not a time HH:MM"),
        ("09:60", "18:00", "between 00:00 and 24:00"),
        ("25:00", "18:00", "between 00:00 and 24:00"),
        ("09:00", "09:00", "for a whole day write 00:00-24:00"),
        ("24:00", "06:00", "cannot start at 24:00"),
    ],
)
def test_bad_windows(start: str, end: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Window(days=("mon",), start=start, end=end)
