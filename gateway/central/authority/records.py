"""The authority's records as the rest of the code sees them, and how rows map to them.

Times are stored as UTC ISO 8601 text of one fixed width, so that text order
is time order and ``audit(since, until)`` is a plain range query.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    Record = TypeVar("Record", bound=DataclassInstance)


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
#
# Each ``*_COLUMNS`` lists its record's fields in the record's own order, under the
# database's names for them (status_idx, iat, exp), so that one reader builds every
# record from its row; tests/central/test_records.py keeps the two in step.


def _from_row(record: type[Record], row: Sequence[Any], **convert: Callable[[Any], Any]) -> Record:
    """``record`` from ``row``; ``convert`` turns stored text, 0/1 and blobs back into the
    fields' types. NULL stays None, which is what every nullable field means by it."""
    names = [field.name for field in fields(record)]
    values = {
        name: value if value is None or name not in convert else convert[name](value)
        for name, value in zip(names, row, strict=True)
    }
    return record(**values)


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
    return _from_row(
        SignerRecord,
        row,
        not_before=parse_ts,
        not_after=parse_ts,
        created_at=parse_ts,
        active=bool,
        cert_pem=bytes,
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
    return _from_row(
        HolderRecord,
        row,
        foreign_national=bool,
        portrait=bytes,
        state=HolderState,
        enrolled_at=parse_ts,
        updated_at=parse_ts,
        retired_at=parse_ts,
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
    return _from_row(
        CredentialRecord,
        row,
        status=CredentialStatus,
        invalid_cause=InvalidCause,
        claims=json.loads,
        issued_at=parse_ts,
        valid_from=parse_ts,
        valid_until=parse_ts,
        changed_at=parse_ts,
    )


@dataclass(frozen=True, slots=True)
class PublishedToken:
    version: int
    issued_at: int  # the token's iat
    expires_at: int | None
    ttl: int
    published_at: dt.datetime
    token: bytes


PUBLISHED_COLUMNS = "version, iat, exp, ttl, published_at, token"


def published_from_row(row: Sequence[Any]) -> PublishedToken:
    return _from_row(PublishedToken, row, published_at=parse_ts, token=bytes)


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


AUDIT_COLUMNS = "id, batch, at, actor, action, reason, holder_id, serial, detail"


def audit_from_row(row: Sequence[Any]) -> AuditEntry:
    return _from_row(AuditEntry, row, at=parse_ts, action=AuditAction, detail=json.loads)


def json_text(value: Any) -> str:
    """JSON as stored: Korean kept readable, keys sorted so equal values compare equal."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
