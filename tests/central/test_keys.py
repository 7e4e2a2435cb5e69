"""Device and card keys arrive as PEM, DER, JWK or COSE_Key; all mean the same key."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.central.authority.keys import (
    KeyFormatError,
    key_fingerprint,
    load_public_key,
    public_key_pem,
)
from gateway.credentials import cose
from gateway.credentials.cbor import encode


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_every_encoding_loads_the_same_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    numbers = key.public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")),
    }
    encodings = [
        public_key_pem(key),
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        json.dumps(jwk).encode(),
        encode(cose.ec2_key_to_cose(key)),
    ]
    fingerprints = {key_fingerprint(load_public_key(data)) for data in encodings}
    assert fingerprints == {key_fingerprint(key)}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"kty": "EC", "crv": "P-384", "x": "", "y": ""}', "P-256"),
        (b'{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"}', "private key"),
        (b'{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}', "32 bytes"),
        (b"\x01\x02\x03", "not a PEM, DER, JWK or COSE_Key"),
    ],
)
def test_bad_keys_say_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(KeyFormatError, match=message):
        load_public_key(data)


def test_other_curves_are_refused_even_as_key_objects() -> None:
    with pytest.raises(KeyFormatError, match="P-256"):
        load_public_key(ec.generate_private_key(ec.SECP384R1()).public_key())


def test_a_jwk_off_the_curve_is_named_as_a_jwk() -> None:
    off_curve = {"kty": "EC", "crv": "P-256", "x": _b64url(b"\1" * 32), "y": _b64url(b"\2" * 32)}
    with pytest.raises(KeyFormatError, match=r"^JWK is not a point on P-256: (?!None)"):
        load_public_key(json.dumps(off_curve).encode())
