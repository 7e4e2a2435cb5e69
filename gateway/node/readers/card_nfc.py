"""The chip ID card (IC 공무원증) over ISO-DEP: select, read the card object, challenge.

The card application answers to the AID ``F0 4B52435349 44 01``: category
``F`` (ISO/IEC 7816-5 proprietary, unregistered), the ASCII of ``KRCSID``,
and version 01. A production card would carry a registered RID instead; the
gate only ever compares the bytes.

Conversation (every command short unless noted; sizes for a 1.2 KB object)::

    SELECT    00 A4 04 0C 08 F04B524353494401                → 9000
    READ BIN  00 B0 0000 FB                                   → 53 82 LLLL … (251 B) 9000
    READ BIN  00 B0 00FB 00 LLLL (extended Ne: the rest)      → … 9000
    INT AUTH  00 88 0000 Lc Challenge 00                      → r‖s (64 B) 9000

The card's current EF holds the card object in a BER-TLV with tag 53, as PIV
stores its data objects. The TLV's length must be within bounds and the file
must hold that many bytes, or the read is a protocol error. INTERNAL
AUTHENTICATE signs a fresh :class:`Challenge` (reader id, time, nonce); a
card that does not know the instruction (6D00) or has no key to use (6982,
6985, 6A81) gives a presentation without a signature, which the verifier
refuses as static unless the site allows it. A card without our application
(6A82 on SELECT) is presented by its UID alone, which the verifier refuses.
"""

from __future__ import annotations

import datetime as dt

from gateway.credentials.card import Challenge
from gateway.credentials.verifier import CardPresentation, UidPresentation
from gateway.node.readers.apdu import (
    INS_INTERNAL_AUTHENTICATE,
    ONE_FRAME,
    SW,
    ApduError,
    ApduTransport,
    Command,
    describe,
    expect,
    parse_tlv_header,
    read_binary,
    select_aid,
    transmit,
)

CARD_AID = bytes.fromhex("F04B524353494401")
MAX_CARD_OBJECT = 16 * 1024  # a card object is about 1.2 KB; more is a lie or an attack
NO_KEY = (SW.INS_NOT_SUPPORTED, SW.SECURITY_NOT_SATISFIED, SW.CONDITIONS_NOT_SATISFIED)


async def read_card(
    link: ApduTransport,
    *,
    reader_id: str,
    now: dt.datetime,
    timeout: float | None = None,
    read_chunk: int | None = None,
) -> CardPresentation | UidPresentation:
    """Read a chip card on ``link``. ``read_chunk`` None reads the rest of the object
    with one extended-length READ BINARY; an int reads it in short chunks of that size."""
    selected = await transmit(link, select_aid(CARD_AID), timeout=timeout)
    if selected.sw == SW.FILE_NOT_FOUND:
        return UidPresentation(getattr(link, "uid", b""))
    expect(selected, "SELECT card application")
    card_object = await _read_object(link, timeout, read_chunk)
    challenge = Challenge.fresh(reader_id, now).encode()
    command = Command(0x00, INS_INTERNAL_AUTHENTICATE, 0x00, 0x00, challenge, ne=256)
    answer = await transmit(link, command, timeout=timeout)
    if answer.sw in NO_KEY or answer.sw == SW.FUNCTION_NOT_SUPPORTED:
        return CardPresentation(card_object, challenge, None)
    expect(answer, "INTERNAL AUTHENTICATE")
    return CardPresentation(card_object, challenge, answer.data)


async def _read_object(link: ApduTransport, timeout: float | None, chunk: int | None) -> bytes:
    first = await transmit(link, read_binary(0, ONE_FRAME), timeout=timeout)
    expect(first, "READ BINARY", SW.OK, SW.END_OF_FILE)
    header, length = parse_tlv_header(first.data)
    if length > MAX_CARD_OBJECT:
        raise ApduError(f"card object claims {length} bytes (at most {MAX_CARD_OBJECT})")
    total = header + length
    data = bytearray(first.data[:total])
    while len(data) < total:
        if first.sw == SW.END_OF_FILE:
            raise ApduError(f"card object file ends at {len(data)} of {total} bytes")
        wanted = total - len(data) if chunk is None else min(chunk, total - len(data))
        first = await transmit(link, read_binary(len(data), wanted), timeout=timeout)
        expect(first, "READ BINARY", SW.OK, SW.END_OF_FILE)
        if not first.data:
            raise ApduError(f"READ BINARY at {len(data)} returned nothing ({describe(first.sw)})")
        data += first.data
    return bytes(data[header:])
