"""Device engagement: the Annex D Handover Select and QR engagement, our builders, hostile bytes."""

from __future__ import annotations

import base64
from typing import Any
from uuid import UUID, uuid4

import ndef
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from gateway.credentials import cose
from gateway.credentials.cbor import decode, encode, tag24, untag24
from gateway.node.proximity import engagement as eng
from gateway.node.proximity import handover as ho
from gateway.node.readers.failure import ReadFailure, ReadFailureReason
from tests.credentials.strategies import encoded_cbor, mutated
from tests.node.annex_d import HOSTILE, VECTORS, raw


def annex_transcript() -> list[Any]:
    value = decode(untag24(decode(raw("session_transcript_bytes")), "SessionTranscriptBytes"))
    assert isinstance(value, list)
    return value


def annex_device_key() -> ec.EllipticCurvePublicKey:
    numbers = VECTORS["ephemeral_device_key"]
    return ec.derive_private_key(int(numbers["d"], 16), ec.SECP256R1()).public_key()


def protocol_error(call: Any, *args: Any, **kwargs: Any) -> ReadFailure:
    with pytest.raises(ReadFailure) as failure:
        call(*args, **kwargs)
    assert failure.value.reason is ReadFailureReason.PROTOCOL_ERROR
    return failure.value


# --- Annex D ----------------------------------------------------------------------


def test_annex_handover_select_gives_the_annex_engagement_and_handover() -> None:
    engagement, handover = ho.parse_handover_select(
        raw("handover_select"), handover_request=raw("handover_request")
    )
    device_engagement, _reader_key, annex_handover = annex_transcript()
    assert engagement.raw == untag24(device_engagement, "DeviceEngagementBytes")
    assert handover == annex_handover  # negotiated: [Hs, Hr], byte for byte
    assert encode(handover) == encode(annex_handover)
    assert engagement.version == "1.0"
    assert engagement.e_device_key.public_numbers() == annex_device_key().public_numbers()
    # The engagement record has no retrieval methods; the BLE OOB carrier does.
    assert engagement.nfc is None
    assert engagement.ble is not None
    assert (engagement.ble.central_client, engagement.ble.peripheral_server) == (True, False)
    assert engagement.ble.address is not None
    assert len(engagement.ble.address) == 6


def test_static_handover_is_the_select_message_and_null() -> None:
    engagement, handover = ho.parse_handover_select(raw("handover_select"))
    assert handover == [raw("handover_select"), None]
    assert engagement.e_device_key.public_numbers() == annex_device_key().public_numbers()


def test_annex_qr_engagement_offers_ble_central_client_mode() -> None:
    engagement = eng.parse_device_engagement(raw("device_engagement"))
    assert engagement.raw == raw("device_engagement")
    assert engagement.e_device_key.public_numbers() == annex_device_key().public_numbers()
    assert decode(raw("device_engagement"))[1][1] == decode(raw("e_device_key_bytes"))
    assert engagement.ble == eng.BleOptions(
        peripheral_server=False,
        central_client=True,
        peripheral_uuid=None,
        central_uuid=UUID("45efef74-2b2c-4837-a9a3-b0e1d05a6917"),
    )
    assert engagement.nfc is None
    uri = eng.qr_uri(raw("device_engagement"))
    assert uri.startswith("mdoc:")
    assert "=" not in uri
    assert eng.parse_qr(uri) == (engagement, None)
    assert eng.parse_qr("MDOC:" + uri[5:])[0].raw == raw("device_engagement")


# --- Our builders, both ways --------------------------------------------------------


def test_built_handover_select_round_trips_with_nfc_and_ble() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    nfc = eng.NfcOptions(max_command=0xFFFF, max_response=0x10000)
    ble = eng.BleOptions(True, False, uuid4(), address=bytes.fromhex("a1b2c3d4e5f6"))
    engagement_bytes = eng.build_device_engagement(key, ble=ble)
    message = ho.build_handover_select(engagement_bytes, nfc=nfc, ble=ble)
    engagement, handover = ho.parse_handover_select(message)
    assert handover == [message, None]
    assert engagement.raw == engagement_bytes
    assert engagement.nfc == nfc  # from the iso.org:18013:nfc carrier record
    assert engagement.ble == ble
    types = [record.type for record in ndef.message_decoder(message, known_types={})]
    assert types == [
        ho.HANDOVER_SELECT_TYPE,
        ho.NFC_CARRIER_TYPE,
        ho.BLE_CARRIER_TYPE,
        ho.DEVICE_ENGAGEMENT_TYPE,
    ]


def test_built_engagement_round_trips() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    nfc = eng.NfcOptions(255, 256)
    ble = eng.BleOptions(True, True, uuid4(), uuid4(), bytes(6))
    parsed = eng.parse_device_engagement(eng.build_device_engagement(key, nfc=nfc, ble=ble))
    assert (parsed.nfc, parsed.ble) == (nfc, ble)
    assert parsed.e_device_key.public_numbers() == key.public_numbers()


# --- Refusals ----------------------------------------------------------------------


