"""ISO/IEC 18013-5 mdoc structures: issuing, presenting and reading them.

Nothing here decides anything: it builds and parses the standard's CBOR
structures (§8.3.2.1.2 and §9.1.2–9.1.3) and computes what is signed. The
verdict is the verifier's (``verifier.py``).

Byte strings that were signed are kept exactly as they arrived. Decoding and
re-encoding a signed structure is how signature checks get fooled, so digests
and signatures are always computed over the received bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import random
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.credentials import cose
from gateway.credentials.cbor import (
    ENCODED_CBOR_TAG,
    CborError,
    decode,
    decode_signed,
    encode,
    expect_list,
    expect_map,
    expect_str,
    expect_uint,
    field,
    tag24,
    untag24,
    wrapped_bytes,
)

MSO_VERSION = "1.0"
DIGEST_ALGORITHM = "SHA-256"
SALT_BYTES = 32  # 18013-5 §9.1.2.5: at least 16 bytes of randomness per element
HMAC256 = 5  # COSE algorithm "HMAC 256/256"


class MdocError(ValueError):
    """A structure does not follow ISO/IEC 18013-5."""


@dataclass(frozen=True, slots=True)
class ValidityInfo:
    signed: dt.datetime
    valid_from: dt.datetime
    valid_until: dt.datetime
    expected_update: dt.datetime | None = None

    def to_cbor_value(self) -> dict[str, Any]:
        value = {
            "signed": _tdate(self.signed),
            "validFrom": _tdate(self.valid_from),
            "validUntil": _tdate(self.valid_until),
        }
        if self.expected_update is not None:
            value["expectedUpdate"] = _tdate(self.expected_update)
        return value

    @classmethod
    def from_cbor_value(cls, value: Any) -> ValidityInfo:
        info = expect_map(value, "validityInfo")
        expected = info.get("expectedUpdate")
        return cls(
            signed=_read_tdate(field(info, "signed", "validityInfo"), "signed"),
            valid_from=_read_tdate(field(info, "validFrom", "validityInfo"), "validFrom"),
            valid_until=_read_tdate(field(info, "validUntil", "validityInfo"), "validUntil"),
            expected_update=None if expected is None else _read_tdate(expected, "expectedUpdate"),
        )


def _tdate(moment: dt.datetime) -> dt.datetime:
    """18013-5 tdate: UTC, whole seconds (cbor2 writes tag 0 with a 'Z' suffix)."""
    if moment.tzinfo is None:
        raise ValueError("tdate must be timezone-aware")
    return moment.astimezone(dt.UTC).replace(microsecond=0)


def _read_tdate(value: Any, what: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise MdocError(f"validityInfo.{what}: expected tdate (tag 0) with a time zone")
    return value


# --- Issuing -----------------------------------------------------------------


def issue(
    *,
    doctype: str,
    namespaces: Mapping[str, Mapping[str, Any]],
    device_key: ec.EllipticCurvePublicKey,
    validity: ValidityInfo,
    signer_key: ec.EllipticCurvePrivateKey,
    x5chain: list[bytes],
    status: Mapping[str, Any] | None = None,
) -> bytes:
    """Build an IssuerSigned structure, as the issuer hands it to the wallet.

    ``status`` is the MSO status reference of the 18013-5 second edition,
    e.g. ``{"status_list": {"idx": 7, "uri": "https://..."}}``.
    """
    item_bytes: dict[str, list[Any]] = {}
    digests: dict[str, dict[int, bytes]] = {}
    for namespace, elements in namespaces.items():
        # Random, unrelated digest IDs so their order leaks nothing (§9.1.2.5).
        ids = list(range(len(elements)))
        random.SystemRandom().shuffle(ids)
        item_bytes[namespace] = []
        digests[namespace] = {}
        for digest_id, (identifier, value) in zip(ids, elements.items(), strict=True):
            item = {
                "digestID": digest_id,
                "random": secrets.token_bytes(SALT_BYTES),
                "elementIdentifier": identifier,
                "elementValue": value,
            }
            wrapped = tag24(encode(item))
            item_bytes[namespace].append(wrapped)
            digests[namespace][digest_id] = hashlib.sha256(wrapped_bytes(wrapped.value)).digest()
    mso: dict[str, Any] = {
        "version": MSO_VERSION,
        "digestAlgorithm": DIGEST_ALGORITHM,
        "valueDigests": digests,
        "deviceKeyInfo": {"deviceKey": cose.ec2_key_to_cose(device_key)},
        "docType": doctype,
        "validityInfo": validity.to_cbor_value(),
    }
    if status is not None:
        mso["status"] = dict(status)
    issuer_auth = cose.sign1(
        signer_key,
        encode(tag24(encode(mso))),
        unprotected={cose.HEADER_X5CHAIN: x5chain[0] if len(x5chain) == 1 else list(x5chain)},
    )
    return encode({"nameSpaces": item_bytes, "issuerAuth": issuer_auth.to_cbor_value()})


# --- Presenting (the holder's side) ------------------------------------------


def session_transcript(
    device_engagement: bytes, e_reader_key: ec.EllipticCurvePublicKey, handover: Any
) -> bytes:
    """SessionTranscript (§9.1.5.1), encoded: [DeviceEngagementBytes, EReaderKeyBytes, Handover]."""
    return encode(
        [
            tag24(device_engagement),
            tag24(encode(cose.ec2_key_to_cose(e_reader_key))),
            handover,
        ]
    )


def device_authentication_bytes(
    transcript: bytes, doctype: str, device_namespaces_bytes: bytes
) -> bytes:
    """DeviceAuthenticationBytes (§9.1.3.4), embedding the transcript exactly as received."""
    inner = (
        b"\x84"
        + encode("DeviceAuthentication")
        + transcript
        + encode(doctype)
        + wrapped_bytes(device_namespaces_bytes)
    )
    return wrapped_bytes(inner)


def mac_key(
    device_or_reader_private: ec.EllipticCurvePrivateKey,
    peer_public: ec.EllipticCurvePublicKey,
    transcript: bytes,
) -> bytes:
    """EMacKey for deviceMac (§9.1.3.5): HKDF over ECDH, salted with SessionTranscriptBytes."""
    shared = device_or_reader_private.exchange(ec.ECDH(), peer_public)
    salt = hashlib.sha256(encode(tag24(transcript))).digest()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"EMacKey").derive(shared)


def mac0_tag(key: bytes, protected_bytes: bytes, payload: bytes) -> bytes:
    structure = encode(["MAC0", protected_bytes, b"", payload])
    return hmac.digest(key, structure, "sha256")


def present(
    issuer_signed: bytes,
    device_key: ec.EllipticCurvePrivateKey,
    transcript: bytes,
    *,
    doctype: str,
    requested: Mapping[str, Iterable[str]] | None = None,
    reader_key_for_mac: ec.EllipticCurvePublicKey | None = None,
) -> bytes:
    """A DeviceResponse disclosing only ``requested`` elements (all when None).

    With ``reader_key_for_mac`` the device authenticates with deviceMac
    (§9.1.3.5) instead of a deviceSignature.
    """
    stored = expect_map(decode(issuer_signed), "IssuerSigned")
    disclosed: dict[str, list[Any]] = {}
    for namespace, items in expect_map(stored["nameSpaces"], "nameSpaces").items():
        wanted = None if requested is None else set(requested.get(namespace, ()))
        chosen = [
            item
            for item in items
            if wanted is None or decode(untag24(item, "item"))["elementIdentifier"] in wanted
        ]
        if chosen:
            disclosed[namespace] = chosen
    device_namespaces = encode({})
    to_sign = device_authentication_bytes(transcript, doctype, device_namespaces)
    if reader_key_for_mac is None:
        signature = cose.sign1(device_key, None, detached_payload=to_sign)
        device_auth: dict[str, Any] = {"deviceSignature": signature.to_cbor_value()}
    else:
        protected = encode({1: HMAC256})
        key = mac_key(device_key, reader_key_for_mac, transcript)
        device_auth = {"deviceMac": [protected, {}, None, mac0_tag(key, protected, to_sign)]}
    document = {
        "docType": doctype,
        "issuerSigned": {"nameSpaces": disclosed, "issuerAuth": stored["issuerAuth"]},
        "deviceSigned": {"nameSpaces": tag24(device_namespaces), "deviceAuth": device_auth},
    }
    return encode({"version": "1.0", "documents": [document], "status": 0})


# --- Reading (the verifier's side) --------------------------------------------


@dataclass(slots=True)
class IssuerSignedItem:
    digest_id: int
    identifier: str
    value: Any
    wrapped: bytes  # the #6.24 item as it will be hashed

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.wrapped).digest()


@dataclass(frozen=True, slots=True)
class MobileSecurityObject:
    doctype: str
    # Kept as decoded: only the digests of disclosed elements are ever read,
    # and digest() checks their types on the way out.
    value_digests: dict[Any, Any]
    device_key: Any  # COSE_Key map; loaded only after the issuer signature holds
    validity: ValidityInfo
    status: Any

    def digest(self, namespace: str, digest_id: int) -> bytes | None:
        """The issuer's digest for one element, or None if it signed none."""
        table = self.value_digests.get(namespace)
        if not isinstance(table, dict):
            return None
        value = table.get(digest_id)
        return value if isinstance(value, bytes) else None


