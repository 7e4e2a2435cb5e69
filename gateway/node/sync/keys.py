"""Key ids and list ids: how a synced message names its signer and its status list."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.credentials import cose
from gateway.credentials.cbor import CborError, decode
from gateway.credentials.status_list import CLAIM_SUB
from gateway.mqtt.topics import check_level

KID_BYTES = 8


def key_id(key: ec.EllipticCurvePublicKey) -> bytes:
    """The COSE ``kid`` of a signer: the first 8 bytes of SHA-256 over its SubjectPublicKeyInfo.

    Derived from the key alone, so the node computes it from what it already
    trusts (the policy signer's certificate, the status-list signer's key) and
    needs no table of names; it only picks the key, the signature decides.
    """
    spki = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest()[:KID_BYTES]


def list_id_for(uri: str) -> str:
    """The topic's ``{list}`` level for a status list URI: its last path segment.

    ``https://csid.mpm.go.kr/status/3f2a…`` → ``3f2a…``. Raises ValueError when
    that segment cannot be a topic level.
    """
    segment = urlsplit(uri).path.rstrip("/").rsplit("/", 1)[-1]
    return check_level("list", segment)


def token_uri(raw: bytes) -> str | None:
    """The list a token claims, before verification (to check it against the topic)."""
    try:
        claims = decode(cose.parse_sign1(decode(raw)).payload or b"")
    except (CborError, cose.CoseError, ValueError, TypeError):
        return None
    sub = claims.get(CLAIM_SUB) if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) else None
