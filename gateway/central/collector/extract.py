"""An outbox event as the store keeps it: search columns pulled out, portraits never kept.

The gate discloses what it decided on (holder id, credential serial, organisation
code, door, zone); the collector stores exactly that. Keys that could carry a
face image are dropped before storing, and listed under ``_redacted`` so the
loss is visible (the stored hash then no longer recomputes from the payload).
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from gateway.central.collector.config import Site
from gateway.central.collector.model import StoredEvent
from gateway.node.outbox import Event

_NEVER_STORED = ("portrait", "photo", "image", "face", "biometric")


@functools.lru_cache(maxsize=4096)
def _never_stored(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in _NEVER_STORED)


def _redacted(payload: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    dropped = [k for k in payload if _never_stored(k)]
    if not dropped:
        return payload, []
    kept = {k: v for k, v in payload.items() if k not in dropped}
    kept["_redacted"] = sorted(dropped)
    return kept, dropped


def _text(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def to_stored(
    site: str, node: str, event: Event, received_at: dt.datetime, site_map: Site
) -> StoredEvent:
    payload, _ = _redacted(event.payload)
    zone = _text(payload, "zone")
    granted = payload.get("granted")
    return StoredEvent(
        site=site,
        node=node,
        seq=event.seq,
        at=dt.datetime.fromisoformat(event.at),  # 'Z' is UTC; the model checked the shape
        kind=event.kind,
        payload=payload,
        hash=event.hash,
        prev_hash=event.prev_hash,
        sig=event.signature,
        received_at=received_at,
        door=_text(payload, "door"),
        zone=zone,
        building=_text(payload, "building") or site_map.building_of(zone),
        holder_id=_text(payload, "holder_id"),
        credential_serial=_text(payload, "credential_serial"),
        organization_code=_text(payload, "organization_code"),
        granted=granted if isinstance(granted, bool) else None,
        reason=_text(payload, "reason") or _text(payload, "rule"),
        is_alarm=payload.get("is_alarm") is True,
    )