def _security(suite: Any = 1) -> list[Any]:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return [suite, tag24(encode(cose.ec2_key_to_cose(key)))]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (encode({1: _security()}), "missing 0"),
        (encode({0: "1.0"}), "missing 1"),
        (encode({0: "2.0", 1: _security()}), "1.x"),
        (encode({0: "1.0", 1: _security(2)}), "cipher suite"),
        (encode({0: "1.0", 1: _security(True)}), "cipher suite"),
        (encode({0: "1.0", 1: [1, _security()[1].value]}), "EDeviceKeyBytes"),
        (encode({0: "1.0", 1: [1, tag24(encode({1: 2, -1: 2}))]}), "P-256"),
        (encode({0: "1.0", 1: _security(), 2: [[2, 1, {0: 1}]]}), "booleans"),
        (encode({0: "1.0", 1: _security(), 2: [[1, 1]]}), "[type, version"),
        (encode({0: "1.0", 1: _security(), 2: [[1, 1, {0: 10}]]}), "missing 1"),
        (encode({0: "1.0", 1: _security()}) + b"\x00", "trailing"),
        (b"\xa0" * 5000, "too long"),
    ],
)
def test_bad_engagements_are_protocol_errors(data: bytes, words: str) -> None:
    failure = protocol_error(eng.parse_device_engagement, data)
    assert words in failure.detail, failure.detail


def _with_records(records: list[ndef.Record]) -> bytes:
    return b"".join(ndef.message_encoder(records))


def _annex_records() -> list[ndef.Record]:
    return list(ndef.message_decoder(raw("handover_select"), known_types={}))


def test_handover_select_refusals() -> None:
    hs, ble, engagement = _annex_records()
    assert "Handover Select" in protocol_error(ho.parse_handover_select, b"").detail
    assert "not an NDEF" in protocol_error(ho.parse_handover_select, b"\x00\x01").detail
    assert "not a Handover Select" in (
        protocol_error(ho.parse_handover_select, _with_records([ble, hs, engagement])).detail
    )
    assert (
        "expected one" in protocol_error(ho.parse_handover_select, _with_records([hs, ble])).detail
    )
    twice = _with_records([hs, ble, engagement, engagement])
    assert "expected one" in protocol_error(ho.parse_handover_select, twice).detail
    no_carrier = _with_records([hs, engagement])
    assert "no configuration record" in protocol_error(ho.parse_handover_select, no_carrier).detail
    empty_hs = ndef.Record(ho.HANDOVER_SELECT_TYPE, "", b"\x15")
    assert "no alternative" in (
        protocol_error(ho.parse_handover_select, _with_records([empty_hs, engagement])).detail
    )
    old_hs = ndef.Record(ho.HANDOVER_SELECT_TYPE, "", b"\x25" + bytes(hs.data)[1:])
    assert "version" in (
        protocol_error(ho.parse_handover_select, _with_records([old_hs, ble, engagement])).detail
    )


def test_qr_refusals() -> None:
    assert "mdoc:" in protocol_error(eng.parse_qr, "https://example.com").detail
    assert "base64url" in protocol_error(eng.parse_qr, "mdoc:not base64!").detail
    padded = "mdoc:" + base64.urlsafe_b64encode(raw("device_engagement")).decode()
    assert eng.parse_qr(padded)[0].raw == raw("device_engagement")
    assert "too long" in protocol_error(eng.parse_qr, "mdoc:" + "A" * 10000).detail


# --- Hostile bytes: ReadFailure and nothing else --------------------------------------


def _only_read_failure(call: Any, data: Any) -> None:
    try:
        call(data)
    except ReadFailure as failure:
        assert failure.reason is ReadFailureReason.PROTOCOL_ERROR


@HOSTILE
@given(st.one_of(st.binary(max_size=300), encoded_cbor()))
def test_random_bytes_never_escape_the_engagement_parser(data: bytes) -> None:
    _only_read_failure(eng.parse_device_engagement, data)


@HOSTILE
@given(mutated(bytes.fromhex(VECTORS["device_engagement"])))
def test_mutated_engagements_never_escape(data: bytes) -> None:
    _only_read_failure(eng.parse_device_engagement, data)


_BUILT = ho.build_handover_select(
    eng.build_device_engagement(ec.generate_private_key(ec.SECP256R1()).public_key()),
    nfc=eng.NfcOptions(0xFFFF, 0x10000),
    ble=eng.BleOptions(True, False, UUID(int=7), address=bytes(range(6))),
)


@HOSTILE
@given(
    st.one_of(
        st.binary(max_size=300),
        mutated(bytes.fromhex(VECTORS["handover_select"])),
        mutated(_BUILT),
    )
)
def test_hostile_handover_selects_never_escape(data: bytes) -> None:
    _only_read_failure(ho.parse_handover_select, data)


@HOSTILE
@given(
    st.one_of(
        st.text(max_size=200),
        st.text(max_size=200).map(lambda text: "mdoc:" + text),
        mutated(eng.qr_uri(bytes.fromhex(VECTORS["device_engagement"])).encode()).map(
            lambda data: data.decode("latin-1")
        ),
    )
)
def test_hostile_qr_codes_never_escape(text: str) -> None:
    _only_read_failure(eng.parse_qr, text)
