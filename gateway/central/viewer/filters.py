"""Search parameters from a query string to an :class:`EventFilter`, refusing what is bad.

Times come from ``datetime-local`` inputs and are read as Korean time unless they carry
an offset; an empty field means "any".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from gateway.central.collector.model import EventFilter, StoredEvent
from gateway.central.viewer.context import KST, to_local

# query name -> EventFilter field (the form says "holder" and "serial"; staff do not
# need the store's column names)
TEXT_PARAMS = {
    "site": "site",
    "node": "node",
    "building": "building",
    "door": "door",
    "holder": "holder_id",
    "serial": "credential_serial",
    "org": "organization_code",
    "kind": "kind",
    "reason": "reason",
}
MAX_TEXT = 128


class BadFilter(ValueError):
    """A search parameter could not be read; the message names it."""


def parse_time(name: str, text: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadFilter(f"{name}: not a date and time: {text[:40]!r}") from exc
    return when.replace(tzinfo=KST) if when.tzinfo is None else when


def event_filter(query: Mapping[str, str]) -> EventFilter:
    values: dict[str, Any] = {}
    for param, attr in TEXT_PARAMS.items():
        text = (query.get(param) or "").strip()
        if len(text) > MAX_TEXT:
            raise BadFilter(f"{param}: longer than {MAX_TEXT} characters")
        if text:
            values[attr] = text
    result = query.get("result") or ""
    if result not in ("", "any", "granted", "denied"):
        raise BadFilter(f"result: granted, denied or any, not {result[:20]!r}")
    if result in ("granted", "denied"):
        values["granted"] = result == "granted"
    for param in ("since", "until"):
        if text := (query.get(param) or "").strip():
            values[param] = parse_time(param, text)
    if values.get("since") and values.get("until") and values["since"] >= values["until"]:
        raise BadFilter("since must come before until")
    return EventFilter(**values)


def query_of(filters: EventFilter) -> dict[str, str]:
    """The query string that gives ``filters`` back (for page and CSV links)."""
    back = {attr: param for param, attr in TEXT_PARAMS.items()}
    out: dict[str, str] = {}
    for f in fields(filters):
        value = getattr(filters, f.name)
        if value is None:
            continue
        if f.name in back:
            out[back[f.name]] = str(value)
        elif f.name == "granted":
            out["result"] = "granted" if value else "denied"
        elif f.name in ("since", "until"):
            out[f.name] = value.astimezone(KST).strftime("%Y-%m-%dT%H:%M:%S")
    return out


def event_row(event: StoredEvent) -> dict[str, Any]:
    """What the feed, the API and the CSV show of an event (never the raw payload)."""
    return {
        "id": event.id,
        "at": to_local(event.at),
        "site": event.site,
        "node": event.node,
        "seq": event.seq,
        "building": event.building,
        "door": event.door,
        "zone": event.zone,
        "kind": event.kind,
        "holder": event.holder_id,
        "serial": event.credential_serial,
        "org": event.organization_code,
        "result": None if event.granted is None else ("granted" if event.granted else "denied"),
        "reason": event.reason,
        "alarm": event.is_alarm,
    }
