"""SQL both engines share: the search WHERE clause, the page cursor, row <-> record mapping."""

# ruff: noqa: S608 - SQL is built from constant column lists only; every value is bound.

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

from gateway.central.collector.model import Alarm, AlarmKind, EventFilter, Severity, StoredEvent

Placeholder = Callable[[int], str]  # 1-based index -> "?" or "$1"
Convert = Callable[[dt.datetime], Any]  # a datetime as the engine stores it

EVENT_COLUMNS = (
    "site", "node", "seq", "at", "kind", "payload", "hash", "prev_hash", "sig", "received_at",
    "door", "zone", "building", "holder_id", "credential_serial", "organization_code",
    "granted", "reason", "is_alarm",
)  # fmt: skip
SELECT_EVENTS = "SELECT id, " + ", ".join(EVENT_COLUMNS) + " FROM events"
ALARM_COLUMNS = (
    "id, kind, severity, key, site, node, door, detail, raised_at, cleared_at, "
    "acknowledged_by, acknowledged_at, comment"
)
_EQUALS = (
    "site", "node", "building", "door", "holder_id", "credential_serial",
    "organization_code", "kind", "reason",
)  # fmt: skip


class BadCursor(ValueError):
    """A page cursor that this store did not hand out."""


def where(
    filters: EventFilter, mark: Placeholder, convert: Convert, start: int = 1
) -> tuple[list[str], list[Any]]:
    """Conditions (ANDed) and their arguments; placeholders numbered from ``start``."""
    clauses: list[str] = []
    args: list[Any] = []

    def add(sql: str, value: Any) -> None:
        args.append(value)
        clauses.append(sql.format(mark(start + len(args) - 1)))

    for name in _EQUALS:
        value = getattr(filters, name)
        if value is not None:
            add(f"{name} = {{}}", value)
    if filters.granted is not None:
        add("granted = {}", filters.granted)
    if filters.since is not None:
        add("at >= {}", convert(filters.since))
    if filters.until is not None:
        add("at < {}", convert(filters.until))
    return clauses, args


def encode_cursor(at: dt.datetime, event_id: int) -> str:
    raw = json.dumps([at.isoformat(), event_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at_text, event_id = json.loads(raw)
        at = dt.datetime.fromisoformat(at_text)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise BadCursor(f"not a page cursor: {cursor!r}") from exc
    if not isinstance(event_id, int) or at.tzinfo is None:
        raise BadCursor(f"not a page cursor: {cursor!r}")
    return at, event_id


def event_from_row(row: Sequence[Any], parse: Callable[[Any], dt.datetime]) -> StoredEvent:
    """A row of :data:`SELECT_EVENTS`; ``parse`` turns the engine's timestamp into a datetime."""
    (event_id, site, node, seq, at, kind, payload, hash_, prev, sig, received,
     door, zone, building, holder, serial, org, granted, reason, is_alarm) = row  # fmt: skip
    return StoredEvent(
        site=site,
        node=node,
        seq=int(seq),
        at=parse(at),
        kind=kind,
        payload=json.loads(payload) if isinstance(payload, str) else dict(payload),
        hash=hash_,
        prev_hash=prev,
        sig=sig,
        received_at=parse(received),
        door=door,
        zone=zone,
        building=building,
        holder_id=holder,
        credential_serial=serial,
        organization_code=org,
        granted=None if granted is None else bool(granted),
        reason=reason,
        is_alarm=bool(is_alarm),
        id=int(event_id),
    )


def event_to_row(event: StoredEvent, convert: Convert) -> tuple[Any, ...]:
    """The values of :data:`EVENT_COLUMNS` in order."""
    return (
        event.site, event.node, event.seq, convert(event.at), event.kind,
        json.dumps(event.payload, ensure_ascii=False, sort_keys=True), event.hash,
        event.prev_hash, event.sig, convert(event.received_at), event.door, event.zone,
        event.building, event.holder_id, event.credential_serial, event.organization_code,
        event.granted, event.reason, event.is_alarm,
    )  # fmt: skip


def alarm_from_row(row: Sequence[Any], parse: Callable[[Any], dt.datetime]) -> Alarm:
    (alarm_id, kind, severity, key, site, node, door, detail, raised, cleared,
     by, acked, comment) = row  # fmt: skip
    return Alarm(
        id=int(alarm_id),
        kind=AlarmKind(kind),
        severity=Severity(severity),
        key=key,
        site=site,
        node=node,
        door=door,
        detail=json.loads(detail) if isinstance(detail, str) else dict(detail),
        raised_at=parse(raised),
        cleared_at=None if cleared is None else parse(cleared),
        acknowledged_by=by,
        acknowledged_at=None if acked is None else parse(acked),
        comment=comment,
    )
