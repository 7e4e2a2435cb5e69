"""COSE_Sign1 (RFC 9052) and COSE_Key (RFC 9053) for ES256, on cbor2 + cryptography.

pycose would be the obvious library, but it cannot decode with cbor2 >= 6 and
its ES256 goes through pure-Python ecdsa at about 2 ms a verification, 25x
slower than cryptography's OpenSSL path (see docs/credentials.md). The
subset the gate needs is small, so it lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from gateway.credentials.cbor import (
    CborError,
    bstr_head,
    decode_signed,
    encode,
    expect_bytes,
    expect_list,
    expect_map,
)

COSE_SIGN1_TAG = 18
HEADER_ALG = 1
HEADER_CONTENT_TYPE = 3
HEADER_KID = 4
HEADER_TYP = 16  # RFC 9596
HEADER_X5CHAIN = 33  # RFC 9360
ALG_ES256 = -7

KTY_EC2 = 2
CRV_P256 = 1
P256_COORDINATE = 32

_SHA256 = ec.ECDSA(hashes.SHA256())


class CoseError(ValueError):
    """A COSE structure is malformed or uses something we do not accept."""


@dataclass(frozen=True, slots=True)
class Sign1:
    """A decoded COSE_Sign1. ``protected_bytes`` is kept verbatim: it is what was signed."""

    protected_bytes: bytes
    protected: dict[Any, Any]
    unprotected: dict[Any, Any]
    payload: bytes | None
    signature: bytes

    @property
    def alg(self) -> Any:
        return self.protected.get(HEADER_ALG)

    def header(self, label: int) -> Any:
        """A header parameter, protected first as RFC 9052 §3 recommends."""
        if label in self.protected:
            return self.protected[label]
        return self.unprotected.get(label)

    def x5chain(self) -> list[bytes]:
        """The certificate chain, leaf first (RFC 9360: bstr for one, array for more)."""
        value = self.header(HEADER_X5CHAIN)
        if isinstance(value, bytes):
            return [value]
        # cbor2 >= 6 decodes arrays inside a tag as tuples.
        if isinstance(value, list | tuple) and value and all(isinstance(c, bytes) for c in value):
            return list(value)
        raise CoseError("x5chain header missing or not bstr / [+ bstr]")

    def to_cbor_value(self, *, tagged: bool = False) -> Any:
        body = [self.protected_bytes, self.unprotected, self.payload, self.signature]
        return cbor2.CBORTag(COSE_SIGN1_TAG, body) if tagged else body

    def encode(self, *, tagged: bool = False) -> bytes:
        return encode(self.to_cbor_value(tagged=tagged))


_SIGNATURE1_HEAD = b"\x84" + encode("Signature1")


def sig_structure(protected_bytes: bytes, payload: bytes, external_aad: bytes = b"") -> bytes:
    """The bytes an ES256 signature covers (RFC 9052 §4.4).

    Concatenated by hand: it equals ``encode(["Signature1", protected, aad,
    payload])`` (a test holds it to that) without an encoder pass over the
    payload on every tap.
    """
    return b"".join(
        (
            _SIGNATURE1_HEAD,
            bstr_head(len(protected_bytes)),
            protected_bytes,
            bstr_head(len(external_aad)),
            external_aad,
            bstr_head(len(payload)),
            payload,
        )
    )


def parse_sign1(value: Any) -> Sign1:
    """Read a COSE_Sign1 from its decoded CBOR value (tagged or untagged)."""
    if isinstance(value, cbor2.CBORTag):
        if value.tag != COSE_SIGN1_TAG:
            raise CoseError(f"tag {value.tag} is not COSE_Sign1")
        value = value.value
    try:
        body = expect_list(value, "COSE_Sign1")
        if len(body) != 4:
            raise CoseError("COSE_Sign1 must have four elements")
        protected_bytes = expect_bytes(body[0], "COSE_Sign1 protected")
        # The protected header is covered by the signature, tail and all.
        protected = {}
        if protected_bytes:
            protected = expect_map(decode_signed(protected_bytes), "protected header")
        unprotected = expect_map(body[1], "unprotected header")
        payload = body[2]
        if payload is not None and not isinstance(payload, bytes):
            raise CoseError("COSE_Sign1 payload must be bstr or nil")
        signature = expect_bytes(body[3], "COSE_Sign1 signature")
    except CborError as exc:
        raise CoseError(str(exc)) from exc
    if set(protected) & set(unprotected):
        raise CoseError("a header label appears both protected and unprotected")
    return Sign1(protected_bytes, protected, unprotected, payload, signature)


def sign1(
    key: ec.EllipticCurvePrivateKey,
    payload: bytes | None,
    *,
    protected: dict[Any, Any] | None = None,
    unprotected: dict[Any, Any] | None = None,
    detached_payload: bytes | None = None,
) -> Sign1:
    """Sign with ES256. Pass ``payload=None`` and ``detached_payload`` for a detached signature."""
    headers = {HEADER_ALG: ALG_ES256, **(protected or {})}
    protected_bytes = encode(headers)
    signed = payload if payload is not None else detached_payload
    if signed is None:
        raise ValueError("nothing to sign")
    der = key.sign(sig_structure(protected_bytes, signed), _SHA256)
    return Sign1(protected_bytes, headers, dict(unprotected or {}), payload, der_to_raw(der))


def verify_es256(
    message: Sign1,
    key: ec.EllipticCurvePublicKey,
    *,
    detached_payload: bytes | None = None,
) -> bool:
    """True if ``message`` carries a valid ES256 signature by ``key``."""
    if message.alg != ALG_ES256 or len(message.signature) != 2 * P256_COORDINATE:
        return False
    payload = message.payload if detached_payload is None else detached_payload
    if payload is None:
        return False
    try:
        key.verify(
            raw_to_der(message.signature),
            sig_structure(message.protected_bytes, payload),
            _SHA256,
        )
    except InvalidSignature:
        return False
    return True


def raw_to_der(raw: bytes) -> bytes:
    """COSE carries r||s; OpenSSL wants DER."""
    half = len(raw) // 2
    return encode_dss_signature(
        int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
    )


def der_to_raw(der: bytes) -> bytes:
    r, s = decode_dss_signature(der)
    return r.to_bytes(P256_COORDINATE, "big") + s.to_bytes(P256_COORDINATE, "big")


def ec2_key_to_cose(key: ec.EllipticCurvePublicKey) -> dict[int, Any]:
    """A P-256 public key as a COSE_Key map."""
    numbers = key.public_numbers()
    return {
        1: KTY_EC2,
        -1: CRV_P256,
        -2: numbers.x.to_bytes(P256_COORDINATE, "big"),
        -3: numbers.y.to_bytes(P256_COORDINATE, "big"),
    }


def cose_to_ec2_key(value: Any) -> ec.EllipticCurvePublicKey:
    """Load a P-256 COSE_Key; refuses other curves, compressed points and points off the curve."""
    if not isinstance(value, dict):
        raise CoseError("COSE_Key must be a map")
    if value.get(1) != KTY_EC2 or value.get(-1) != CRV_P256:
        raise CoseError("only EC2 keys on P-256 are accepted")
    x, y = value.get(-2), value.get(-3)
    if not (isinstance(x, bytes) and isinstance(y, bytes)):
        raise CoseError("COSE_Key x and y must be byte strings")
    if len(x) != P256_COORDINATE or len(y) != P256_COORDINATE:
        raise CoseError("COSE_Key coordinates must be 32 bytes")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
    except ValueError as exc:
        raise CoseError(f"COSE_Key is not a point on P-256: {exc}") from exc
