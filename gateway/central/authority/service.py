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
import sqlite3
from pathlib import Path
from typing import Any

from cryptography import x509

from gateway.central.authority import issuance, lifecycle, publishing, records, signers, store
from gateway.central.authority.context import (
    STATUS_BITS,
    AuthorityError,
    AuthoritySettings,
    Context,
    IllegalTransition,
    NotFound,
    aware,
    fingerprint,
    required,
)
from gateway.central.authority.enrollment import EnrollReport, HolderChange, enroll
from gateway.central.authority.hr_import import HrExport, load_hr_export
from gateway.central.authority.issuance import IssuedCredential, PublicKeyInput
from gateway.central.authority.records import (
    AuditAction,
    AuditEntry,
    CredentialRecord,
    HolderRecord,
    PublishedToken,
    SignerRecord,
    ts,
)
from gateway.central.authority.store import AuditEvent, transaction
from gateway.credentials.decision import CredentialKind
from gateway.credentials.status_list import StatusList

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


class Authority:
    """One issuing authority's database. Make one with :meth:`create`, reopen with :meth:`open`."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

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
        aware(now)
        actor = required(actor, "actor")
        settings = settings or AuthoritySettings()
        name, organization = name.strip(), organization.strip()
        if not name or not organization:
            raise AuthorityError("name and organization must not be empty")
        path = Path(path)
        try:
            conn = store.connect(path, create=True)
        except store.StoreError as exc:
            raise AuthorityError(str(exc)) from exc
        try:
            keys = signers.initial_keys(
                name,
                organization,
                now=now,
                iaca_days=settings.iaca_days,
                signer_days=settings.signer_days,
            )
            status_uri = status_uri or signers.default_status_uri(keys.iaca)
            with transaction(conn):
                conn.execute(
                    "INSERT INTO authority (id, name, organization, status_uri, status_bits, "
                    "status_capacity, status_ttl, status_lifetime, credential_days, signer_days, "
                    "created_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        organization,
                        status_uri,
                        STATUS_BITS,
                        settings.status_capacity,
                        settings.status_ttl,
                        settings.status_lifetime,
                        settings.credential_days,
                        settings.signer_days,
                        ts(now),
                    ),
                )
                detail: dict[str, Any] = {"status_uri": status_uri}
                for role, pair in keys.by_role():
                    signers.insert_signer(conn, role, pair, now)
                    detail[role] = fingerprint(pair.certificate)
                store.write_audit(
                    conn,
                    at=now,
                    actor=actor,
                    reason="authority created",
                    events=[AuditEvent(AuditAction.CREATE, detail=detail)],
                )
        except BaseException:
            conn.close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            raise
        return cls._load(conn, path, rng)

    @classmethod
    def open(cls, path: str | Path, *, rng: random.Random | None = None) -> Authority:
        """An existing database; ``rng`` picks status indices (default: the system's CSPRNG)."""
        path = Path(path)
        try:
            conn = store.connect(path, create=False)
        except store.StoreError as exc:
            raise AuthorityError(str(exc)) from exc
        return cls._load(conn, path, rng)

    @classmethod
    def _load(cls, conn: sqlite3.Connection, path: Path, rng: random.Random | None) -> Authority:
        row = conn.execute(
            "SELECT name, organization, status_uri, status_capacity, status_ttl, "
            "status_lifetime, credential_days, signer_days FROM authority"
        ).fetchone()
        if row is None:
            conn.close()
            raise AuthorityError(f"{path} holds no authority (its creation did not finish)")
        settings = AuthoritySettings(
            status_capacity=row[3],
            status_ttl=row[4],
            status_lifetime=row[5],
            credential_days=row[6],
            signer_days=row[7],
        )
        rng = rng or random.SystemRandom()
        return cls(Context(conn, path, row[0], row[1], row[2], settings, rng))

    def close(self) -> None:
        self._ctx.conn.close()

    def __enter__(self) -> Authority:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> Path:
        return self._ctx.path

    @property
    def name(self) -> str:
        return self._ctx.name

    @property
    def organization(self) -> str:
        return self._ctx.organization

    @property
    def status_uri(self) -> str:
        return self._ctx.status_uri

    @property
    def settings(self) -> AuthoritySettings:
        return self._ctx.settings

    # --- Trust anchors and signers ---------------------------------------------------

    def trust_anchor_pem(self) -> bytes:
        """The IACA certificate, PEM: what every gate adds to its TrustStore."""
        return self._ctx.keypair(signers.IACA).cert_pem()

    def status_signer_pem(self) -> bytes:
        """The status-list signer's certificate, PEM; it chains to the IACA."""
        return self._ctx.keypair(signers.STATUS).cert_pem()

    @property
    def iaca_certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.trust_anchor_pem())

    @property
    def status_signer_certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.status_signer_pem())

    def signers(self, role: str | None = None) -> list[SignerRecord]:
        """Certificates on file, oldest first; ``role`` is iaca, document or status."""
        query = f"SELECT {records.SIGNER_COLUMNS} FROM signers"  # noqa: S608 - constant
        args: tuple[str, ...] = ()
        if role is not None:
            query += " WHERE role = ?"
            args = (role,)
        rows = self._ctx.conn.execute(query + " ORDER BY id", args).fetchall()
        return [records.signer_from_row(row) for row in rows]

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
        return signers.rotate_document_signer(
            self._ctx,
            aware(now),
            actor=required(actor, "actor"),
            reason=reason,
            validity_days=validity_days,
        )

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
        return enroll(
            self._ctx, export, now=aware(now), actor=required(actor, "actor"), reason=reason
        )

    def holder(self, holder_id: str) -> HolderRecord:
        return self._ctx.holder(holder_id)

    def holders(self) -> list[HolderRecord]:
        rows = self._ctx.conn.execute(
            f"SELECT {records.HOLDER_COLUMNS} FROM holders "  # noqa: S608 - constant
            "ORDER BY organization_code, holder_id"
        ).fetchall()
        return [records.holder_from_row(row) for row in rows]

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
        return issuance.issue(
            self._ctx,
            holder_id,
            CredentialKind.MOBILE,
            device_key,
            now=aware(now),
            actor=required(actor, "actor"),
            reason=reason,
            valid_days=valid_days,
        )

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
        return issuance.issue(
            self._ctx,
            holder_id,
            CredentialKind.CARD,
            card_key,
            now=aware(now),
            actor=required(actor, "actor"),
            reason=reason,
            valid_days=valid_days,
        )

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
        return issuance.reissue(
            self._ctx,
            serial,
            key,
            now=aware(now),
            actor=required(actor, "actor"),
            reason=required(reason, "reason"),
            valid_days=valid_days,
        )

    def report_lost(
        self, serial: str, *, now: dt.datetime, actor: str, reason: str
    ) -> CredentialRecord:
        """Rule 60 ③④: INVALID at once (publish a token to tell the gates)."""
        return lifecycle.report_lost(
            self._ctx,
            serial,
            now=aware(now),
            actor=required(actor, "actor"),
            reason=required(reason, "reason"),
        )

    def suspend(
        self, holder_id: str, *, now: dt.datetime, actor: str, reason: str
    ) -> list[CredentialRecord]:
        """Rule 61 ②: the holder's VALID credentials SUSPENDED; returns those changed."""
        return lifecycle.suspend(
            self._ctx,
            holder_id,
            now=aware(now),
            actor=required(actor, "actor"),
            reason=required(reason, "reason"),
        )

    def resume(
        self, holder_id: str, *, now: dt.datetime, actor: str, reason: str
    ) -> list[CredentialRecord]:
        """Reinstatement: SUSPENDED credentials VALID again; returns those changed."""
        return lifecycle.resume(
            self._ctx,
            holder_id,
            now=aware(now),
            actor=required(actor, "actor"),
            reason=required(reason, "reason"),
        )

    def retire(
        self, holder_id: str, *, now: dt.datetime, actor: str, reason: str
    ) -> list[CredentialRecord]:
        """Rule 61 ①: every live credential INVALID for good; never issued to again."""
        return lifecycle.retire(
            self._ctx,
            holder_id,
            now=aware(now),
            actor=required(actor, "actor"),
            reason=required(reason, "reason"),
        )

    def credential(self, serial: str) -> CredentialRecord:
        return self._ctx.require_credential(serial)

    def credentials(
        self, holder_id: str | None = None, *, live_only: bool = False
    ) -> list[CredentialRecord]:
        """Credentials, oldest first: of one holder, and only VALID or SUSPENDED ones, if asked."""
        clauses, args = [], []
        if holder_id is not None:
            clauses.append("holder_id = ?")
            args.append(holder_id)
        if live_only:
            clauses.append("status != 'invalid'")
        return self._ctx.credentials(" AND ".join(clauses), tuple(args))

    def find_credential(
        self, target: str, kind: CredentialKind | str | None = None
    ) -> CredentialRecord:
        """A serial, or a holder id meaning their live (else latest) credential of ``kind``."""
        return lifecycle.find_credential(
            self._ctx, target, None if kind is None else CredentialKind(kind)
        )

    def credential_document(self, serial: str) -> bytes:
        """What was handed over at issue: IssuerSigned (mobile) or the card object (card)."""
        self._ctx.require_credential(serial)
        (document,) = self._ctx.conn.execute(
            "SELECT document FROM credentials WHERE serial = ?", (serial,)
        ).fetchone()
        return bytes(document)

    def stale_credentials(self) -> list[CredentialRecord]:
        """Live credentials that print data the HR record no longer has: to be reissued."""
        holders = {h.holder_id: h for h in self.holders()}
        return [
            c
            for c in self.credentials(live_only=True)
            if issuance.is_stale(c, holders[c.holder_id])
        ]

    # --- Status list ------------------------------------------------------------------------

    def status_list(self) -> StatusList:
        """The list as it stands: every index VALID unless its credential says otherwise."""
        return publishing.current_list(self._ctx)

    def publish_status_list(
        self, now: dt.datetime, *, actor: str = "status-publisher", ttl: int | None = None
    ) -> bytes:
        """Sign, store and return a new Status List Token (``iat`` strictly increasing)."""
        return publishing.publish(self._ctx, aware(now), actor=required(actor, "actor"), ttl=ttl)

    def latest_status_list_token(self) -> bytes | None:
        return publishing.latest(self._ctx)

    def status_list_tokens(self) -> list[PublishedToken]:
        """Every token ever published, oldest first."""
        return publishing.tokens(self._ctx)

    @property
    def pending_status_changes(self) -> bool:
        """True when a status changed after the last published token, or none was published."""
        return publishing.pending(self._ctx)

    # --- Audit ----------------------------------------------------------------------------

    def audit(
        self,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        *,
        holder_id: str | None = None,
        serial: str | None = None,
        action: AuditAction | str | None = None,
    ) -> list[AuditEntry]:
        """Audit rows with ``since <= at < until``, oldest first (rule 62 ③ checks)."""
        return store.read_audit(
            self._ctx.conn,
            since=None if since is None else aware(since),
            until=None if until is None else aware(until),
            holder_id=holder_id,
            serial=serial,
            action=None if action is None else AuditAction(action),
        )
