"""Device and card public keys as wallets and card personalisation hand them over.

A phone's wallet proves possession of its device key at every tap, and a chip
of its card key; the authority only binds the public half into what it signs.
Accepted encodings: PEM (SubjectPublicKeyInfo), DER, a JWK (RFC 7517, ``kty``
EC, ``crv`` P-256) and a COSE_Key (RFC 9052). Only P-256, the one curve
18013-5 readers must support and the one our verifier loads.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.credentials import cose
from gateway.credentials.cbor import CborError, decode


class KeyFormatError(ValueError):
    """The bytes are not a P-256 public key in an encoding we accept."""


def load_public_key(data: bytes | ec.EllipticCurvePublicKey) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from PEM, DER, JWK or COSE_Key bytes (or a key object, checked)."""
    if isinstance(data, ec.EllipticCurvePublicKey):
        return _p256(data)
    stripped = data.strip()
    if stripped.startswith(b"-----BEGIN"):
        if b"PRIVATE KEY" in stripped.split(b"\n", 1)[0]:
            raise KeyFormatError("this is a private key; give the public key only")
        try:
            key: Any = serialization.load_pem_public_key(stripped)
        except ValueError as exc:
            raise KeyFormatError("the PEM does not hold a readable public key") from exc
    elif stripped.startswith(b"{"):
        key = _from_jwk(stripped)
    else:
        try:
            key = serialization.load_der_public_key(data)
        except ValueError:
            key = _from_cose(data)
    return _p256(key)


def _p256(key: Any) -> ec.EllipticCurvePublicKey:
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyFormatError("the key must be EC P-256 (secp256r1)")
    return key


def _from_jwk(data: bytes) -> ec.EllipticCurvePublicKey:
    try:
        jwk = json.loads(data)
        if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
            raise KeyFormatError('JWK must have "kty": "EC" and "crv": "P-256"')
        if "d" in jwk:
            raise KeyFormatError("this JWK holds a private key; give the public key only")
        x, y = _b64url(jwk["x"]), _b64url(jwk["y"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        if isinstance(exc, KeyFormatError):
            raise
        raise KeyFormatError(f"not a P-256 JWK: {exc}") from exc
    if len(x) != cose.P256_COORDINATE or len(y) != cose.P256_COORDINATE:
        raise KeyFormatError("JWK x and y must be 32 bytes each")
    # A JWK's x and y are a COSE_Key's -2 and -3: one loader checks the point for both.
    # With the lengths checked above (in the JWK's words), only the curve check can fail.
    try:
        return cose.cose_to_ec2_key({1: cose.KTY_EC2, -1: cose.CRV_P256, -2: x, -3: y})
    except cose.CoseError as exc:
        raise KeyFormatError(f"JWK is not a point on P-256: {exc.__cause__}") from exc


def _from_cose(data: bytes) -> ec.EllipticCurvePublicKey:
    try:
        return cose.cose_to_ec2_key(decode(data))
    except (CborError, cose.CoseError) as exc:
        raise KeyFormatError(f"not a PEM, DER, JWK or COSE_Key public key ({exc})") from exc


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_fingerprint(key: ec.EllipticCurvePublicKey) -> str:
    """SHA-256 of the SubjectPublicKeyInfo, hex: one key, one fingerprint, any encoding."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()
