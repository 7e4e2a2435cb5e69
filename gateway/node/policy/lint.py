"""Warnings about a valid policy document that probably does not say what was meant.

Errors stop a document from loading (see :mod:`document`); these do not, but
``gateway check`` should print them.
"""

from __future__ import annotations

from gateway.node.policy.calendar import HolidayCalendar
from gateway.node.policy.document import DutyKind, PolicyDocument


def policy_warnings(doc: PolicyDocument, calendar: HolidayCalendar | None = None) -> list[str]:
    calendar = calendar or HolidayCalendar.korean(doc.extra_holidays)
    out: list[str] = []
    for i, entry in enumerate(doc.duty_roster):
        if not calendar.covers(entry.date.year):
            out.append(
                f"duty_roster.{i}.date: no holiday data for {entry.date.year}; "
                "only Sundays and extra_holidays count as holidays that year"
            )
        if (
            entry.kind is DutyKind.ILJIK
            and entry.date.weekday() != 5
            and not calendar.is_holiday(entry.date)
        ):
            out.append(
                f"duty_roster.{i}: 일직 on {entry.date}, a working day "
                "(일직 is for Saturdays and holidays; did you mean 숙직?)"
            )
    for i, grant in enumerate(doc.grants):
        if grant.valid_until <= doc.issued_at:
            out.append(f"grants.{i} ({grant.id}): expired before the document was issued")
    zones_with_doors = {door.zone for door in doc.doors.values()}
    for zid in doc.zones:
        if zid not in zones_with_doors:
            out.append(f"zones.{zid}: no door leads into it")
    return out
