"""Lost, suspend, resume, retire: rules 60 ③④ and 61 as state changes.

Each function is one transaction, writes its audit rows in it, and raises
:class:`IllegalTransition` (state unchanged) when the rules do not allow the
step. The schema backs this up: an INVALID credential and a retired holder
never change again.
"""

from __future__ import annotations

import datetime as dt

from gateway.central.authority import store
from gateway.central.authority.context import (
    AuthorityError,
    Context,
    IllegalTransition,
    NotFound,
    kst,
)
from gateway.central.authority.records import (
    AuditAction,
    CredentialRecord,
    CredentialStatus,
    HolderRecord,
    HolderState,
    InvalidCause,
    ts,
)
from gateway.central.authority.store import AuditEvent, transaction
from gateway.credentials.decision import CredentialKind

# --- Status changes --------------------------------------------------------------------


def report_lost(
    ctx: Context, serial: str, *, now: dt.datetime, actor: str, reason: str
) -> CredentialRecord:
    """Rule 60 ③④: INVALID at once; gates see it in the next published token."""
    with transaction(ctx.conn):
        credential = ctx.require_credential(serial)
        if not credential.live:
            raise IllegalTransition(
                f"{serial} is already invalid ({credential.invalid_cause}) since "
                f"{kst(credential.changed_at, '%Y-%m-%d %H:%M KST')}"
            )
        ctx.invalidate(credential, InvalidCause.LOST, now)
        store.write_audit(
            ctx.conn,
            at=now,
            actor=actor,
            reason=reason,
            events=[
                AuditEvent(
                    AuditAction.LOST, credential.holder_id, serial, {"kind": credential.kind}
                )
            ],
        )
        result = ctx.credential(serial)
    assert result is not None
    return result


def suspend(
    ctx: Context, holder_id: str, *, now: dt.datetime, actor: str, reason: str
) -> list[CredentialRecord]:
    """Rule 61 ②: leave. Every VALID credential SUSPENDED; no issuing until resumed."""
    return _holder_change(
        ctx,
        holder_id,
        now=now,
        actor=actor,
        reason=reason,
        action=AuditAction.SUSPEND,
        allowed=(HolderState.ACTIVE,),
        new_state=HolderState.SUSPENDED,
        change=(CredentialStatus.VALID, CredentialStatus.SUSPENDED),
    )


def resume(
    ctx: Context, holder_id: str, *, now: dt.datetime, actor: str, reason: str
) -> list[CredentialRecord]:
    """Reinstatement: the SUSPENDED credentials VALID again."""
    return _holder_change(
        ctx,
        holder_id,
        now=now,
        actor=actor,
        reason=reason,
        action=AuditAction.RESUME,
        allowed=(HolderState.SUSPENDED,),
        new_state=HolderState.ACTIVE,
        change=(CredentialStatus.SUSPENDED, CredentialStatus.VALID),
    )


def retire(
    ctx: Context, holder_id: str, *, now: dt.datetime, actor: str, reason: str
) -> list[CredentialRecord]:
    """Rule 61 ①: every credential INVALID for good, and no credential ever again."""
    return _holder_change(
        ctx,
        holder_id,
        now=now,
        actor=actor,
        reason=reason,
        action=AuditAction.RETIRE,
        allowed=(HolderState.ACTIVE, HolderState.SUSPENDED),
        new_state=HolderState.RETIRED,
        change=None,
    )


def _holder_change(
    ctx: Context,
    holder_id: str,
    *,
    now: dt.datetime,
    actor: str,
    reason: str,
    action: AuditAction,
    allowed: tuple[HolderState, ...],
    new_state: HolderState,
    change: tuple[CredentialStatus, CredentialStatus] | None,
) -> list[CredentialRecord]:
    with transaction(ctx.conn):
        holder = ctx.holder(holder_id)
        if holder.state not in allowed:
            raise IllegalTransition(_refusal(holder, action))
        ctx.conn.execute(
            "UPDATE holders SET state = ?, updated_at = ?, retired_at = ? WHERE holder_id = ?",
            (
                new_state.value,
                ts(now),
                ts(now) if new_state is HolderState.RETIRED else None,
                holder_id,
            ),
        )
        affected = [c for c in ctx.credentials("holder_id = ?", (holder_id,)) if c.live]
        if change is not None:
            affected = [c for c in affected if c.status is change[0]]
        for credential in affected:
            if change is None:
                ctx.invalidate(credential, InvalidCause.RETIRED, now)
            else:
                ctx.conn.execute(
                    "UPDATE credentials SET status = ?, changed_at = ? WHERE serial = ?",
                    (change[1].value, ts(now), credential.serial),
                )
        if affected:
            ctx.bump_status_epoch()
        serials = [c.serial for c in affected]
        events = [AuditEvent(action, holder_id, None, {"credentials": serials})]
        events += [
            AuditEvent(action, holder_id, serial, {"kind": c.kind})
            for serial, c in zip(serials, affected, strict=True)
        ]
        store.write_audit(ctx.conn, at=now, actor=actor, reason=reason, events=events)
        return [c for c in ctx.credentials("holder_id = ?", (holder_id,)) if c.serial in serials]


def _refusal(holder: HolderRecord, action: AuditAction) -> str:
    who = holder.holder_id
    if holder.state is HolderState.RETIRED:
        return f"{who} retired on {kst(holder.retired_at)}; a retired person cannot {action.value}"
    if action is AuditAction.SUSPEND:
        return f"{who} is already suspended"
    return f"{who} is not suspended, so there is nothing to resume"


# --- Finding credentials -------------------------------------------------------------


def find_credential(
    ctx: Context, target: str, kind: CredentialKind | None = None
) -> CredentialRecord:
    """``target`` is a serial, or a holder id whose live (else latest) credential is meant."""
    found = ctx.credential(target)
    if found is not None:
        if kind is not None and found.kind != kind.value:
            raise AuthorityError(f"{target} is a {found.kind} credential, not {kind.value}")
        return found
    try:
        holder = ctx.holder(target)
    except NotFound:
        raise NotFound(f"no credential or holder {target!r}") from None
    mine = ctx.credentials("holder_id = ?", (holder.holder_id,))
    if kind is not None:
        mine = [c for c in mine if c.kind == kind.value]
    live = [c for c in mine if c.live]
    candidates = live or _latest_per_kind(mine)
    if not candidates:
        what = f"{kind.value} credential" if kind else "credential"
        raise NotFound(f"{target} has no {what}")
    if len(candidates) > 1:
        listed = ", ".join(f"{c.serial} ({c.kind})" for c in candidates)
        raise AuthorityError(f"{target} has {listed}; give the serial or the kind")
    return candidates[0]


def _latest_per_kind(credentials: list[CredentialRecord]) -> list[CredentialRecord]:
    latest: dict[str, CredentialRecord] = {}
    for credential in credentials:  # oldest first
        latest[credential.kind] = credential
    return list(latest.values())
