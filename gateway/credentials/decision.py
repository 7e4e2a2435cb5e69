"""What the verifier answers: a grant with the disclosed claims, or one denial reason."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class DenialReason(StrEnum):
    """Why a credential was refused. Machine-readable; stable across releases."""

    MALFORMED = "malformed"  # the bytes are not the structure the standard defines
    UNSUPPORTED_DOCTYPE = "unsupported_doctype"  # not a civil-servant ID, or a UID-only card
    UNTRUSTED_ISSUER = "untrusted_issuer"  # no trusted IACA, or the DS is outside its validity
    BAD_ISSUER_SIGNATURE = "bad_issuer_signature"
    DIGEST_MISMATCH = "digest_mismatch"  # a disclosed element is not the one the issuer signed
    DEVICE_AUTH_FAILED = "device_auth_failed"  # no proof the phone or chip holds its own key
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"  # INVALID in the status list: lost, reissued, retired
    SUSPENDED = "suspended"  # SUSPENDED in the status list: leave (rule 61 ②)
    UNKNOWN_STATUS = "unknown_status"  # no status list covers this credential
    STALE_STATUS = "stale_status"  # the covering status list is older than its lifetime


class CredentialKind(StrEnum):
    MOBILE = "mobile"
    CARD = "card"
    UID = "uid"


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one presentation. ``granted`` is True only on the full success path."""

    granted: bool
    kind: CredentialKind
    reason: DenialReason | None = None
    detail: str = ""
    claims: dict[str, Any] = field(default_factory=dict)
    issuer: str | None = None  # the IACA that answers for the credential
    signer: str | None = None  # the Document Signer that signed it
    status_index: int | None = None
    status_uri: str | None = None
    valid_until: dt.datetime | None = None
    assurance: str = "possession"  # "static" only where legacy static cards are allowed

    @property
    def holder_id(self) -> str | None:
        value = self.claims.get("holder_id")
        return value if isinstance(value, str) else None

    @property
    def credential_serial(self) -> str | None:
        value = self.claims.get("credential_serial")
        return value if isinstance(value, str) else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict: dates as ISO 8601, bytes as their length (portraits stay local)."""
        return {
            "granted": self.granted,
            "kind": self.kind.value,
            "reason": None if self.reason is None else self.reason.value,
            "detail": self.detail,
            "claims": {k: _json_value(v) for k, v in self.claims.items()},
            "issuer": self.issuer,
            "signer": self.signer,
            "status_index": self.status_index,
            "status_uri": self.status_uri,
            "valid_until": None if self.valid_until is None else self.valid_until.isoformat(),
            "assurance": self.assurance,
        }


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return {"bytes": len(value)}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)


def deny(kind: CredentialKind, reason: DenialReason, detail: str, **known: Any) -> Decision:
    return Decision(granted=False, kind=kind, reason=reason, detail=detail, **known)
