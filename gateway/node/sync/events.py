"""What the syncer tells the node: a ``sync`` event on success, a ``security`` alarm on refusal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Reason = Literal[
    "rollback",
    "bad_signature",
    "unknown_signer",
    "wrong_type",
    "malformed",
    "invalid",
    "wrong_site",
    "base_mismatch",
]
What = Literal["status_list", "status_delta", "policy", "posture", "trust_anchors"]


@dataclass(frozen=True)
class SyncEvent:
    """One event for the node's outbox: ``node.emit(event.kind, **event.fields)``."""

    kind: Literal["sync", "security", "sync_error"]
    fields: dict[str, Any] = field(default_factory=dict)


class SyncRefused(Exception):
    """A synced message the node will not install, and why (one stable word)."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail


def accepted(what: What, version: int, **extra: Any) -> SyncEvent:
    return SyncEvent("sync", {"what": what, "version": version, **extra})


def refused(what: str, refusal: SyncRefused, **extra: Any) -> SyncEvent:
    fields = {"is_alarm": True, "what": what, "reason": refusal.reason, "detail": refusal.detail}
    return SyncEvent("security", {**fields, **extra})
