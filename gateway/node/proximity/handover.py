"""NFC static handover (ISO/IEC 18013-5 §8.2.2.1): the engagement an NFC tap reads.

The phone's NDEF file holds a Handover Select message: an ``Hs`` record whose
alternative carriers point at carrier configuration records
(``iso.org:18013:nfc``, BLE OOB) and at the ``iso.org:18013:deviceengagement``
record ``mdoc``. The reader keeps the whole message exactly as received: it
goes into the SessionTranscript's Handover verbatim.

Every parser here raises :class:`ReadFailure` (``protocol_error``) and nothing
else on hostile input.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

import ndef

from gateway.node.proximity.engagement import (
    BleOptions,
    DeviceEngagement,
    NfcOptions,
    parse_device_engagement,
)
from gateway.node.readers.failure import ReadFailure, ReadFailureReason

MAX_NDEF = 0xFFFE  # the largest NDEF file a Type 4 tag can describe

DEVICE_ENGAGEMENT_TYPE = "urn:nfc:ext:iso.org:18013:deviceengagement"
DEVICE_ENGAGEMENT_ID = "mdoc"
NFC_CARRIER_TYPE = "urn:nfc:ext:iso.org:18013:nfc"
BLE_CARRIER_TYPE = "application/vnd.bluetooth.le.oob"
HANDOVER_SELECT_TYPE = "urn:nfc:wkt:Hs"
ALTERNATIVE_CARRIER_TYPE = "urn:nfc:wkt:ac"

# Bluetooth AD types (Core Specification Supplement, part A) used in the BLE OOB record.
_AD_UUID128_COMPLETE, _AD_LE_ADDRESS, _AD_LE_ROLE = 0x07, 0x1B, 0x1C
# LE role as an mdoc writes it: the role it wants the *reader* to take (multipaz does the same).
_ROLE_READER_CENTRAL, _ROLE_READER_PERIPHERAL = 0x00, 0x01
_NFC_MAX_COMMAND, _NFC_MAX_RESPONSE = 0x01, 0x02


def _fail(detail: str) -> ReadFailure:
    return ReadFailure(ReadFailureReason.PROTOCOL_ERROR, detail)


def _records(message: bytes, what: str) -> list[ndef.Record]:
    # known_types={} keeps every record generic: payloads are read below, by us, strictly.
    try:
        return list(ndef.message_decoder(message, errors="strict", known_types={}))
    except (ndef.DecodeError, ValueError, TypeError, EOFError) as exc:
        raise _fail(f"{what}: not an NDEF message: {exc}") from exc


def _alternative_carrier(payload: bytes) -> tuple[str, list[str]]:
    """(carrier data reference, auxiliary data references) of an ``ac`` record."""
    try:
        size = payload[1]
        end = 2 + size
        reference = payload[2:end].decode("latin-1")
        count, position, auxiliary = payload[end], end + 1, []
        for _ in range(count):
            length = payload[position]
            auxiliary.append(payload[position + 1 : position + 1 + length].decode("latin-1"))
            position += 1 + length
    except IndexError:
        raise _fail("alternative carrier record is truncated") from None
    if len(payload[2:end]) != size or position > len(payload):
        raise _fail("alternative carrier record is truncated")
    return reference, auxiliary


def _fields(payload: bytes, what: str) -> list[tuple[int, bytes]]:
    """Length-type-value structures, as both carrier records use: [(type, value)]."""
    fields, position = [], 0
    while position < len(payload):
        length = payload[position]
        body = payload[position + 1 : position + 1 + length]
        if length == 0 or len(body) != length:
            raise _fail(f"{what} has a truncated field")
        fields.append((body[0], body[1:]))
        position += 1 + length
    return fields


def _nfc_carrier(payload: bytes) -> NfcOptions:
    """The ``iso.org:18013:nfc`` record (§8.2.2.2): version 1, then the two maximum lengths."""
    if payload[:1] != b"\x01":
        raise _fail("NFC carrier record version is not 1")
    values = dict(_fields(payload[1:], "NFC carrier record"))
    command, response = values.get(_NFC_MAX_COMMAND), values.get(_NFC_MAX_RESPONSE)
    if not command or not response or len(command) > 3 or len(response) > 3:
        raise _fail("NFC carrier record lacks a maximum command or response length")
    return NfcOptions(int.from_bytes(command, "big"), int.from_bytes(response, "big"))


def _ble_carrier(payload: bytes) -> BleOptions:
    """A BLE OOB record: Bluetooth AD structures. Multi-byte AD values are little-endian."""
    role: int | None = None
    uuid: UUID | None = None
    address: bytes | None = None
    for kind, data in _fields(payload, "BLE OOB record"):
        if kind == _AD_LE_ROLE and len(data) == 1:
            role = data[0]
        elif kind == _AD_UUID128_COMPLETE:
            if not data or len(data) % 16:
                raise _fail("BLE OOB service UUID list is not a multiple of 16 bytes")
            uuid = UUID(bytes=bytes(reversed(data[:16])))
        elif kind == _AD_LE_ADDRESS and len(data) in (6, 7):  # 7: with the address type
            address = bytes(reversed(data[:6]))
    if role is None or role > 0x03:
        raise _fail("BLE OOB record lacks a valid LE role")
    # The mdoc names the role it wants the reader in: reader central = mdoc peripheral server.
    peripheral, central = role != _ROLE_READER_PERIPHERAL, role != _ROLE_READER_CENTRAL
    return BleOptions(
        peripheral, central, uuid if peripheral else None, uuid if central else None, address
    )


def parse_handover_select(
    ndef_message: bytes, *, handover_request: bytes | None = None
) -> tuple[DeviceEngagement, Any]:
    """Engagement from the NDEF message read off the phone, and the transcript's Handover.

    Static handover gives ``[HandoverSelect, null]`` (§9.1.5.1). Pass the
    reader's own ``handover_request`` for negotiated handover, which gives
    ``[HandoverSelect, HandoverRequest]``. Transport options the mdoc put in
    carrier records fill in what the DeviceEngagement itself leaves out.
    """
    if not isinstance(ndef_message, bytes) or not 0 < len(ndef_message) <= MAX_NDEF:
        raise _fail("Handover Select missing or too long")
    records = _records(ndef_message, "Handover Select")
    if records[0].type != HANDOVER_SELECT_TYPE:
        raise _fail(f"first NDEF record is {records[0].type!r}, not a Handover Select")
    hs_payload = bytes(records[0].data)
    if not hs_payload or hs_payload[0] >> 4 != 1:
        raise _fail("Handover Select version is not 1.x")
    carriers = [
        _alternative_carrier(bytes(r.data))
        for r in _records(hs_payload[1:], "Handover Select carriers")
        if r.type == ALTERNATIVE_CARRIER_TYPE
    ]
    if not carriers:
        raise _fail("Handover Select names no alternative carrier")
    by_id = {r.name: r for r in records[1:] if r.name}
    engagements = [r for r in records[1:] if r.type == DEVICE_ENGAGEMENT_TYPE]
    if len(engagements) != 1:
        raise _fail(f"{len(engagements)} DeviceEngagement records; expected one")
    engagement = parse_device_engagement(bytes(engagements[0].data))
    nfc, ble = engagement.nfc, engagement.ble
    for reference, _auxiliary in carriers:
        record = by_id.get(reference)
        if record is None:
            raise _fail(f"alternative carrier {reference!r} has no configuration record")
        if record.type == NFC_CARRIER_TYPE and nfc is None:
            nfc = _nfc_carrier(bytes(record.data))
        elif record.type == BLE_CARRIER_TYPE and ble is None:
            ble = _ble_carrier(bytes(record.data))
    return replace(engagement, nfc=nfc, ble=ble), [ndef_message, handover_request]


def build_handover_select(
    engagement: bytes, *, nfc: NfcOptions | None = None, ble: BleOptions | None = None
) -> bytes:
    """The static-handover NDEF message a wallet puts in its NDEF file (simulator and tests)."""
    hs = ndef.HandoverSelectRecord("1.5")
    carriers: list[ndef.Record] = []
    if nfc is not None:
        hs.add_alternative_carrier("active", "nfc", DEVICE_ENGAGEMENT_ID)
        payload = b"\x01" + _nfc_field(_NFC_MAX_COMMAND, nfc.max_command)
        payload += _nfc_field(_NFC_MAX_RESPONSE, nfc.max_response)
        carriers.append(ndef.Record(NFC_CARRIER_TYPE, "nfc", payload))
    if ble is not None:
        hs.add_alternative_carrier("active", "0", DEVICE_ENGAGEMENT_ID)
        role = _ROLE_READER_CENTRAL if ble.peripheral_server else _ROLE_READER_PERIPHERAL
        if ble.peripheral_server and ble.central_client:
            role = 0x02
        oob = bytes((2, _AD_LE_ROLE, role))
        uuid = ble.peripheral_uuid or ble.central_uuid
        if uuid is not None:
            oob += bytes((17, _AD_UUID128_COMPLETE)) + bytes(reversed(uuid.bytes))
        if ble.address is not None:
            oob += bytes((7, _AD_LE_ADDRESS)) + bytes(reversed(ble.address))
        carriers.append(ndef.Record(BLE_CARRIER_TYPE, "0", oob))
    records = [hs, *carriers, ndef.Record(DEVICE_ENGAGEMENT_TYPE, DEVICE_ENGAGEMENT_ID, engagement)]
    return b"".join(ndef.message_encoder(records))


def _nfc_field(kind: int, value: int) -> bytes:
    size = max(1, (value.bit_length() + 7) // 8)
    return bytes((1 + size, kind)) + value.to_bytes(size, "big")