@dataclass(slots=True)
class Document:
    doctype: str
    issuer_auth: cose.Sign1
    namespaces: dict[str, list[IssuerSignedItem]]
    device_namespaces_bytes: bytes
    device_signature: cose.Sign1 | None
    device_mac: list[Any] | None


def parse_device_response(data: bytes) -> list[Document]:
    """Parse a DeviceResponse into its documents. Raises MdocError on any deviation."""
    try:
        response = expect_map(decode(data), "DeviceResponse")
        if expect_str(field(response, "version", "DeviceResponse"), "version") != "1.0":
            raise MdocError("unsupported DeviceResponse version")
        if expect_uint(response.get("status", 0), "status") != 0:
            raise MdocError(f"DeviceResponse status {response['status']}")
        documents = expect_list(response.get("documents", []), "documents")
        return [_parse_document(doc) for doc in documents]
    except (CborError, cose.CoseError) as exc:
        raise MdocError(str(exc)) from exc


def _parse_document(value: Any) -> Document:
    doc = expect_map(value, "Document")
    doctype = expect_str(field(doc, "docType", "Document"), "docType")
    issuer_signed = expect_map(field(doc, "issuerSigned", "Document"), "issuerSigned")
    issuer_auth = cose.parse_sign1(field(issuer_signed, "issuerAuth", "issuerSigned"))
    namespaces: dict[str, list[IssuerSignedItem]] = {}
    for namespace, items in expect_map(issuer_signed.get("nameSpaces", {}), "nameSpaces").items():
        name = expect_str(namespace, "namespace")
        namespaces[name] = [_parse_item(item) for item in expect_list(items, name)]
    device_signed = expect_map(field(doc, "deviceSigned", "Document"), "deviceSigned")
    device_ns = untag24(field(device_signed, "nameSpaces", "deviceSigned"), "DeviceNameSpacesBytes")
    expect_map(decode_signed(device_ns), "DeviceNameSpaces")
    device_auth = expect_map(field(device_signed, "deviceAuth", "deviceSigned"), "deviceAuth")
    signature = device_auth.get("deviceSignature")
    mac = device_auth.get("deviceMac")
    if (signature is None) == (mac is None):
        raise MdocError("deviceAuth must hold exactly one of deviceSignature and deviceMac")
    device_signature = None if signature is None else cose.parse_sign1(signature)
    if device_signature is not None and device_signature.payload is not None:
        # §9.1.3.4: the payload is detached (nil); DeviceAuthenticationBytes is rebuilt here.
        raise MdocError("deviceSignature payload must be detached (nil)")
    return Document(
        doctype=doctype,
        issuer_auth=issuer_auth,
        namespaces=namespaces,
        device_namespaces_bytes=device_ns,
        device_signature=device_signature,
        device_mac=None if mac is None else _parse_mac0(mac),
    )


