"""Lost, suspend, resume, retire: rules 60 ③④ and 61 as state changes.

Each function is one transaction, writes its audit rows in it, and raises
:class:`IllegalTransition` (state unchanged) when the rules do not allow the
step. The schema backs this up: an INVALID credential and a retired holder
never change again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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
        events = [
            AuditEvent(AuditAction.LOST, credential.holder_id, serial, {"kind": credential.kind})
        ]
        store.write_audit(ctx.conn, at=now, actor=actor, reason=reason, events=events)
        result = ctx.credential(serial)
    assert result is not None
    return result


@dataclass(frozen=True, slots=True)
class HolderStep:
    """A step of a holder's lifecycle and what it does to their live credentials."""

    action: AuditAction
    allowed: tuple[HolderState, ...]  # the holder states it may start from
    new_state: HolderState
    # The credentials in the first status move to the second; None: every live one
    # becomes INVALID for good.
    change: tuple[CredentialStatus, CredentialStatus] | None


# Rule 61 ②: leave. Every VALID credential SUSPENDED; no issuing until resumed.
SUSPEND = HolderStep(
    AuditAction.SUSPEND,
    allowed=(HolderState.ACTIVE,),
    new_state=HolderState.SUSPENDED,
    change=(CredentialStatus.VALID, CredentialStatus.SUSPENDED),
)
# Reinstatement: the SUSPENDED credentials VALID again (never an INVALID one).
RESUME = HolderStep(
    AuditAction.RESUME,
    allowed=(HolderState.SUSPENDED,),
    new_state=HolderState.ACTIVE,
    change=(CredentialStatus.SUSPENDED, CredentialStatus.VALID),
)
# Rule 61 ①: every credential INVALID for good, and no credential ever again.
RETIRE = HolderStep(
    AuditAction.RETIRE,
    allowed=(HolderState.ACTIVE, HolderState.SUSPENDED),
    new_state=HolderState.RETIRED,
    change=None,
)


def change_holder(
    ctx: Context, holder_id: str, step: HolderStep, *, now: dt.datetime, actor: str, reason: str
) -> list[CredentialRecord]:
    """Take ``step`` for the holder; returns the credentials whose status it changed."""
    with transaction(ctx.conn):
        holder = ctx.holder(holder_id)
        if holder.state not in step.allowed:
            raise IllegalTransition(_refusal(holder, step.action))
        retired_at = ts(now) if step.new_state is HolderState.RETIRED else None
        ctx.conn.execute(
            "UPDATE holders SET state = ?, updated_at = ?, retired_at = ? WHERE holder_id = ?",
            (step.new_state.value, ts(now), retired_at, holder_id),
        )
        live = [c for c in ctx.credentials("holder_id = ?", (holder_id,)) if c.live]
        if step.change is None:
            affected = live
            for credential in affected:
                ctx.invalidate(credential, InvalidCause.RETIRED, now)
        else:
            before, after = step.change
            affected = [c for c in live if c.status is before]
            for credential in affected:
                ctx.conn.execute(
                    "UPDATE credentials SET status = ?, changed_at = ? WHERE serial = ?",
                    (after.value, ts(now), credential.serial),
                )
        if affected:
            ctx.bump_status_epoch()
        # One row for the holder, then one per credential, so that an audit of either finds it.
        serials = [c.serial for c in affected]
        events = [AuditEvent(step.action, holder_id, None, {"credentials": serials})]
        events += [AuditEvent(step.action, holder_id, c.serial, {"kind": c.kind}) for c in affected]
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
