"""Signed JSON messages from the centre: a COSE_Sign1 (ES256) over a JSON payload.

The posture, the trust anchors, status-list deltas and operator commands all
travel this way (the policy document too, through :mod:`gateway.node.policy.signed`).
The protected header carries the content type, which names the *kind* of
message, so a signature over a posture can never be replayed as a command,
and the signer's key id. The payload is validated by the message's pydantic
model only after the signature verifies.

Every failure is a :class:`SignedMessageError` whose ``reason`` is one of the
stable words the node logs in its security events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ValidationError

from gateway.credentials import cose
from gateway.credentials.cbor import CborError, decode

MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # a policy of 10,000 grants is about 2 MB

CT_POSTURE = "application/vnd.gateway.posture+json"
CT_TRUST_ANCHORS = "application/vnd.gateway.trust-anchors+json"
CT_STATUS_DELTA = "application/vnd.gateway.status-delta+json"
CT_COMMAND = "application/vnd.gateway.command+json"

Reason = Literal["malformed", "wrong_type", "unknown_signer", "bad_signature", "invalid"]
M = TypeVar("M", bound=BaseModel)
KeyLookup = (
    Mapping[bytes, ec.EllipticCurvePublicKey] | Callable[[bytes], ec.EllipticCurvePublicKey | None]
)


class SignedMessageError(ValueError):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail


def sign_message(
    message: BaseModel | bytes, key: ec.EllipticCurvePrivateKey, *, kid: bytes, content_type: str
) -> bytes:
    """The tagged COSE_Sign1 bytes of ``message`` (a model, or JSON bytes as they are)."""
    payload = message if isinstance(message, bytes) else message.model_dump_json().encode("utf-8")
    protected = {cose.HEADER_CONTENT_TYPE: content_type, cose.HEADER_KID: kid}
    return cose.sign1(key, payload, protected=protected).encode(tagged=True)


def _key(keys: KeyLookup, kid: bytes) -> ec.EllipticCurvePublicKey | None:
    return keys.get(kid) if isinstance(keys, Mapping) else keys(kid)


def open_message(
    data: bytes, keys: KeyLookup, *, content_type: str, model: type[M]
) -> tuple[M, bytes]:
    """Verify ``data`` and validate its payload; return the message and the signer's kid."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SignedMessageError("malformed", f"{len(data)} bytes is over {MAX_MESSAGE_BYTES}")
    try:
        envelope = cose.parse_sign1(decode(data))
    except (CborError, cose.CoseError) as exc:
        raise SignedMessageError("malformed", f"not a COSE_Sign1: {exc}") from exc
    got_type = envelope.protected.get(cose.HEADER_CONTENT_TYPE)
    if got_type != content_type:
        raise SignedMessageError(
            "wrong_type", f"content type {got_type!r}, expected {content_type!r}"
        )
    kid = envelope.protected.get(cose.HEADER_KID)
    if not isinstance(kid, bytes) or not kid:
        raise SignedMessageError("unknown_signer", "no key id in the protected header")
    key = _key(keys, kid)
    if key is None:
        raise SignedMessageError("unknown_signer", f"no trusted key {kid!r}")
    if envelope.payload is None or not cose.verify_es256(envelope, key):
        raise SignedMessageError("bad_signature", f"signature does not verify with key {kid!r}")
    try:
        return model.model_validate_json(envelope.payload), kid
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(message)"
        raise SignedMessageError("invalid", f"{where}: {first['msg']}") from exc