def _parse_item(wrapped: Any) -> IssuerSignedItem:
    # Written out rather than through the expect_* helpers: this runs for every
    # disclosed element of every tap.
    if (
        not isinstance(wrapped, cbor2.CBORTag)
        or wrapped.tag != ENCODED_CBOR_TAG
        or not isinstance(wrapped.value, bytes)
    ):
        raise MdocError("IssuerSignedItemBytes: expected #6.24(bstr)")
    inner = wrapped.value
    item = decode_signed(inner)
    if not isinstance(item, dict):
        raise MdocError("IssuerSignedItem: expected a map")
    digest_id = item.get("digestID")
    identifier = item.get("elementIdentifier")
    if (
        type(digest_id) is not int
        or digest_id < 0
        or not isinstance(identifier, str)
        or not isinstance(item.get("random"), bytes)
        or "elementValue" not in item
    ):
        raise MdocError(
            "IssuerSignedItem needs digestID (uint), random (bstr), "
            "elementIdentifier (tstr) and elementValue"
        )
    return IssuerSignedItem(digest_id, identifier, item["elementValue"], wrapped_bytes(inner))


def _parse_mac0(value: Any) -> list[Any]:
    body = expect_list(value, "deviceMac")
    if len(body) != 4 or not isinstance(body[0], bytes) or not isinstance(body[3], bytes):
        raise MdocError("deviceMac is not a COSE_Mac0")
    if body[2] is not None:
        raise MdocError("deviceMac payload must be detached")
    return body


def parse_mso(issuer_auth: cose.Sign1) -> MobileSecurityObject:
    """The MobileSecurityObject inside IssuerAuth. Call only once its signature holds."""
    try:
        payload = issuer_auth.payload
        if payload is None:
            raise MdocError("IssuerAuth has no payload")
        mso_bytes = untag24(decode_signed(payload), "MobileSecurityObjectBytes")
        mso = expect_map(decode_signed(mso_bytes), "MSO")
        if mso.get("digestAlgorithm") != DIGEST_ALGORITHM:
            raise MdocError(f"digestAlgorithm {mso.get('digestAlgorithm')!r} is not SHA-256")
        digests = expect_map(field(mso, "valueDigests", "MSO"), "valueDigests")
        key_info = expect_map(field(mso, "deviceKeyInfo", "MSO"), "deviceKeyInfo")
        return MobileSecurityObject(
            doctype=expect_str(field(mso, "docType", "MSO"), "docType"),
            value_digests=digests,
            device_key=field(key_info, "deviceKey", "deviceKeyInfo"),
            validity=ValidityInfo.from_cbor_value(field(mso, "validityInfo", "MSO")),
            status=mso.get("status"),
        )
    except CborError as exc:
        raise MdocError(str(exc)) from exc
