"""The 18013-5 session against Annex D, its refusals, and the DeviceRequest.

The annex fixes every input of the session (both ephemeral keys, the
engagement, the handover) and AES-GCM is deterministic, so the reader's
SessionEstablishment and the mdoc's SessionData must come out byte for byte.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from gateway.credentials import csid
from gateway.credentials.cbor import decode, encode, tag24, untag24, wrapped_bytes
from gateway.node.proximity import request as req
from gateway.node.proximity import session as ses
from gateway.node.proximity.engagement import DeviceEngagement, build_device_engagement
from gateway.node.proximity.handover import parse_handover_select
from gateway.node.readers.failure import ReadFailure, ReadFailureReason
from tests.credentials.strategies import encoded_cbor, mutated
from tests.node.annex_d import HOSTILE, VECTORS, raw


def private_key(name: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int(VECTORS[name]["d"], 16), ec.SECP256R1())


def annex_session(reader_key: ec.EllipticCurvePrivateKey | None = None) -> ses.ReaderSession:
    engagement, handover = parse_handover_select(
        raw("handover_select"), handover_request=raw("handover_request")
    )
    return ses.ReaderSession(
        engagement, handover, reader_key=reader_key or private_key("ephemeral_reader_key")
    )


def annex_transcript() -> bytes:
    return untag24(decode(raw("session_transcript_bytes")), "SessionTranscriptBytes")


def failure_of(call: Any, *args: Any) -> ReadFailure:
    with pytest.raises(ReadFailure) as failure:
        call(*args)
    return failure.value


# --- Annex D ----------------------------------------------------------------------


def test_session_keys_are_the_annex_keys_from_either_side() -> None:
    reader, device = private_key("ephemeral_reader_key"), private_key("ephemeral_device_key")
    transcript = annex_transcript()
    from_reader = ses.session_keys(reader, device.public_key(), transcript)
    from_device = ses.session_keys(device, reader.public_key(), transcript)
    assert from_reader == from_device == (raw("sk_reader"), raw("sk_device"))


def test_reader_session_rebuilds_the_annex_transcript() -> None:
    session = annex_session()
    assert session.transcript == annex_transcript()
    assert wrapped_bytes(session.transcript) == raw("session_transcript_bytes")


def test_reader_establishment_is_the_annex_session_establishment() -> None:
    assert annex_session().establishment(raw("device_request")) == raw("session_establishment")


def test_mdoc_decrypts_the_annex_establishment_to_the_annex_request() -> None:
    key_bytes, reader_key, ciphertext = ses.parse_session_establishment(
        raw("session_establishment")
    )
    assert reader_key.public_numbers() == (
        private_key("ephemeral_reader_key").public_key().public_numbers()
    )
    assert (
        tag24(key_bytes) == decode(annex_transcript())[1]
    )  # EReaderKeyBytes, as in the transcript
    cipher = ses.SessionCipher.for_device(raw("sk_reader"), raw("sk_device"))
    assert cipher.unseal(ciphertext) == raw("device_request")


def test_mdoc_encrypting_the_annex_response_with_counter_1_gives_the_annex_session_data() -> None:
    cipher = ses.SessionCipher.for_device(raw("sk_reader"), raw("sk_device"))
    sealed = ses.encode_session_data(cipher.seal(raw("device_response")))
    assert sealed == raw("session_data")


def test_reader_opens_the_annex_session_data_once() -> None:
    session = annex_session()
    session.establishment(raw("device_request"))
    assert session.open(raw("session_data")) == raw("device_response")
    assert session.termination() == raw("session_termination")
    assert session.ended


def test_the_annex_termination_from_the_mdoc_ends_the_session() -> None:
    session = annex_session()
    session.establishment(raw("device_request"))
    failure = failure_of(session.open, raw("session_termination"))
    assert failure.reason is ReadFailureReason.SESSION_ERROR
    assert "status 20" in failure.detail
    assert session.ended


# --- Refusals ----------------------------------------------------------------------


def test_counter_reuse_fails() -> None:
    session = annex_session()
    session.establishment(raw("device_request"))
    session.request(raw("device_request"))  # a second request is outstanding
    session.open(raw("session_data"))
    # The same SessionData again: counter 1 would repeat, so it must not open.
    failure = failure_of(session.open, raw("session_data"))
    assert failure.reason is ReadFailureReason.SESSION_ERROR
    assert "message 2 does not decrypt" in failure.detail
    assert failure_of(session.open, raw("session_data")).reason is ReadFailureReason.SESSION_ERROR


def test_a_flipped_ciphertext_bit_fails_and_ends_the_session() -> None:
    ciphertext, _ = ses.parse_session_data(raw("session_data"))
    assert ciphertext is not None
    for position in (0, len(ciphertext) // 2, len(ciphertext) - 1):  # body and tag
        session = annex_session()
        session.establishment(raw("device_request"))
        flipped = bytearray(ciphertext)
        flipped[position] ^= 0x01
        failure = failure_of(session.open, ses.encode_session_data(bytes(flipped)))
        assert failure.reason is ReadFailureReason.SESSION_ERROR
        assert session.ended
        good = failure_of(session.open, raw("session_data"))  # too late: the session is over
        assert "ended" in good.detail


def test_another_reader_key_cannot_open_the_annex_data() -> None:
    session = annex_session(ec.generate_private_key(ec.SECP256R1()))
    assert session.establishment(raw("device_request")) != raw("session_establishment")
    failure = failure_of(session.open, raw("session_data"))
    assert failure.reason is ReadFailureReason.SESSION_ERROR


def test_mdoc_error_statuses_are_session_errors_with_their_meaning() -> None:
    for status, meaning in ((10, "session encryption"), (11, "CBOR decoding")):
        session = annex_session()
        session.establishment(raw("device_request"))
        failure = failure_of(session.open, ses.encode_session_data(status=status))
        assert failure.reason is ReadFailureReason.SESSION_ERROR
        assert meaning in failure.detail


def test_termination_with_data_delivers_the_data_and_ends() -> None:
    session = annex_session()
    session.establishment(raw("device_request"))
    ciphertext, _ = ses.parse_session_data(raw("session_data"))
    last = ses.encode_session_data(ciphertext, ses.STATUS_TERMINATION)
    assert session.open(last) == raw("device_response")
    assert session.ended


def test_unsolicited_or_malformed_session_data_is_a_protocol_error() -> None:
    session = annex_session()
    assert failure_of(session.open, raw("session_data")).reason is ReadFailureReason.PROTOCOL_ERROR
    for bad in (
        encode({"status": 0}),
        encode({"data": "text"}),
        encode({"data": b"", "extra": 1}),
        encode({}),
        encode([b""]),
        raw("session_data") + b"\x00",
    ):
        fresh = annex_session()
        fresh.establishment(raw("device_request"))
        assert failure_of(fresh.open, bad).reason is ReadFailureReason.PROTOCOL_ERROR, bad


def test_establishment_once_then_requests() -> None:
    session = annex_session()
    assert failure_of(session.request, b"x").reason is ReadFailureReason.PROTOCOL_ERROR
    session.establishment(raw("device_request"))
    assert failure_of(session.establishment, b"x").reason is ReadFailureReason.PROTOCOL_ERROR
    second = session.request(raw("device_request"))
    cipher = ses.SessionCipher.for_device(raw("sk_reader"), raw("sk_device"))
    _, _, first = ses.parse_session_establishment(raw("session_establishment"))
    cipher.unseal(first)
    data, status = ses.parse_session_data(second)
    assert status is None
    assert data is not None
    assert cipher.unseal(data) == raw("device_request")  # counter 2, reader identifier


def test_session_establishment_refusals() -> None:
    key_bytes = untag24(decode(raw("session_establishment"))["eReaderKey"], "key")
    for bad in (
        encode({"eReaderKey": tag24(key_bytes)}),
        encode({"eReaderKey": key_bytes, "data": b""}),
        encode({"eReaderKey": tag24(encode({1: 2, -1: 1})), "data": b""}),
        encode({"eReaderKey": tag24(key_bytes), "data": "x"}),
        encode({"eReaderKey": tag24(key_bytes), "data": b"", "more": 1}),
    ):
        failure = failure_of(ses.parse_session_establishment, bad)
        assert failure.reason is ReadFailureReason.PROTOCOL_ERROR


def test_a_fresh_session_has_a_fresh_reader_key() -> None:
    engagement = DeviceEngagement(
        build_device_engagement(ec.generate_private_key(ec.SECP256R1()).public_key()),
        ec.generate_private_key(ec.SECP256R1()).public_key(),
        None,
        None,
    )
    one, two = ses.ReaderSession(engagement, None), ses.ReaderSession(engagement, None)
    assert one.transcript != two.transcript
    assert decode(one.transcript)[2] is None


# --- DeviceRequest ----------------------------------------------------------------


def test_door_request_asks_for_the_door_elements_only_and_retains_nothing() -> None:
    parsed = req.parse_device_request(req.build_device_request())
    assert parsed.version == "1.0"
    (doc,) = parsed.doc_requests
    assert doc.doctype == csid.DOCTYPE
    assert doc.namespaces == {csid.NAMESPACE: dict.fromkeys(csid.DOOR_ELEMENTS, False)}
    assert csid.NAME not in doc.requested()[csid.NAMESPACE]
    assert csid.PORTRAIT not in doc.requested()[csid.NAMESPACE]
    assert doc.reader_auth is None
    assert "readerAuth" not in decode(req.build_device_request())["docRequests"][0]


def test_guard_desk_request_adds_name_and_portrait() -> None:
    (doc,) = req.parse_device_request(
        req.build_device_request(req.GUARD_DESK_ELEMENTS)
    ).doc_requests
    assert set(doc.namespaces[csid.NAMESPACE]) == {*csid.DOOR_ELEMENTS, csid.NAME, csid.PORTRAIT}


def test_the_annex_request_parses() -> None:
    (doc,) = req.parse_device_request(raw("device_request")).doc_requests
    assert doc.doctype == "org.iso.18013.5.1.mDL"
    assert doc.items_request == raw("items_request")
    assert doc.namespaces["org.iso.18013.5.1"]["portrait"] is False
    assert doc.namespaces["org.iso.18013.5.1"]["family_name"] is True
    assert doc.reader_auth is not None


def test_builder_refuses_nothing_or_duplicates() -> None:
    with pytest.raises(ValueError, match="at least one"):
        req.build_device_request(())
    with pytest.raises(ValueError, match="each once"):
        req.build_device_request(("holder_id", "holder_id"))


def test_request_refusals() -> None:
    items = tag24(encode({"docType": csid.DOCTYPE, "nameSpaces": {csid.NAMESPACE: {"x": False}}}))
    for bad in (
        encode({"version": "2.0", "docRequests": [{"itemsRequest": items}]}),
        encode({"version": "1.0", "docRequests": []}),
        encode({"version": "1.0", "docRequests": [{"itemsRequest": items.value}]}),
        encode({"version": "1.0", "docRequests": [{"itemsRequest": tag24(encode({}))}]}),
        encode(
            {
                "version": "1.0",
                "docRequests": [
                    {"itemsRequest": tag24(encode({"docType": "d", "nameSpaces": {"n": {"e": 1}}}))}
                ],
            }
        ),
        req.build_device_request() + b"\x00",
    ):
        failure = failure_of(req.parse_device_request, bad)
        assert failure.reason is ReadFailureReason.PROTOCOL_ERROR


# --- Hostile bytes: ReadFailure and nothing else --------------------------------------


def _only_read_failure(call: Any, data: bytes) -> None:
    try:
        call(data)
    except ReadFailure as failure:
        assert failure.reason in (
            ReadFailureReason.PROTOCOL_ERROR,
            ReadFailureReason.SESSION_ERROR,
        )


_messages = st.one_of(
    st.binary(max_size=200),
    encoded_cbor(),
    mutated(bytes.fromhex(VECTORS["session_establishment"])),
    mutated(bytes.fromhex(VECTORS["session_data"])),
    mutated(bytes.fromhex(VECTORS["session_termination"])),
)


@HOSTILE
@given(_messages)
def test_hostile_session_establishments_never_escape(data: bytes) -> None:
    _only_read_failure(ses.parse_session_establishment, data)


@HOSTILE
@given(_messages)
def test_hostile_session_data_never_escapes(data: bytes) -> None:
    _only_read_failure(ses.parse_session_data, data)


@HOSTILE
@given(_messages)
def test_hostile_session_data_never_escapes_the_reader(data: bytes) -> None:
    session = annex_session()
    session.establishment(raw("device_request"))
    _only_read_failure(session.open, data)


@HOSTILE
@given(
    st.one_of(
        st.binary(max_size=200),
        encoded_cbor(),
        mutated(bytes.fromhex(VECTORS["device_request"])),
        mutated(req.build_device_request(req.GUARD_DESK_ELEMENTS)),
    )
)
def test_hostile_device_requests_never_escape(data: bytes) -> None:
    _only_read_failure(req.parse_device_request, data)
