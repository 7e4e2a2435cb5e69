"""The signed envelope: a COSE_Sign1 (ES256) whose payload is the policy document as JSON.

Why JSON inside COSE rather than CBOR all the way: the payload is what
installers, the centre's tooling and ``gateway check`` read and diff, and
pydantic validates JSON directly with key paths in its errors; the document is
loaded once, not per tap, so CBOR's compactness buys nothing. The envelope is
the same COSE_Sign1/ES256 code the credential core already verifies issuers
with (``gateway.credentials.cose``), with content type ``application/json``
in the protected header, so the signature covers the type too.

Versions only move forward: a document older than the installed one is a
rollback and refused; the same version is accepted only with the same bytes
(a restart reloading its own file), never with different content.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from gateway.credentials import cose
from gateway.credentials.cbor import CborError, decode
from gateway.node.policy.document import PolicyDocument

CONTENT_TYPE = "application/json"


class PolicyError(ValueError):
    """The policy document is unsigned, badly signed, older than installed, or invalid."""


@dataclass(frozen=True, slots=True)
class InstalledPolicy:
    """What the node has running: enough to refuse a rollback or a same-version swap."""

    version: int
    digest: bytes  # SHA-256 of the JSON payload


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    document: PolicyDocument
    installed: InstalledPolicy


def parse_document(payload: bytes) -> PolicyDocument:
    """Validate JSON bytes as a policy document (no signature: for ``gateway check``)."""
    try:
        return PolicyDocument.model_validate_json(payload)
    except ValidationError as exc:
        raise PolicyError(f"policy document is invalid:\n{_explain(exc)}") from exc


def sign_document(payload: bytes, key: ec.EllipticCurvePrivateKey, *, kid: bytes = b"") -> bytes:
    """The signed file: a tagged COSE_Sign1 over the JSON ``payload``."""
    protected: dict[int, object] = {cose.HEADER_CONTENT_TYPE: CONTENT_TYPE}
    if kid:
        protected[cose.HEADER_KID] = kid
    return cose.sign1(key, payload, protected=protected).encode(tagged=True)


def load_signed(
    data: bytes,
    key: ec.EllipticCurvePublicKey,
    installed: InstalledPolicy | None = None,
) -> LoadedPolicy:
    """Verify, version-check and validate a signed policy document."""
    try:
        message = cose.parse_sign1(decode(data))
    except (CborError, cose.CoseError) as exc:
        raise PolicyError(f"not a signed policy document (COSE_Sign1): {exc}") from exc
    if message.header(cose.HEADER_CONTENT_TYPE) != CONTENT_TYPE:
        raise PolicyError(f"policy content type must be {CONTENT_TYPE!r}")
    if message.payload is None or not cose.verify_es256(message, key):
        raise PolicyError("policy signature does not verify with the site policy key")
    payload = message.payload
    document = parse_document(payload)
    digest = hashlib.sha256(payload).digest()
    if installed is not None:
        if document.version < installed.version:
            raise PolicyError(
                f"policy version {document.version} is older than the installed "
                f"{installed.version}: refusing a rollback"
            )
        if document.version == installed.version and digest != installed.digest:
            raise PolicyError(
                f"policy version {document.version} is installed with other content; "
                "a changed document needs a higher version"
            )
    return LoadedPolicy(document, InstalledPolicy(document.version, digest))


def load_signed_file(
    path: Path, key: ec.EllipticCurvePublicKey, installed: InstalledPolicy | None = None
) -> LoadedPolicy:
    try:
        return load_signed(path.read_bytes(), key, installed)
    except PolicyError as exc:
        raise PolicyError(f"{path}: {exc}") from exc


def _explain(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(document)"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)
