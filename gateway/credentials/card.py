"""The chip ID card (IC 공무원증): a signed card object and challenge–response.

The card carries the same claims as the mobile ID in a card object signed by
a Document Signer, together with the public half of a key that never leaves
the chip. Reading the object proves nothing on its own, since anyone can copy
it onto a blank card. The reader therefore sends a fresh challenge, bound to
its own id and the time, and the card signs it with that key (PKI-CAK in NIST
SP 800-116 terms). A clone holds the object but not the key.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.credentials import cose
from gateway.credentials.cbor import (
    CborError,
    decode,
    encode,
    expect_bytes,
    expect_list,
    expect_map,
    expect_str,
    expect_uint,
    field,
)
from gateway.credentials.csid import CARD_DOCTYPE
from gateway.credentials.mdoc import ValidityInfo

CARD_OBJECT_VERSION = "1.0"
CHALLENGE_LABEL = "CardAuthentication"
NONCE_BYTES = 16


class CardError(ValueError):
    """A card object or challenge does not have the expected shape."""


@dataclass(frozen=True, slots=True)
class CardObject:
    claims: dict[str, Any]
    card_key: Any  # COSE_Key map, loaded only once the issuer signature holds
    validity: ValidityInfo
    status: Any


@dataclass(frozen=True, slots=True)
class Challenge:
    """What the reader asks the card to sign: who asks, when, and a nonce never used before."""

    reader_id: str
    issued_at: int  # seconds since the epoch
    nonce: bytes

    def encode(self) -> bytes:
        return encode([CHALLENGE_LABEL, self.reader_id, self.issued_at, self.nonce])

    @classmethod
    def fresh(cls, reader_id: str, now: dt.datetime) -> Challenge:
        return cls(reader_id, int(now.timestamp()), secrets.token_bytes(NONCE_BYTES))

    @classmethod
    def decode(cls, data: bytes) -> Challenge:
        try:
            body = expect_list(decode(data), "challenge")
            if len(body) != 4 or body[0] != CHALLENGE_LABEL:
                raise CardError("not a CardAuthentication challenge")
            nonce = expect_bytes(body[3], "nonce")
            if len(nonce) < NONCE_BYTES:
                raise CardError("challenge nonce too short")
            return cls(expect_str(body[1], "reader"), expect_uint(body[2], "time"), nonce)
        except CborError as exc:
            raise CardError(str(exc)) from exc


def issue_card_object(
    *,
    claims: Mapping[str, Any],
    card_key: ec.EllipticCurvePublicKey,
    validity: ValidityInfo,
    signer_key: ec.EllipticCurvePrivateKey,
    x5chain: list[bytes],
    status: Mapping[str, Any] | None = None,
) -> bytes:
    """The signed card object that is written to the chip at personalisation."""
    body: dict[str, Any] = {
        "version": CARD_OBJECT_VERSION,
        "docType": CARD_DOCTYPE,
        "claims": dict(claims),
        "cardKey": cose.ec2_key_to_cose(card_key),
        "validityInfo": validity.to_cbor_value(),
    }
    if status is not None:
        body["status"] = dict(status)
    header = x5chain[0] if len(x5chain) == 1 else list(x5chain)
    signed = cose.sign1(signer_key, encode(body), unprotected={cose.HEADER_X5CHAIN: header})
    return signed.encode()


def parse_card_object(issuer_auth: cose.Sign1) -> CardObject:
    """The card object inside its COSE_Sign1. Call only once the signature holds."""
    try:
        if issuer_auth.payload is None:
            raise CardError("card object has no payload")
        body = expect_map(decode(issuer_auth.payload), "card object")
        if body.get("version") != CARD_OBJECT_VERSION or body.get("docType") != CARD_DOCTYPE:
            raise CardError("not a civil-servant card object")
        return CardObject(
            claims=expect_map(field(body, "claims", "card object"), "claims"),
            card_key=field(body, "cardKey", "card object"),
            validity=ValidityInfo.from_cbor_value(field(body, "validityInfo", "card object")),
            status=body.get("status"),
        )
    except (CborError, ValueError) as exc:
        if isinstance(exc, CardError):
            raise
        raise CardError(str(exc)) from exc


def sign_challenge(card_key: ec.EllipticCurvePrivateKey, challenge: bytes) -> bytes:
    """What the chip does on INTERNAL AUTHENTICATE: ECDSA P-256 over the challenge, r||s."""
    return cose.der_to_raw(card_key.sign(challenge, ec.ECDSA(hashes.SHA256())))


def challenge_signature_holds(
    card_key: ec.EllipticCurvePublicKey, challenge: bytes, signature: bytes
) -> bool:
    if len(signature) != 2 * cose.P256_COORDINATE:
        return False
    try:
        card_key.verify(cose.raw_to_der(signature), challenge, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
