"""The authority's records as the rest of the code sees them, and how rows map to them.

Times are stored as UTC ISO 8601 text of one fixed width, so that text order
is time order and ``audit(since, until)`` is a plain range query.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class HolderState(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # leave, rule 61 ②
    RETIRED = "retired"  # rule 61 ①, final


class CredentialStatus(StrEnum):
    VALID = "valid"
    SUSPENDED = "suspended"
    INVALID = "invalid"  # final


class InvalidCause(StrEnum):
    SUPERSEDED = "superseded"  # a newer credential of the same kind replaced it
    LOST = "lost"
    RETIRED = "retired"


class AuditAction(StrEnum):
    CREATE = "create"
    ENROLL = "enroll"
    TRANSFER = "transfer"  # re-enrolled with another organization
    PROMOTE = "promote"  # re-enrolled with another position or external title
    UPDATE = "update"  # re-enrolled with other printed data (name, phone, portrait)
    ISSUE = "issue"
    REISSUE = "reissue"
    SUPERSEDE = "supersede"  # side effect: the older credential of an issue or reissue
    LOST = "lost"
    SUSPEND = "suspend"
    RESUME = "resume"
    RETIRE = "retire"
    PUBLISH = "publish"
    ROTATE = "rotate"


# --- Time ---------------------------------------------------------------------


def ts(moment: dt.datetime) -> str:
    """UTC ISO 8601 with microseconds: one fixed width, so text order is time order."""
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def parse_ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# --- Rows -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignerRecord:
    id: int
    role: str  # "iaca", "document" or "status"
    subject: str
    fingerprint: str  # SHA-256 of the DER certificate, hex
    not_before: dt.datetime
    not_after: dt.datetime
    created_at: dt.datetime
    active: bool
    cert_pem: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "subject": self.subject,
            "fingerprint": self.fingerprint,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "active": self.active,
        }


SIGNER_COLUMNS = (
    "id, role, subject, fingerprint, not_before, not_after, created_at, active, cert_pem"
)


def signer_from_row(row: Sequence[Any]) -> SignerRecord:
    return SignerRecord(
        id=row[0],
        role=row[1],
        subject=row[2],
        fingerprint=row[3],
        not_before=parse_ts(row[4]),
        not_after=parse_ts(row[5]),
        created_at=parse_ts(row[6]),
        active=bool(row[7]),
        cert_pem=bytes(row[8]),
    )


@dataclass(frozen=True, slots=True)
class HolderRecord:
    holder_id: str
    name: str
    foreign_national: bool
    organization: str
    organization_code: str
    position: str  # 직위·직급
    external_title: str | None  # 대외직명; printed instead of the position when set
    office_phone: str
    portrait: bytes | None
    state: HolderState
    enrolled_at: dt.datetime
    updated_at: dt.datetime
    retired_at: dt.datetime | None

    @property
    def printed_position(self) -> str:
        return self.external_title or self.position

    def to_json(self) -> dict[str, Any]:
        return {
            "holder_id": self.holder_id,
            "name": self.name,
            "foreign_national": self.foreign_national,
            "organization": self.organization,
            "organization_code": self.organization_code,
            "position": self.position,
            "external_title": self.external_title,
            "office_phone": self.office_phone,
            "portrait_bytes": len(self.portrait or b""),
            "state": self.state.value,
            "enrolled_at": self.enrolled_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "retired_at": None if self.retired_at is None else self.retired_at.isoformat(),
        }


HOLDER_COLUMNS = (
    "holder_id, name, foreign_national, organization, organization_code, position, "
    "external_title, office_phone, portrait, state, enrolled_at, updated_at, retired_at"
)


def holder_from_row(row: Sequence[Any]) -> HolderRecord:
    return HolderRecord(
        holder_id=row[0],
        name=row[1],
        foreign_national=bool(row[2]),
        organization=row[3],
        organization_code=row[4],
        position=row[5],
        external_title=row[6],
        office_phone=row[7],
        portrait=None if row[8] is None else bytes(row[8]),
        state=HolderState(row[9]),
        enrolled_at=parse_ts(row[10]),
        updated_at=parse_ts(row[11]),
        retired_at=None if row[12] is None else parse_ts(row[12]),
    )


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    serial: str
    holder_id: str
    kind: str  # "mobile" or "card"
    status_index: int
    status: CredentialStatus
    invalid_cause: InvalidCause | None
    issue_number: str
    key_fingerprint: str  # SHA-256 of the bound key's SubjectPublicKeyInfo, hex
    signer_id: int
    claims: dict[str, Any]  # the printed claims it was issued with (portrait as a hash)
    issued_at: dt.datetime
    valid_from: dt.datetime
    valid_until: dt.datetime
    changed_at: dt.datetime
    supersedes: str | None

    @property
    def live(self) -> bool:
        return self.status is not CredentialStatus.INVALID

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "holder_id": self.holder_id,
            "kind": self.kind,
            "status_index": self.status_index,
            "status": self.status.value,
            "invalid_cause": None if self.invalid_cause is None else self.invalid_cause.value,
            "issue_number": self.issue_number,
            "key_fingerprint": self.key_fingerprint,
            "claims": self.claims,
            "issued_at": self.issued_at.isoformat(),
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat(),
            "changed_at": self.changed_at.isoformat(),
            "supersedes": self.supersedes,
        }


CREDENTIAL_COLUMNS = (
    "serial, holder_id, kind, status_idx, status, invalid_cause, issue_number, "
    "key_fingerprint, signer_id, claims, issued_at, valid_from, valid_until, changed_at, "
    "supersedes"
)


def credential_from_row(row: Sequence[Any]) -> CredentialRecord:
    return CredentialRecord(
        serial=row[0],
        holder_id=row[1],
        kind=row[2],
        status_index=row[3],
        status=CredentialStatus(row[4]),
        invalid_cause=None if row[5] is None else InvalidCause(row[5]),
        issue_number=row[6],
        key_fingerprint=row[7],
        signer_id=row[8],
        claims=json.loads(row[9]),
        issued_at=parse_ts(row[10]),
        valid_from=parse_ts(row[11]),
        valid_until=parse_ts(row[12]),
        changed_at=parse_ts(row[13]),
        supersedes=row[14],
    )


@dataclass(frozen=True, slots=True)
class PublishedToken:
    version: int
    issued_at: int  # the token's iat
    expires_at: int | None
    ttl: int
    published_at: dt.datetime
    token: bytes


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    batch: int  # rows written by one action share it
    at: dt.datetime
    actor: str
    action: AuditAction
    reason: str
    holder_id: str | None
    serial: str | None
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "batch": self.batch,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action.value,
            "reason": self.reason,
            "holder_id": self.holder_id,
            "serial": self.serial,
            "detail": self.detail,
        }


def json_text(value: Any) -> str:
    """JSON as stored: Korean kept readable, keys sorted so equal values compare equal."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
