"""The issuing authority: one IACA, its signers, its holders and their credentials.

:class:`Authority` is the library behind ``gateway authority``. Every method
that changes something takes ``now`` (timezone-aware) and an ``actor``; the
library never reads the wall clock. Each change is one SQLite transaction
that also writes its audit rows, so the log and the state cannot disagree.

Lifecycle (rules 57-62), per holder and per credential kind (one mobile ID on
one phone, one chip card; each supersedes its predecessor):

======================  ===========================================  =======================
action                  credentials                                  holder
======================  ===========================================  =======================
issue / reissue         new one VALID at a fresh index; the          must be active
                        previous one of that kind INVALID
lost                    that one INVALID                             unchanged
suspend (61 ②)          VALID → SUSPENDED                            active → suspended
resume                  SUSPENDED → VALID                            suspended → active
retire (61 ①)           every live one INVALID, for good             → retired, for good
======================  ===========================================  =======================

Gates learn of a change from the next Status List Token
(:meth:`Authority.publish_status_list`); :attr:`Authority.pending_status_changes`
says whether one is due.

Keys live in the database as PEM (see ``store.py``): a production deployment
keeps them in an HSM instead, and nothing here pretends otherwise.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import TypedDict

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.central.authority import lifecycle, opening, publishing, signers
from gateway.central.authority.context import (
    AuthorityError,
    AuthoritySettings,
    IllegalTransition,
    NotFound,
    aware,
    required,
)
from gateway.central.authority.enrollment import EnrollReport, HolderChange, enroll
from gateway.central.authority.hr_import import HrExport, load_hr_export
from gateway.central.authority.issuance import Issuance, IssuedCredential, PublicKeyInput
from gateway.central.authority.reading import AuthorityReader
from gateway.central.authority.records import CredentialRecord, SignerRecord
from gateway.credentials.decision import CredentialKind

__all__ = [
    "Authority",
    "AuthorityError",
    "AuthoritySettings",
    "EnrollReport",
    "HolderChange",
    "IllegalTransition",
    "IssuedCredential",
    "NotFound",
]


class _Stamp(TypedDict):
    """When, who and why, checked: what every change writes into the audit log."""

    now: dt.datetime
    actor: str
    reason: str


def _stamp(now: dt.datetime, actor: str, reason: str, *, reason_required: bool) -> _Stamp:
    return {
        "now": aware(now),
        "actor": required(actor, "actor"),
        "reason": required(reason, "reason") if reason_required else reason,
    }


class Authority(AuthorityReader):
    """One issuing authority's database. Make one with :meth:`create`, reopen with :meth:`open`.

    What only reads is inherited from :class:`AuthorityReader`; what changes is here.
    """

    # --- Creating and opening ------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        name: str,
        organization: str,
        now: dt.datetime,
        actor: str = "authority-init",
        status_uri: str | None = None,
        settings: AuthoritySettings | None = None,
        rng: random.Random | None = None,
    ) -> Authority:
        """A new database with a fresh IACA, Document Signer and status-list signer.

        ``name`` is the issuer as printed on the card (발급기관, e.g. 인사혁신처장)
        and the stem of the certificates' common names; ``organization`` goes
        into every certificate. ``status_uri`` is the list's URI as credentials
        name it (default: derived from the IACA key, unique per authority).
        """
        ctx = opening.create(
            Path(path),
            name=name,
            organization=organization,
            now=now,
            actor=actor,
            status_uri=status_uri,
            settings=settings or AuthoritySettings(),
            rng=rng,
        )
        return cls(ctx)

    @classmethod
    def open(cls, path: str | Path, *, rng: random.Random | None = None) -> Authority:
        """An existing database; ``rng`` picks status indices (default: the system's CSPRNG)."""
        return cls(opening.open_existing(Path(path), rng))

    def close(self) -> None:
        self._ctx.conn.close()

    def __enter__(self) -> Authority:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- Signers ------------------------------------------------------------------------

    def rotate_document_signer(
        self,
        now: dt.datetime,
        *,
        actor: str,
        reason: str = "",
        validity_days: int | None = None,
    ) -> SignerRecord:
        """A new Document Signer for new credentials. The old one stays valid until its own
        expiry, so what it signed keeps verifying: rotation without a gap."""
        stamp = _stamp(now, actor, reason, reason_required=False)
        return signers.rotate_document_signer(self._ctx, **stamp, validity_days=validity_days)

    # --- Holders ------------------------------------------------------------------------

    def enroll_file(
        self,
        path: str | Path,
        *,
        now: dt.datetime,
        actor: str,
        reason: str = "",
        encoding: str | None = None,
    ) -> EnrollReport:
        """Validate an HR export (HrImportError names file, line and field), then enroll it."""
        export = load_hr_export(Path(path), encoding=encoding)
        return self.enroll(export, now=now, actor=actor, reason=reason)

    def enroll(
        self, export: HrExport, *, now: dt.datetime, actor: str, reason: str = ""
    ) -> EnrollReport:
        """Enroll new people, record transfers and promotions of known ones; all or nothing."""
        return enroll(self._ctx, export, **_stamp(now, actor, reason, reason_required=False))

    # --- Credentials ---------------------------------------------------------------------

    def issue_mobile(
        self,
        holder_id: str,
        device_key: PublicKeyInput,
        *,
        now: dt.datetime,
        actor: str,
        reason: str = "",
        valid_days: int | None = None,
    ) -> IssuedCredential:
        """A mobile ID bound to ``device_key`` (P-256: a key object, or PEM, DER, JWK or
        COSE_Key bytes). One phone per person: the previous mobile ID becomes INVALID."""
        issuing = self._issuance(now, actor, reason, valid_days, reason_required=False)
        return issuing.issue(holder_id, CredentialKind.MOBILE, device_key)

    def issue_card(
        self,
        holder_id: str,
        card_key: PublicKeyInput,
        *,
        now: dt.datetime,
        actor: str,
        reason: str = "",
        valid_days: int | None = None,
    ) -> IssuedCredential:
        """A card object bound to the chip's public key; the previous card becomes INVALID."""
        issuing = self._issuance(now, actor, reason, valid_days, reason_required=False)
        return issuing.issue(holder_id, CredentialKind.CARD, card_key)

    def reissue(
        self,
        serial: str,
        *,
        now: dt.datetime,
        actor: str,
        reason: str,
        key: PublicKeyInput | None = None,
        valid_days: int | None = None,
    ) -> IssuedCredential:
        """Rule 60 ⑤–⑦: a new credential of the same kind with the holder's current data, the
        old one INVALID. Without ``key`` the old one's key is bound again (same phone or
        chip), which is refused when the old one was reported lost."""
        issuing = self._issuance(now, actor, reason, valid_days, reason_required=True)
        return issuing.reissue(serial, key)

    def _issuance(
        self,
        now: dt.datetime,
        actor: str,
        reason: str,
        valid_days: int | None,
        *,
        reason_required: bool,
    ) -> Issuance:
        stamp = _stamp(now, actor, reason, reason_required=reason_required)
        return Issuance(self._ctx, **stamp, valid_days=valid_days)

    def report_lost(
        self, serial: str, *, now: dt.datetime, actor: str, reason: str
    ) -> CredentialRecord:
        """Rule 60 ③④: INVALID at once (publish a token to tell the gates)."""
        stamp = _stamp(now, actor, reason, reason_required=True)
        return lifecycle.report_lost(self._ctx, serial, **stamp)

    def suspend(
        self, holder_id: str, *, now: dt.datetime, actor: str, reason: str
    ) -> list[CredentialRecord]:
        """Rule 61 ②: the holder's VALID credentials SUSPENDED; returns those changed."""
        return self._change_holder(holder_id, lifecycle.SUSPEND, now, actor, reason)

    def resume(
        self, holder_id: str, *, now: dt.datetime, actor: str, reason: str
    ) -> list[CredentialRecord]:
        """Reinstatement: SUSPENDED credentials VALID again; returns those changed."""
        return self._change_holder(holder_id, lifecycle.RESUME, now, actor, reason)

    def retire(
        self, holder_id: str, *, now: dt.datetime, actor: str, reason: str
    ) -> list[CredentialRecord]:
        """Rule 61 ①: every live credential INVALID for good; never issued to again."""
        return self._change_holder(holder_id, lifecycle.RETIRE, now, actor, reason)

    def _change_holder(
        self,
        holder_id: str,
        step: lifecycle.HolderStep,
        now: dt.datetime,
        actor: str,
        reason: str,
    ) -> list[CredentialRecord]:
        stamp = _stamp(now, actor, reason, reason_required=True)
        return lifecycle.change_holder(self._ctx, holder_id, step, **stamp)

    # --- Status list ------------------------------------------------------------------------

    def publish_status_list(
        self, now: dt.datetime, *, actor: str = "status-publisher", ttl: int | None = None
    ) -> bytes:
        """Sign, store and return a new Status List Token (``iat`` strictly increasing)."""
        return publishing.publish(self._ctx, aware(now), actor=required(actor, "actor"), ttl=ttl)

    def status_list_token_at(self, iat: int) -> bytes | None:
        """The published token whose ``iat`` is this (a delta's base), if there is one."""
        return publishing.token_at(self._ctx, iat)

    def status_signer_key(self) -> ec.EllipticCurvePrivateKey:
        """The status-list signer's private key: deltas are signed by the token's own signer."""
        return self._ctx.keypair(signers.STATUS).key

    def data_version(self) -> int:
        """Moves whenever another connection commits (``PRAGMA data_version``): a cheap poll
        for changes the CLI made to the same file."""
        (version,) = self._ctx.conn.execute("PRAGMA data_version").fetchone()
        return int(version)
