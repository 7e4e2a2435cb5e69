"""What the authority's modules share: settings, errors, and the open database."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from gateway.central.authority import pki, records
from gateway.central.authority.records import (
    CREDENTIAL_COLUMNS,
    HOLDER_COLUMNS,
    SIGNER_COLUMNS,
    CredentialRecord,
    HolderRecord,
    InvalidCause,
    SignerRecord,
    ts,
)

KST = dt.timezone(dt.timedelta(hours=9), "KST")  # issue dates and numbers follow Korean time
STATUS_BITS = 2  # VALID, INVALID, SUSPENDED


class AuthorityError(Exception):
    """A request the authority cannot carry out. The message says why and what to do."""


class NotFound(AuthorityError):
    """No such holder or credential."""


class IllegalTransition(AuthorityError):
    """The lifecycle does not allow this step from the current state."""


@dataclass(frozen=True, slots=True)
class AuthoritySettings:
    """Fixed when the authority is created."""

    credential_days: int = 365  # validity of a new credential, capped by its DS certificate
    status_ttl: int = 300  # seconds a gate may rely on a token after its iat
    status_lifetime: int | None = 86_400  # exp - iat; NIST SP 800-116 asks for daily at least
    status_capacity: int = 1 << 20  # entries in the list; indices are never reused
    iaca_days: int = 3650
    signer_days: int = 457  # 18013-5 Annex B limits a DS certificate to 457 days

    def __post_init__(self) -> None:
        for name in (
            "credential_days",
            "status_ttl",
            "status_capacity",
            "iaca_days",
            "signer_days",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.status_lifetime is not None and self.status_lifetime <= 0:
            raise ValueError("status_lifetime must be positive (or None for no exp)")


@dataclass(slots=True)
class Context:
    """One open authority database and what never changes in it."""

    conn: sqlite3.Connection
    path: Path
    name: str  # 발급기관 as printed, and the stem of every certificate's common name
    organization: str
    status_uri: str
    settings: AuthoritySettings
    rng: random.Random

    def active_signer(self, role: str) -> SignerRecord:
        return records.signer_from_row(self._active_signer_row(SIGNER_COLUMNS, role))

    def keypair(self, role: str) -> pki.KeyPair:
        key_pem, cert_pem = self._active_signer_row("key_pem, cert_pem", role)
        return pki.KeyPair.from_pem(bytes(key_pem), bytes(cert_pem))

    def _active_signer_row(self, columns: str, role: str) -> Any:
        row = self.conn.execute(
            f"SELECT {columns} FROM signers WHERE role = ? AND active = 1",  # noqa: S608
            (role,),
        ).fetchone()
        if row is None:
            raise AuthorityError(f"the database has no active {role} signer")
        return row

    def holder(self, holder_id: str) -> HolderRecord:
        row = self.conn.execute(
            f"SELECT {HOLDER_COLUMNS} FROM holders WHERE holder_id = ?",  # noqa: S608
            (holder_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"no holder {holder_id!r}; enroll them from the HR export first")
        return records.holder_from_row(row)

    def credential(self, serial: str) -> CredentialRecord | None:
        row = self.conn.execute(
            f"SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE serial = ?",  # noqa: S608
            (serial,),
        ).fetchone()
        return None if row is None else records.credential_from_row(row)

    def credentials(self, where: str = "", args: tuple[object, ...] = ()) -> list[CredentialRecord]:
        query = f"SELECT {CREDENTIAL_COLUMNS} FROM credentials"  # noqa: S608
        if where:
            query += f" WHERE {where}"
        rows = self.conn.execute(query + " ORDER BY issued_at, serial", args).fetchall()
        return [records.credential_from_row(row) for row in rows]

    def require_credential(self, serial: str) -> CredentialRecord:
        credential = self.credential(serial)
        if credential is None:
            raise NotFound(f"no credential {serial!r}")
        return credential

    def live_credential(self, holder_id: str, kind: str) -> CredentialRecord | None:
        """The holder's VALID or SUSPENDED credential of ``kind``; the schema allows one."""
        live = self.credentials(
            "holder_id = ? AND kind = ? AND status != 'invalid'", (holder_id, kind)
        )
        return live[0] if live else None

    def invalidate(
        self, credential: CredentialRecord, cause: InvalidCause, now: dt.datetime
    ) -> None:
        self.conn.execute(
            "UPDATE credentials SET status = 'invalid', invalid_cause = ?, changed_at = ? "
            "WHERE serial = ?",
            (cause.value, ts(now), credential.serial),
        )
        self.bump_status_epoch()

    def bump_status_epoch(self) -> None:
        """A credential's status changed: the published list is behind until the next token."""
        self.conn.execute("UPDATE authority SET status_epoch = status_epoch + 1")


def kst(moment: dt.datetime | None, fmt: str = "%Y-%m-%d") -> str:
    """A time as Korean operators read it in messages (dates follow KST, not UTC)."""
    return "?" if moment is None else moment.astimezone(KST).strftime(fmt)


def aware(now: dt.datetime) -> dt.datetime:
    if not isinstance(now, dt.datetime) or now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now


def required(value: str, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise AuthorityError(f"{what} must not be empty: the audit log records it")
    return value


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()
