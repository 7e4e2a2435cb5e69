"""What can be read from an issuing authority's database; nothing here changes it.

:class:`AuthorityReader` is the read-only half of
:class:`~gateway.central.authority.service.Authority`, which adds the changes.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509

from gateway.central.authority import lifecycle, publishing, records, signers, store
from gateway.central.authority.context import AuthoritySettings, Context, aware
from gateway.central.authority.issuance import is_stale
from gateway.central.authority.records import (
    AuditAction,
    AuditEntry,
    CredentialRecord,
    HolderRecord,
    PublishedToken,
    SignerRecord,
)
from gateway.credentials.decision import CredentialKind
from gateway.credentials.status_list import StatusList


class AuthorityReader:
    """One open authority database, read only."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

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

    # --- Holders and credentials -------------------------------------------------------

    def holder(self, holder_id: str) -> HolderRecord:
        return self._ctx.holder(holder_id)

    def holders(self) -> list[HolderRecord]:
        rows = self._ctx.conn.execute(
            f"SELECT {records.HOLDER_COLUMNS} FROM holders "  # noqa: S608 - constant
            "ORDER BY organization_code, holder_id"
        ).fetchall()
        return [records.holder_from_row(row) for row in rows]

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
        return [c for c in self.credentials(live_only=True) if is_stale(c, holders[c.holder_id])]

    # --- Status list ------------------------------------------------------------------------

    def status_list(self) -> StatusList:
        """The list as it stands: every index VALID unless its credential says otherwise."""
        return publishing.current_list(self._ctx)

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
