"""The ISO/IEC 7816-4 APDU codec: every form round-trips, every hostile length is refused.

Hypothesis runs derandomized and without a database, so CI sees the same inputs.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.node.readers.apdu import (
    SW,
    ApduError,
    Command,
    Response,
    describe,
    parse_tlv_header,
    read_binary,
    select_aid,
    tlv_header,
)
from gateway.node.readers.failure import ReadFailure, ReadFailureReason

PROPERTIES = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

byte = st.integers(0, 255)
ne = st.none() | st.integers(1, 256) | st.integers(1, 65536)
data = st.binary(max_size=300) | st.binary(min_size=250, max_size=1200)


@st.composite
def commands(draw: st.DrawFn) -> Command:
    return Command(
        draw(byte),
        draw(byte),
        draw(byte),
        draw(byte),
        draw(data),
        ne=draw(ne),
        extended=draw(st.booleans()),
    )


@PROPERTIES
@given(commands())
def test_every_command_round_trips(command: Command) -> None:
    raw = command.encode()
    parsed = Command.parse(raw)
    assert (parsed.cla, parsed.ins, parsed.p1, parsed.p2) == (
        command.cla,
        command.ins,
        command.p1,
        command.p2,
    )
    assert parsed.data == command.data
    assert parsed.ne == command.ne
    assert parsed.encode() == raw  # one encoding per command: no other bytes parse to it
    assert parsed.is_extended == command.is_extended or not (command.data or command.ne)


@PROPERTIES
@given(st.binary(max_size=600))
def test_any_bytes_parse_or_fail_cleanly(raw: bytes) -> None:
    try:
        command = Command.parse(raw)
    except ApduError as error:
        assert isinstance(error, ReadFailure)
        assert error.reason is ReadFailureReason.PROTOCOL_ERROR
        return
    assert command.encode() == raw


@PROPERTIES
@given(commands(), st.integers(-3, 3).filter(bool))
def test_a_lying_length_is_refused(command: Command, shift: int) -> None:
    raw = command.encode()
    if not command.data and command.ne is None:
        return
    cut = raw[:-shift] if shift > 0 else raw + bytes(-shift)
    try:
        parsed = Command.parse(cut)
    except ApduError:
        return
    # Some cuts land on another valid case (e.g. dropping Le); never on the same command.
    assert parsed != command


@PROPERTIES
@given(st.binary(max_size=300), st.integers(0, 0xFFFF), ne)
def test_responses_respect_ne(body: bytes, sw: int, wanted: int | None) -> None:
    raw = body + sw.to_bytes(2, "big")
    limit = wanted or 0
    if len(body) > limit:
        with pytest.raises(ApduError):
            Response.parse(raw, ne=wanted)
        return
    response = Response.parse(raw, ne=wanted)
    assert response.encode() == raw
    assert (response.sw1, response.sw2) == (sw >> 8, sw & 0xFF)


@PROPERTIES
@given(st.integers(0, (1 << 24) - 1))
def test_tlv_lengths_round_trip(length: int) -> None:
    header = tlv_header(length)
    assert parse_tlv_header(header + b"\x00") == (len(header), length)


@PROPERTIES
@given(st.binary(max_size=8))
def test_tlv_header_parse_is_strict(head: bytes) -> None:
    try:
        size, length = parse_tlv_header(head)
    except ApduError:
        return
    assert tlv_header(length) == head[:size]


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"", "shorter than its header"),
        (b"\x00\xa4\x04", "shorter than its header"),
        (b"\x00\xa4\x04\x00\x05abc", "short Lc 5"),
        (b"\x00\xa4\x04\x00\x02abc\x00", "short Lc 2"),
        (b"\x00\xa4\x04\x00\x00\x00", "extended length field cut short"),
        (b"\x00\xc3\x00\x00\x00\x00\x00\x00", "extended Lc of zero"),
        (b"\x00\xc3\x00\x00\x00\xff\xff" + bytes(10), "extended Lc 65535"),
        (b"\x00\xc3\x00\x00\x00\x00\x02ab\x00", "extended Lc 2"),
    ],
)
def test_hostile_lengths(raw: bytes, why: str) -> None:
    with pytest.raises(ApduError, match=why):
        Command.parse(raw)


def test_known_encodings() -> None:
    assert select_aid(bytes.fromhex("A0000002480400")).encode().hex() == "00a4040c07a0000002480400"
    assert read_binary(0x1FF, 256).encode().hex() == "00b001ff00"
    assert read_binary(0, 65536).encode().hex() == "00b00000000000"
    assert read_binary(0, 300).encode().hex() == "00b0000000012c"
    envelope = Command(0x10, 0xC3, 0, 0, bytes(300), ne=65536)
    assert envelope.encode()[:7].hex() == "10c30000" + "00012c"
    assert envelope.encode()[-2:] == b"\x00\x00"
    assert Response.parse(b"\x61\x00").more == 256
    assert Response.parse(b"\x61\x10").more == 16
    assert Response.parse(b"\x90\x00").ok
    assert describe(SW.FILE_NOT_FOUND) == "6A82 (file_not_found)"
    with pytest.raises(ValueError, match="15 bits"):
        read_binary(0x8000, 1)
    with pytest.raises(ValueError, match="Ne"):
        Command(0, 0xB0, 0, 0, ne=65537)
