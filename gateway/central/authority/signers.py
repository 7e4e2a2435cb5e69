"""The authority's keys: one IACA, Document Signers under it, one status-list signer.

Certificates come from ``pki.py`` (18013-5 Annex B profiles). Private keys
are kept as PEM in the database, which a production deployment must not do:
there the IACA key stays offline and is used only in a key ceremony to sign
new DS certificates, and the DS and status-list keys live in an HSM
(PKCS#11), so this module would store certificates and key labels only.

A Document Signer is rotated without a gap: the new one signs every new
credential from the moment it exists, and the old one's certificate stays
valid until its own expiry, so everything it signed keeps verifying at the
gates (which trust the IACA, not a particular DS).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from gateway.central.authority import pki, store
from gateway.central.authority.context import AuthorityError, Context, fingerprint
from gateway.central.authority.records import AuditAction, SignerRecord, ts
from gateway.central.authority.store import AuditEvent, transaction

IACA, DOCUMENT, STATUS = "iaca", "document", "status"


@dataclass(frozen=True, slots=True)
class InitialKeys:
    iaca: pki.KeyPair
    document: pki.KeyPair
    status: pki.KeyPair

    def by_role(self) -> tuple[tuple[str, pki.KeyPair], ...]:
        return ((IACA, self.iaca), (DOCUMENT, self.document), (STATUS, self.status))


def initial_keys(
    name: str, organization: str, *, now: dt.datetime, iaca_days: int, signer_days: int
) -> InitialKeys:
    """A fresh IACA, the first DS and the status-list signer, all starting at ``now``."""
    iaca_end = now + dt.timedelta(days=iaca_days)
    iaca = pki.new_iaca(
        f"{name} IACA", organization=organization, not_before=now, not_after=iaca_end
    )
    document = pki.new_signer(
        iaca,
        f"{name} DS 1",
        organization=organization,
        not_before=now,
        not_after=min(now + dt.timedelta(days=signer_days), iaca_end),
    )
    # As long-lived as the IACA: gates pin the status-list key per list URI, and
    # there is no rotation for it yet.
    status = pki.new_status_list_signer(
        iaca,
        f"{name} 상태목록 서명",
        organization=organization,
        not_before=now,
        not_after=iaca_end,
    )
    return InitialKeys(iaca, document, status)


def default_status_uri(iaca: pki.KeyPair) -> str:
    """Unique per authority: named after the IACA's key identifier."""
    ski = x509.SubjectKeyIdentifier.from_public_key(iaca.key.public_key()).digest
    return f"https://csid.mpm.go.kr/status/{ski.hex()[:16]}"


def insert_signer(conn: sqlite3.Connection, role: str, pair: pki.KeyPair, now: dt.datetime) -> int:
    cert = pair.certificate
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return store.insert(
        conn,
        "signers",
        {
            "role": role,
            "subject": str(names[0].value) if names else cert.subject.rfc4514_string(),
            "fingerprint": fingerprint(cert),
            "key_pem": pair.key_pem(),
            "cert_pem": pair.cert_pem(),
            "not_before": ts(cert.not_valid_before_utc),
            "not_after": ts(cert.not_valid_after_utc),
            "created_at": ts(now),
            "active": 1,
        },
    )


def rotate_document_signer(
    ctx: Context, now: dt.datetime, *, actor: str, reason: str, validity_days: int | None
) -> SignerRecord:
    days = validity_days if validity_days is not None else ctx.settings.signer_days
    if days <= 0:
        raise AuthorityError("validity must be a positive number of days")
    iaca = ctx.keypair(IACA)
    iaca_end = iaca.certificate.not_valid_after_utc
    if now >= iaca_end:
        raise AuthorityError("the IACA has expired; a new authority and gate anchor are needed")
    with transaction(ctx.conn):
        old = ctx.active_signer(DOCUMENT)
        (count,) = ctx.conn.execute(
            "SELECT COUNT(*) FROM signers WHERE role = ?", (DOCUMENT,)
        ).fetchone()
        pair = pki.new_signer(
            iaca,
            f"{ctx.name} DS {count + 1}",
            organization=ctx.organization,
            not_before=now,
            not_after=min(now + dt.timedelta(days=days), iaca_end),
        )
        ctx.conn.execute("UPDATE signers SET active = 0 WHERE id = ?", (old.id,))
        insert_signer(ctx.conn, DOCUMENT, pair, now)
        store.write_audit(
            ctx.conn,
            at=now,
            actor=actor,
            reason=reason,
            events=[
                AuditEvent(
                    AuditAction.ROTATE,
                    detail={
                        "old": old.fingerprint,
                        "old_not_after": old.not_after.isoformat(),
                        "new": fingerprint(pair.certificate),
                        "new_not_after": pair.certificate.not_valid_after_utc.isoformat(),
                    },
                )
            ],
        )
        return ctx.active_signer(DOCUMENT)
