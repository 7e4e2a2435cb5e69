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
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.central.authority import numbering, store
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
    CredentialStatus,
    HolderRecord,
    HolderState,
    InvalidCause,
    SignerRecord,
    json_text,
    ts,
)
from gateway.central.authority.store import AuditEvent, transaction
from gateway.credentials import card, csid, mdoc
from gateway.credentials.decision import CredentialKind
from gateway.credentials.status_list import StatusReference

KINDS = (CredentialKind.MOBILE, CredentialKind.CARD)

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


@dataclass(frozen=True, slots=True)
class Issuance:
    """Issuing on behalf of ``actor`` at ``now``; each call is one transaction with its audit."""

    ctx: Context
    now: dt.datetime
    actor: str
    reason: str
    valid_days: int | None = None  # default: the authority's credential_days

    def issue(self, holder_id: str, kind: CredentialKind, key: PublicKeyInput) -> IssuedCredential:
        """A new credential of ``kind``; the holder's live one of that kind is superseded."""
        with transaction(self.ctx.conn):
            holder = self.ctx.holder(holder_id)
            return self._issue(holder, kind, load_public_key(key), replaces=None)

    def reissue(self, serial: str, key: PublicKeyInput | None) -> IssuedCredential:
        """``serial`` again with the holder's current data; without ``key``, bound to its key."""
        with transaction(self.ctx.conn):
            old = self.ctx.require_credential(serial)
            holder = self.ctx.holder(old.holder_id)
            kind = CredentialKind(old.kind)
            self._check_current(old, holder, kind)
            if key is None:
                key = self._old_key(old, kind)
            return self._issue(holder, kind, load_public_key(key), replaces=old)

    def _check_current(
        self, old: CredentialRecord, holder: HolderRecord, kind: CredentialKind
    ) -> None:
        """Only the newest credential of its kind may be reissued: reissuing an older one
        would revive a credential that the rules already replaced."""
        current = self.ctx.live_credential(holder.holder_id, kind.value)
        if current is not None and current.serial != old.serial:
            raise IllegalTransition(
                f"{old.serial} is no longer {holder.holder_id}'s {kind} credential; "
                f"{current.serial} is: reissue that one"
            )
        if old.invalid_cause is InvalidCause.SUPERSEDED:
            (newer,) = self.ctx.conn.execute(
                "SELECT serial FROM credentials WHERE supersedes = ?", (old.serial,)
            ).fetchone() or ("another credential",)
            raise IllegalTransition(f"{old.serial} was superseded by {newer}; reissue that one")

    def _old_key(self, old: CredentialRecord, kind: CredentialKind) -> bytes:
        if old.invalid_cause is InvalidCause.LOST:
            raise IllegalTransition(
                f"{old.serial} was reported lost, so its key is not ours any more: give "
                f"the key of the new {'phone' if kind is CredentialKind.MOBILE else 'card'}"
            )
        (pem,) = self.ctx.conn.execute(
            "SELECT bound_key_pem FROM credentials WHERE serial = ?", (old.serial,)
        ).fetchone()
        return bytes(pem)

    def _issue(
        self,
        holder: HolderRecord,
        kind: CredentialKind,
        key: ec.EllipticCurvePublicKey,
        *,
        replaces: CredentialRecord | None,  # what a reissue was asked for
    ) -> IssuedCredential:
        ctx, now = self.ctx, self.now
        if kind not in KINDS:
            raise AuthorityError(f"cannot issue a {kind} credential; only mobile and card")
        _may_issue(holder)
        fingerprint = key_fingerprint(key)
        _check_key(ctx, holder, kind, fingerprint)
        signer = self._usable_signer()
        start, until, wanted = self._validity(signer)
        serial = numbering.new_serial(ctx, kind)
        index = numbering.new_status_index(ctx)
        claims = self._claims(holder, serial)
        validity = mdoc.ValidityInfo(signed=start, valid_from=start, valid_until=until)
        document = self._sign(kind, claims, key, validity, index)
        superseded = ctx.live_credential(holder.holder_id, kind.value)
        if superseded is not None:
            ctx.invalidate(superseded, InvalidCause.SUPERSEDED, now)
        predecessor = replaces or superseded
        supersedes = None if predecessor is None else predecessor.serial
        snapshot = {
            **claim_snapshot(holder),
            "issue_number": claims.issue_number,
            "issue_date": claims.issue_date.isoformat(),
            "issuing_authority": ctx.name,
        }
        store.insert(
            ctx.conn,
            "credentials",
            {
                "serial": serial,
                "holder_id": holder.holder_id,
                "kind": kind.value,
                "status_idx": index,
                "status": CredentialStatus.VALID.value,
                "issue_number": claims.issue_number,
                "bound_key_pem": public_key_pem(key),
                "key_fingerprint": fingerprint,
                "signer_id": signer.id,
                "claims": json_text(snapshot),
                "document": document,
                "issued_at": ts(now),
                "valid_from": ts(start),
                "valid_until": ts(until),
                "changed_at": ts(now),
                "supersedes": supersedes,
            },
        )
        detail = {
            "kind": kind.value,
            "status_index": index,
            "valid_until": until.isoformat(),
            "signer": signer.fingerprint,
            "key": fingerprint,
            "supersedes": supersedes,
        }
        action = AuditAction.ISSUE if replaces is None else AuditAction.REISSUE
        events = [AuditEvent(action, holder.holder_id, serial, detail)]
        if superseded is not None:
            by = {"by": serial}
            events.append(
                AuditEvent(AuditAction.SUPERSEDE, holder.holder_id, superseded.serial, by)
            )
        store.write_audit(ctx.conn, at=now, actor=self.actor, reason=self.reason, events=events)
        credential = ctx.credential(serial)
        assert credential is not None
        return IssuedCredential(credential, document, superseded, cut_to_signer=until < wanted)

    def _usable_signer(self) -> SignerRecord:
        signer = self.ctx.active_signer("document")
        if self.now >= signer.not_after:
            raise AuthorityError(
                f"the document signer expired on {kst(signer.not_after)}; run rotate-signer"
            )
        if self.now < signer.not_before:
            raise AuthorityError(
                "the document signer is valid only from "
                f"{kst(signer.not_before, '%Y-%m-%d %H:%M KST')}"
            )
        return signer

    def _validity(self, signer: SignerRecord) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
        """Start, end, and the end that was asked for."""
        days = self.valid_days if self.valid_days is not None else self.ctx.settings.credential_days
        if days <= 0:
            raise AuthorityError("validity must be a positive number of days")
        start = self.now.astimezone(dt.UTC).replace(microsecond=0)
        wanted = start + dt.timedelta(days=days)
        # A credential must not outlive the certificate that lets gates check it.
        return start, min(wanted, signer.not_after), wanted

    def _claims(self, holder: HolderRecord, serial: str) -> csid.CivilServantClaims:
        local = self.now.astimezone(KST)
        return csid.CivilServantClaims(
            holder_id=holder.holder_id,
            credential_serial=serial,
            issue_number=numbering.next_issue_number(self.ctx, local.year),
            name=holder.name,
            organization=holder.organization,
            organization_code=holder.organization_code,
            position=holder.printed_position,
            issue_date=local.date(),
            issuing_authority=self.ctx.name,
            issuing_authority_phone=holder.office_phone,
            portrait=holder.portrait or b"",
        )

    def _sign(
        self,
        kind: CredentialKind,
        claims: csid.CivilServantClaims,
        key: ec.EllipticCurvePublicKey,
        validity: mdoc.ValidityInfo,
        index: int,
    ) -> bytes:
        """IssuerSigned for a phone's wallet, or the card object for a chip."""
        status = StatusReference(index, self.ctx.status_uri).to_cbor_value()
        pair = self.ctx.keypair("document")
        if kind is CredentialKind.MOBILE:
            return mdoc.issue(
                doctype=csid.DOCTYPE,
                namespaces={csid.NAMESPACE: claims.elements()},
                device_key=key,
                validity=validity,
                signer_key=pair.key,
                x5chain=[pair.der],
                status=status,
            )
        return card.issue_card_object(
            claims=claims.elements(),
            card_key=key,
            validity=validity,
            signer_key=pair.key,
            x5chain=[pair.der],
            status=status,
        )


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
