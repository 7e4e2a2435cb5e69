"""Issuing and reissuing: a new credential at a fresh index, its predecessor INVALID.

One live credential per holder and kind (rule 60 ⑤–⑦; the mobile ID lives on
one phone only). The claims are the holder's current HR record; the MSO or
card object carries the status reference; the validity never outlasts the
Document Signer certificate that lets gates check it. Refusals are
:class:`IllegalTransition` with what to do instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.central.authority import store
from gateway.central.authority.context import (
    KST,
    AuthorityError,
    Context,
    IllegalTransition,
    kst,
)
from gateway.central.authority.keys import key_fingerprint, load_public_key, public_key_pem
from gateway.central.authority.records import (
    AuditAction,
    CredentialRecord,
    HolderRecord,
    HolderState,
    InvalidCause,
    json_text,
    ts,
)
from gateway.central.authority.store import AuditEvent, transaction
from gateway.credentials import card, csid, mdoc
from gateway.credentials.decision import CredentialKind
from gateway.credentials.status_list import StatusReference

KINDS = (CredentialKind.MOBILE, CredentialKind.CARD)
_SERIAL_PREFIX = {CredentialKind.MOBILE: "M", CredentialKind.CARD: "C"}
_RANDOM_INDEX_TRIES = 64

PublicKeyInput = ec.EllipticCurvePublicKey | bytes


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    """A new credential and what to hand over: IssuerSigned (wallet) or card object (chip)."""

    credential: CredentialRecord
    document: bytes
    superseded: CredentialRecord | None  # the one it made INVALID, if any
    # True when the validity asked for was cut to the DS certificate's expiry: rotate the DS.
    cut_to_signer: bool = False

    @property
    def serial(self) -> str:
        return self.credential.serial

    def to_json(self) -> dict[str, Any]:
        return {
            **self.credential.to_json(),
            "document_bytes": len(self.document),
            "superseded": None if self.superseded is None else self.superseded.serial,
            "cut_to_signer": self.cut_to_signer,
        }


def claim_snapshot(holder: HolderRecord) -> dict[str, Any]:
    """The printed data a credential carries; a credential whose snapshot differs is out of date."""
    return {
        "name": holder.name,
        "organization": holder.organization,
        "organization_code": holder.organization_code,
        "position": holder.printed_position,
        "issuing_authority_phone": holder.office_phone,
        "portrait_sha256": hashlib.sha256(holder.portrait).hexdigest() if holder.portrait else None,
    }


def is_stale(credential: CredentialRecord, holder: HolderRecord) -> bool:
    snapshot = claim_snapshot(holder)
    return any(credential.claims.get(key) != value for key, value in snapshot.items())


# --- Issuing ----------------------------------------------------------------------


def issue(
    ctx: Context,
    holder_id: str,
    kind: CredentialKind,
    key: PublicKeyInput,
    *,
    now: dt.datetime,
    actor: str,
    reason: str,
    valid_days: int | None,
) -> IssuedCredential:
    with transaction(ctx.conn):
        return _issue(
            ctx,
            ctx.holder(holder_id),
            kind,
            load_public_key(key),
            now=now,
            actor=actor,
            reason=reason,
            valid_days=valid_days,
            action=AuditAction.ISSUE,
            replaces=None,
        )


def reissue(
    ctx: Context,
    serial: str,
    key: PublicKeyInput | None,
    *,
    now: dt.datetime,
    actor: str,
    reason: str,
    valid_days: int | None,
) -> IssuedCredential:
    with transaction(ctx.conn):
        old = ctx.require_credential(serial)
        holder = ctx.holder(old.holder_id)
        kind = CredentialKind(old.kind)
        current = ctx.live_credential(holder.holder_id, kind.value)
        if current is not None and current.serial != old.serial:
            raise IllegalTransition(
                f"{old.serial} is no longer {holder.holder_id}'s {kind} credential; "
                f"{current.serial} is: reissue that one"
            )
        if old.invalid_cause is InvalidCause.SUPERSEDED:
            (newer,) = ctx.conn.execute(
                "SELECT serial FROM credentials WHERE supersedes = ?", (old.serial,)
            ).fetchone() or ("another credential",)
            raise IllegalTransition(f"{old.serial} was superseded by {newer}; reissue that one")
        if key is None:
            if old.invalid_cause is InvalidCause.LOST:
                raise IllegalTransition(
                    f"{old.serial} was reported lost, so its key is not ours any more: give "
                    f"the key of the new {'phone' if kind is CredentialKind.MOBILE else 'card'}"
                )
            (pem,) = ctx.conn.execute(
                "SELECT bound_key_pem FROM credentials WHERE serial = ?", (old.serial,)
            ).fetchone()
            key = bytes(pem)
        return _issue(
            ctx,
            holder,
            kind,
            load_public_key(key),
            now=now,
            actor=actor,
            reason=reason,
            valid_days=valid_days,
            action=AuditAction.REISSUE,
            replaces=old,
        )


def _issue(
    ctx: Context,
    holder: HolderRecord,
    kind: CredentialKind,
    key: ec.EllipticCurvePublicKey,
    *,
    now: dt.datetime,
    actor: str,
    reason: str,
    valid_days: int | None,
    action: AuditAction,
    replaces: CredentialRecord | None,
) -> IssuedCredential:
    if kind not in KINDS:
        raise AuthorityError(f"cannot issue a {kind} credential; only mobile and card")
    _may_issue(holder)
    fingerprint = key_fingerprint(key)
    _check_key(ctx, holder, kind, fingerprint)
    signer = ctx.active_signer("document")
    if now >= signer.not_after:
        raise AuthorityError(
            f"the document signer expired on {kst(signer.not_after)}; run rotate-signer"
        )
    if now < signer.not_before:
        raise AuthorityError(
            f"the document signer is valid only from {kst(signer.not_before, '%Y-%m-%d %H:%M KST')}"
        )
    days = valid_days if valid_days is not None else ctx.settings.credential_days
    if days <= 0:
        raise AuthorityError("validity must be a positive number of days")
    start = now.astimezone(dt.UTC).replace(microsecond=0)
    # A credential must not outlive the certificate that lets gates check it.
    wanted = start + dt.timedelta(days=days)
    until = min(wanted, signer.not_after)
    serial = _new_serial(ctx, kind)
    index = _allocate_index(ctx)
    (seq,) = ctx.conn.execute("SELECT next_issue_seq FROM authority").fetchone()
    ctx.conn.execute("UPDATE authority SET next_issue_seq = next_issue_seq + 1")
    local = now.astimezone(KST)
    claims = csid.CivilServantClaims(
        holder_id=holder.holder_id,
        credential_serial=serial,
        issue_number=f"{local.year}-{seq:07d}",
        name=holder.name,
        organization=holder.organization,
        organization_code=holder.organization_code,
        position=holder.printed_position,
        issue_date=local.date(),
        issuing_authority=ctx.name,
        issuing_authority_phone=holder.office_phone,
        portrait=holder.portrait or b"",
    )
    validity = mdoc.ValidityInfo(signed=start, valid_from=start, valid_until=until)
    status = StatusReference(index, ctx.status_uri).to_cbor_value()
    pair = ctx.keypair("document")
    if kind is CredentialKind.MOBILE:
        document = mdoc.issue(
            doctype=csid.DOCTYPE,
            namespaces={csid.NAMESPACE: claims.elements()},
            device_key=key,
            validity=validity,
            signer_key=pair.key,
            x5chain=[pair.der],
            status=status,
        )
    else:
        document = card.issue_card_object(
            claims=claims.elements(),
            card_key=key,
            validity=validity,
            signer_key=pair.key,
            x5chain=[pair.der],
            status=status,
        )
    superseded = ctx.live_credential(holder.holder_id, kind.value)
    events: list[AuditEvent] = []
    if superseded is not None:
        ctx.invalidate(superseded, InvalidCause.SUPERSEDED, now)
        events.append(
            AuditEvent(AuditAction.SUPERSEDE, holder.holder_id, superseded.serial, {"by": serial})
        )
    predecessor = replaces or superseded
    snapshot = {
        **claim_snapshot(holder),
        "issue_number": claims.issue_number,
        "issue_date": claims.issue_date.isoformat(),
        "issuing_authority": ctx.name,
    }
    ctx.conn.execute(
        "INSERT INTO credentials (serial, holder_id, kind, status_idx, status, issue_number, "
        "bound_key_pem, key_fingerprint, signer_id, claims, document, issued_at, valid_from, "
        "valid_until, changed_at, supersedes) VALUES (?, ?, ?, ?, 'valid', ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?, ?)",
        (
            serial,
            holder.holder_id,
            kind.value,
            index,
            claims.issue_number,
            public_key_pem(key),
            fingerprint,
            signer.id,
            json_text(snapshot),
            document,
            ts(now),
            ts(start),
            ts(until),
            ts(now),
            None if predecessor is None else predecessor.serial,
        ),
    )
    detail = {
        "kind": kind.value,
        "status_index": index,
        "valid_until": until.isoformat(),
        "signer": signer.fingerprint,
        "key": fingerprint,
        "supersedes": None if predecessor is None else predecessor.serial,
    }
    events.insert(0, AuditEvent(action, holder.holder_id, serial, detail))
    store.write_audit(ctx.conn, at=now, actor=actor, reason=reason, events=events)
    credential = ctx.credential(serial)
    assert credential is not None
    return IssuedCredential(credential, document, superseded, cut_to_signer=until < wanted)


def _may_issue(holder: HolderRecord) -> None:
    if holder.state is HolderState.RETIRED:
        raise IllegalTransition(
            f"{holder.holder_id} retired on {kst(holder.retired_at)}; a retired person "
            "is never issued a credential again (rule 61 ①)"
        )
    if holder.state is HolderState.SUSPENDED:
        raise IllegalTransition(
            f"{holder.holder_id} is suspended (leave, rule 61 ②); resume them before issuing"
        )


def _check_key(ctx: Context, holder: HolderRecord, kind: CredentialKind, fingerprint: str) -> None:
    for other in ctx.credentials("key_fingerprint = ?", (fingerprint,)):
        if other.invalid_cause is InvalidCause.LOST:
            raise IllegalTransition(
                f"this key was bound to {other.serial}, reported lost on "
                f"{kst(other.changed_at)}; a lost device's key is never bound again"
            )
        if other.holder_id != holder.holder_id or other.kind != kind.value:
            raise IllegalTransition(
                f"this key is already bound to {other.serial} ({other.kind} of "
                f"{other.holder_id}); every phone or card has its own key"
            )


def _new_serial(ctx: Context, kind: CredentialKind) -> str:
    while True:
        serial = f"{_SERIAL_PREFIX[kind]}-{secrets.token_hex(6).upper()}"
        if ctx.credential(serial) is None:
            return serial


def _allocate_index(ctx: Context) -> int:
    """A random index never used before: the list's order then says nothing about who
    was issued when (draft-ietf-oauth-status-list, privacy considerations)."""
    capacity = ctx.settings.status_capacity
    (used,) = ctx.conn.execute("SELECT COUNT(*) FROM credentials").fetchone()
    if used >= capacity:
        raise AuthorityError(
            f"all {capacity} status-list indices are used (they are never reused); "
            "this authority cannot issue more credentials"
        )
    for _ in range(_RANDOM_INDEX_TRIES):
        idx = ctx.rng.randrange(capacity)
        if (
            ctx.conn.execute("SELECT 1 FROM credentials WHERE status_idx = ?", (idx,)).fetchone()
            is None
        ):
            return idx
    taken = {row[0] for row in ctx.conn.execute("SELECT status_idx FROM credentials")}
    return ctx.rng.choice([idx for idx in range(capacity) if idx not in taken])
