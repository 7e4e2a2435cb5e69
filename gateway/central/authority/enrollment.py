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
from gateway.central.authority.hr_record import FIELDS
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


# What a holder row keeps of an HR record besides its id, in the order changes are
# reported; the portrait comes apart (a file named in the export, bytes on file).
_HR_FIELDS = tuple(name for name in FIELDS if name not in ("employee_id", "portrait"))


def _fields(entry: HrEntry) -> dict[str, Any]:
    values = {name: getattr(entry.record, name) for name in _HR_FIELDS}
    if entry.portrait:  # an export without a portrait keeps the one on file
        values["portrait"] = entry.portrait
    return values


def _current(holder: HolderRecord) -> dict[str, Any]:
    return {name: getattr(holder, name) for name in (*_HR_FIELDS, "portrait")}


def _shown(value: Any) -> Any:
    if isinstance(value, bytes):
        return f"sha256:{hashlib.sha256(value).hexdigest()[:16]}"
    return value


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    """Values as the holders table keeps them: yes/no as the 0/1 its CHECK allows."""
    return {name: int(v) if isinstance(v, bool) else v for name, v in values.items()}


def enroll(
    ctx: Context, export: HrExport, *, now: dt.datetime, actor: str, reason: str
) -> EnrollReport:
    report = EnrollReport(export.source)
    with transaction(ctx.conn):
        events: list[AuditEvent] = []
        for entry in export.entries:
            holder_id = entry.record.employee_id
            try:
                holder = ctx.holder(holder_id)
            except NotFound:
                _insert(ctx, holder_id, _fields(entry), now)
                report.enrolled.append(holder_id)
                detail = {
                    "source": export.source,
                    "line": entry.line,
                    "organization_code": entry.record.organization_code,
                }
                events.append(AuditEvent(AuditAction.ENROLL, holder_id, detail=detail))
            else:
                events += _reenroll(ctx, report, holder, entry, now)
        if events:
            store.write_audit(ctx.conn, at=now, actor=actor, reason=reason, events=events)
    return report


def _reenroll(
    ctx: Context, report: EnrollReport, holder: HolderRecord, entry: HrEntry, now: dt.datetime
) -> list[AuditEvent]:
    """A known person again: a transfer, promotion or other update, or nothing to do."""
    holder_id = holder.holder_id
    if holder.state is HolderState.RETIRED:
        report.ignored.append((holder_id, f"retired on {kst(holder.retired_at)}"))
        return []
    old, new = _current(holder), _fields(entry)
    changed = [name for name, value in new.items() if old[name] != value]
    if not changed:
        report.unchanged.append(holder_id)
        return []
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
    detail = {
        "source": report.source,
        "line": entry.line,
        "before": change.before,
        "after": change.after,
        "to_reissue": stale,
    }
    return [AuditEvent(action, holder_id, detail=detail)]


def _insert(ctx: Context, holder_id: str, values: dict[str, Any], now: dt.datetime) -> None:
    store.insert(
        ctx.conn,
        "holders",
        {
            "holder_id": holder_id,
            **_stored(values),
            "state": HolderState.ACTIVE.value,
            "enrolled_at": ts(now),
            "updated_at": ts(now),
        },
    )


def _update(ctx: Context, holder_id: str, values: dict[str, Any], now: dt.datetime) -> None:
    assignments = ", ".join(f"{name} = ?" for name in values)  # names are ours, not input
    ctx.conn.execute(
        f"UPDATE holders SET {assignments}, updated_at = ? WHERE holder_id = ?",  # noqa: S608
        [*_stored(values).values(), ts(now), holder_id],
    )
