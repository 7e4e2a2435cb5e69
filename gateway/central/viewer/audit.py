"""The audit log: one appended row per staff action, refused or done. Never updated."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from gateway.central.viewer.auth import AccountStore


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    outcome: str  # "ok" | "refused" | "failed"
    target: str | None
    detail: dict[str, Any]
    ip: str | None


class AuditLog:
    def __init__(self, accounts: AccountStore) -> None:
        self._db = accounts

    async def append(
        self,
        at: dt.datetime,
        actor: str,
        action: str,
        outcome: str = "ok",
        *,
        target: str | None = None,
        ip: str | None = None,
        **detail: Any,
    ) -> None:
        await self._db.execute(
            "INSERT INTO audit (at, actor, action, outcome, target, detail, ip) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                at.astimezone(dt.UTC).isoformat(),
                actor,
                action,
                outcome,
                target,
                json.dumps(detail, ensure_ascii=False, default=str),
                ip,
            ),
        )

    async def recent(self, limit: int = 200, action: str | None = None) -> list[AuditEntry]:
        columns = "SELECT id, at, actor, action, outcome, target, detail, ip FROM audit"
        bounded = max(1, min(limit, 5000))
        if action:
            rows = await self._db.execute(
                f"{columns} WHERE action = ? ORDER BY id DESC LIMIT ?", (action, bounded)
            )
        else:
            rows = await self._db.execute(f"{columns} ORDER BY id DESC LIMIT ?", (bounded,))
        return [
            AuditEntry(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7]) for r in rows
        ]
