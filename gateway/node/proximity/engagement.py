"""ISO/IEC 18013-5 device engagement (§8.2.1.1) as a reader receives it, and as a wallet builds it.

Engagement reaches the gate two ways. An NFC tap reads a Handover Select
message (static handover, §8.2.2.1) that carries the DeviceEngagement: see
:mod:`gateway.node.proximity.handover`. A camera reads a QR code
``mdoc:<base64url DeviceEngagement>``, parsed here. Either way the reader
keeps the DeviceEngagement bytes exactly as received: they go into the
SessionTranscript verbatim.

Every parser here raises :class:`ReadFailure` (``protocol_error``) and nothing
else on hostile input.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.credentials import cose
from gateway.credentials.cbor import (
    CborError,
    decode,
    encode,
    expect_list,
    expect_map,
    expect_str,
    expect_uint,
    field,
    tag24,
    untag24,
)
from gateway.node.readers.failure import ReadFailure, ReadFailureReason

CIPHER_SUITE_1 = 1  # ECDH P-256 / HKDF-SHA256 / AES-256-GCM, the only suite of §9.1.5
NFC_METHOD, BLE_METHOD = 1, 2  # DeviceRetrievalMethod types (§8.2.1.1)
RETRIEVAL_VERSION = 1
MAX_ENGAGEMENT = 4096  # a real one is ~100 bytes; a QR code holds less

QR_SCHEME = "mdoc:"


def _fail(detail: str) -> ReadFailure:
    return ReadFailure(ReadFailureReason.PROTOCOL_ERROR, detail)


@dataclass(frozen=True, slots=True)
class NfcOptions:
    """NFC data retrieval: the longest command and response data fields the mdoc takes."""

    max_command: int
    max_response: int


@dataclass(frozen=True, slots=True)
class BleOptions:
    """BLE data retrieval. The gate uses mdoc peripheral server mode (the phone is the server)."""

    peripheral_server: bool
    central_client: bool
    peripheral_uuid: UUID | None
    central_uuid: UUID | None = None
    address: bytes | None = None  # the peripheral's BD_ADDR, 6 bytes, if it told us


@dataclass(frozen=True, slots=True)
class DeviceEngagement:
    raw: bytes  # exactly as received: DeviceEngagementBytes wraps these
    e_device_key: ec.EllipticCurvePublicKey
    nfc: NfcOptions | None
    ble: BleOptions | None
    version: str = "1.0"


# --- DeviceEngagement -------------------------------------------------------------


def parse_device_engagement(raw: bytes) -> DeviceEngagement:
    """Parse DeviceEngagement; the EDeviceKey must be a P-256 COSE_Key under cipher suite 1."""
    if not isinstance(raw, bytes) or len(raw) > MAX_ENGAGEMENT:
        raise _fail("DeviceEngagement missing or too long")
    try:
        engagement = expect_map(decode(raw), "DeviceEngagement")
        version = expect_str(field(engagement, 0, "DeviceEngagement"), "version")
        if not version.startswith("1."):
            raise _fail(f"DeviceEngagement version {version!r} is not 1.x")
        security = expect_list(field(engagement, 1, "DeviceEngagement"), "Security")
        if len(security) != 2 or security[0] != CIPHER_SUITE_1 or security[0] is True:
            raise _fail("Security must be [1, EDeviceKeyBytes] (cipher suite 1)")
        key = cose.cose_to_ec2_key(decode(untag24(security[1], "EDeviceKeyBytes")))
        nfc: NfcOptions | None = None
        ble: BleOptions | None = None
        for method in expect_list(engagement.get(2, []), "DeviceRetrievalMethods"):
            kind, options = _retrieval_method(method)
            if kind == NFC_METHOD and nfc is None:
                nfc = _nfc_options(options)
            elif kind == BLE_METHOD and ble is None:
                ble = _ble_options(options)
        return DeviceEngagement(raw, key, nfc, ble, version)
    except (CborError, cose.CoseError) as exc:
        raise _fail(f"DeviceEngagement: {exc}") from exc


def _retrieval_method(value: Any) -> tuple[int, dict[Any, Any]]:
    method = expect_list(value, "DeviceRetrievalMethod")
    if len(method) != 3:
        raise _fail("DeviceRetrievalMethod must be [type, version, options]")
    kind = expect_uint(method[0], "type")
    expect_uint(method[1], "version")
    return kind, expect_map(method[2], "RetrievalOptions")


def _nfc_options(options: dict[Any, Any]) -> NfcOptions:
    return NfcOptions(
        max_command=expect_uint(field(options, 0, "NfcOptions"), "max command length"),
        max_response=expect_uint(field(options, 1, "NfcOptions"), "max response length"),
    )


def _ble_options(options: dict[Any, Any]) -> BleOptions:
    peripheral, central = options.get(0), options.get(1)
    if not isinstance(peripheral, bool) or not isinstance(central, bool):
        raise _fail("BleOptions needs booleans 0 (peripheral server) and 1 (central client)")
    address = options.get(20)
    if address is not None and (not isinstance(address, bytes) or len(address) != 6):
        raise _fail("BleOptions address must be 6 bytes")
    return BleOptions(peripheral, central, _uuid(options.get(10)), _uuid(options.get(11)), address)


def _uuid(value: Any) -> UUID | None:
    if value is None:
        return None
    if not isinstance(value, bytes) or len(value) != 16:
        raise _fail("a BLE service UUID must be 16 bytes")
    return UUID(bytes=value)


def build_device_engagement(
    e_device_key: ec.EllipticCurvePublicKey,
    *,
    nfc: NfcOptions | None = None,
    ble: BleOptions | None = None,
) -> bytes:
    """DeviceEngagement bytes, as a wallet shows them (used by the simulator and tests)."""
    engagement: dict[int, Any] = {
        0: "1.0",
        1: [CIPHER_SUITE_1, tag24(encode(cose.ec2_key_to_cose(e_device_key)))],
    }
    methods: list[Any] = []
    if nfc is not None:
        methods.append([NFC_METHOD, RETRIEVAL_VERSION, {0: nfc.max_command, 1: nfc.max_response}])
    if ble is not None:
        options: dict[int, Any] = {0: ble.peripheral_server, 1: ble.central_client}
        if ble.peripheral_uuid is not None:
            options[10] = ble.peripheral_uuid.bytes
        if ble.central_uuid is not None:
            options[11] = ble.central_uuid.bytes
        if ble.address is not None:
            options[20] = ble.address
        methods.append([BLE_METHOD, RETRIEVAL_VERSION, options])
    if methods:
        engagement[2] = methods
    return encode(engagement)


# --- QR code ----------------------------------------------------------------------


def qr_uri(engagement: bytes) -> str:
    """The QR code text for a DeviceEngagement (§8.2.2.3): ``mdoc:`` + base64url, no padding."""
    return QR_SCHEME + base64.urlsafe_b64encode(engagement).decode("ascii").rstrip("=")


def parse_qr(uri: str) -> tuple[DeviceEngagement, Any]:
    """Engagement from a scanned QR code. The Handover of a QR engagement is null."""
    if not isinstance(uri, str) or len(uri) > 2 * MAX_ENGAGEMENT:
        raise _fail("QR engagement missing or too long")
    if uri[: len(QR_SCHEME)].lower() != QR_SCHEME:
        raise _fail("QR code is not an mdoc: URI")
    text = uri[len(QR_SCHEME) :]
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _fail(f"QR engagement is not base64url: {exc}") from exc
    return parse_device_engagement(raw), None
