"""Enrolling holders from an HR export, and noticing transfers and promotions.

HR exports are snapshots: a person already enrolled appears again, usually
unchanged. A changed organization is a transfer, a changed position or
external title a promotion (rule 60 ⑤–⑦); either way the person's live
credentials now print the wrong data and must be reissued, which the report
lists. Nobody is un-enrolled for missing from an export (exports may cover
one agency only); retirement is an explicit action. A retired person found in
an export is left alone and reported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from gateway.central.authority import store
from gateway.central.authority.context import Context, NotFound, kst
from gateway.central.authority.hr_import import HrEntry, HrExport
from gateway.central.authority.issuance import is_stale
from gateway.central.authority.records import AuditAction, HolderRecord, HolderState, ts
from gateway.central.authority.store import AuditEvent, transaction

_TRANSFER_FIELDS = ("organization", "organization_code")
_PROMOTION_FIELDS = ("position", "external_title")


@dataclass(frozen=True, slots=True)
class HolderChange:
    holder_id: str
    line: int
    action: AuditAction  # TRANSFER, PROMOTE or UPDATE
    before: dict[str, Any]  # only the fields that changed
    after: dict[str, Any]
    to_reissue: list[str]  # serials of live credentials that now print the wrong data

    def to_json(self) -> dict[str, Any]:
        return {
            "holder_id": self.holder_id,
            "line": self.line,
            "change": self.action.value,
            "before": self.before,
            "after": self.after,
            "to_reissue": self.to_reissue,
        }


@dataclass(frozen=True, slots=True)
class EnrollReport:
    source: str
    enrolled: list[str] = field(default_factory=list)
    changed: list[HolderChange] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (holder id, why)

    @property
    def to_reissue(self) -> list[str]:
        return [serial for change in self.changed for serial in change.to_reissue]

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "enrolled": self.enrolled,
            "changed": [change.to_json() for change in self.changed],
            "unchanged": self.unchanged,
            "ignored": [{"holder_id": h, "why": why} for h, why in self.ignored],
            "to_reissue": self.to_reissue,
        }


def _fields(entry: HrEntry) -> dict[str, Any]:
    record = entry.record
    values: dict[str, Any] = {
        "name": record.name,
        "foreign_national": record.foreign_national,
        "organization": record.organization,
        "organization_code": record.organization_code,
        "position": record.position,
        "external_title": record.external_title,
        "office_phone": record.office_phone,
    }
    if entry.portrait:  # an export without a portrait keeps the one on file
        values["portrait"] = entry.portrait
    return values


def _current(holder: HolderRecord) -> dict[str, Any]:
    return {
        "name": holder.name,
        "foreign_national": holder.foreign_national,
        "organization": holder.organization,
        "organization_code": holder.organization_code,
        "position": holder.position,
        "external_title": holder.external_title,
        "office_phone": holder.office_phone,
        "portrait": holder.portrait,
    }


def _shown(value: Any) -> Any:
    if isinstance(value, bytes):
        return f"sha256:{hashlib.sha256(value).hexdigest()[:16]}"
    return value


def enroll(
    ctx: Context, export: HrExport, *, now: dt.datetime, actor: str, reason: str
) -> EnrollReport:
    report = EnrollReport(export.source)
    with transaction(ctx.conn):
        events: list[AuditEvent] = []
        for entry in export.entries:
            holder_id = entry.record.employee_id
            new = _fields(entry)
            try:
                holder = ctx.holder(holder_id)
            except NotFound:
                _insert(ctx, holder_id, new, now)
                report.enrolled.append(holder_id)
                events.append(
                    AuditEvent(
                        AuditAction.ENROLL,
                        holder_id,
                        detail={
                            "source": export.source,
                            "line": entry.line,
                            "organization_code": entry.record.organization_code,
                        },
                    )
                )
                continue
            if holder.state is HolderState.RETIRED:
                report.ignored.append((holder_id, f"retired on {kst(holder.retired_at)}"))
                continue
            old = _current(holder)
            changed = [name for name, value in new.items() if old[name] != value]
            if not changed:
                report.unchanged.append(holder_id)
                continue
            _update(ctx, holder_id, new, now)
            if any(name in _TRANSFER_FIELDS for name in changed):
                action = AuditAction.TRANSFER
            elif any(name in _PROMOTION_FIELDS for name in changed):
                action = AuditAction.PROMOTE
            else:
                action = AuditAction.UPDATE
            updated = ctx.holder(holder_id)
            stale = [
                c.serial
                for c in ctx.credentials("holder_id = ? AND status != 'invalid'", (holder_id,))
                if is_stale(c, updated)
            ]
            change = HolderChange(
                holder_id,
                entry.line,
                action,
                before={name: _shown(old[name]) for name in changed},
                after={name: _shown(new[name]) for name in changed},
                to_reissue=stale,
            )
            report.changed.append(change)
            events.append(
                AuditEvent(
                    action,
                    holder_id,
                    detail={
                        "source": export.source,
                        "line": entry.line,
                        "before": change.before,
                        "after": change.after,
                        "to_reissue": stale,
                    },
                )
            )
        if events:
            store.write_audit(ctx.conn, at=now, actor=actor, reason=reason, events=events)
    return report


def _insert(ctx: Context, holder_id: str, values: dict[str, Any], now: dt.datetime) -> None:
    ctx.conn.execute(
        "INSERT INTO holders (holder_id, name, foreign_national, organization, "
        "organization_code, position, external_title, office_phone, portrait, state, "
        "enrolled_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)",
        (
            holder_id,
            values["name"],
            int(values["foreign_national"]),
            values["organization"],
            values["organization_code"],
            values["position"],
            values["external_title"],
            values["office_phone"],
            values.get("portrait"),
            ts(now),
            ts(now),
        ),
    )


def _update(ctx: Context, holder_id: str, values: dict[str, Any], now: dt.datetime) -> None:
    names = list(values)
    assignments = ", ".join(f"{name} = ?" for name in names)  # names are ours, not input
    ctx.conn.execute(
        f"UPDATE holders SET {assignments}, updated_at = ? WHERE holder_id = ?",  # noqa: S608
        [int(v) if isinstance(v, bool) else v for v in values.values()] + [ts(now), holder_id],
    )
