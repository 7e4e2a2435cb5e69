"""The mobile ID over NFC: ISO/IEC 18013-5 engagement (§8.2.2.1) and data retrieval (§8.3.3.1.2).

Engagement reads the phone's NFC Forum Type 4 Tag NDEF file, which holds a
static-handover Handover Select::

    SELECT    00 A4 04 00 07 D2760000850101 00    NDEF application  → 9000
    SELECT    00 A4 00 0C 02 E103                  capability container → 9000
    READ BIN  00 B0 0000 0F                        CC: MLe, MLc, NDEF file id and size
    SELECT    00 A4 00 0C 02 <NDEF file id>        → 9000
    READ BIN  00 B0 0000 <min(MLe, 251)>           NLEN ‖ NDEF message (more reads if longer)

Data retrieval then selects the mdoc application and moves the session's
messages, each in a BER-TLV with tag 53::

    SELECT    00 A4 04 0C 07 A0000002480400        → 9000
    ENVELOPE  10 C3 0000 Lc …  (chained, while the message exceeds the phone's
              maximum command data length)          → 9000
    ENVELOPE  00 C3 0000 Lc … Le                    → data 61XX | data 9000
    GET RESP  00 C0 0000 Le   (while 61XX)          → data 61XX | data 9000

With short APDUs, Le asks for 251 bytes, which with the status word fill one
ISO-DEP frame at FSD 256; 256 would cost two frames for each APDU.
    ENVELOPE  00 C3 0000 Lc SessionData{status: 20} → 9000 (termination, best effort)

Lc and Le take the extended form whenever a length needs it. The messages are
opaque here: :mod:`gateway.node.proximity` builds and opens them.
"""

from __future__ import annotations

import contextlib

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.credentials.verifier import MobilePresentation
from gateway.node.proximity.engagement import NfcOptions
from gateway.node.proximity.handover import parse_handover_select
from gateway.node.proximity.request import build_device_request
from gateway.node.proximity.session import ReaderSession
from gateway.node.readers.apdu import (
    CLA_CHAINING,
    EXTENDED_MAX_LC,
    EXTENDED_MAX_NE,
    INS_ENVELOPE,
    INS_GET_RESPONSE,
    INS_SELECT,
    ONE_FRAME,
    SHORT_MAX_NE,
    SW,
    TAG_DISCRETIONARY,
    ApduError,
    ApduTransport,
    Command,
    expect,
    parse_tlv_header,
    read_binary,
    select_aid,
    tlv_header,
    transmit,
)
from gateway.node.readers.failure import ReadFailure, ReadFailureReason

NDEF_AID = bytes.fromhex("D2760000850101")
MDOC_AID = bytes.fromhex("A0000002480400")
CC_FILE = bytes.fromhex("E103")
MAX_NDEF = 4096  # a Handover Select with engagement and carriers is ~200 bytes
MAX_MESSAGE = 1 << 20
# What a phone takes when its engagement does not say (short APDUs only).
SHORT_ONLY = NfcOptions(max_command=255, max_response=256)


async def read_mdoc(
    link: ApduTransport,
    *,
    device_request: bytes | None = None,
    timeout: float | None = None,
    terminate: bool = True,
    reader_key: ec.EllipticCurvePrivateKey | None = None,
) -> MobilePresentation:
    """Engage with the phone on ``link``, ask for ``device_request`` (the door's elements by
    default) and return the DeviceResponse with this session's transcript."""
    handover_select = await read_ndef(link, timeout)
    engagement, handover = parse_handover_select(handover_select)
    selected = await transmit(link, select_aid(MDOC_AID), timeout=timeout)
    if selected.sw == SW.FILE_NOT_FOUND:
        raise ReadFailure(ReadFailureReason.UNSUPPORTED, "no mdoc application")
    expect(selected, "SELECT mdoc application")
    key = reader_key or ec.generate_private_key(ec.SECP256R1())
    session = ReaderSession(engagement, handover, reader_key=key)
    options = engagement.nfc or SHORT_ONLY
    request = build_device_request() if device_request is None else device_request
    answer = await envelope(link, session.establishment(request), options, timeout)
    device_response = session.open(answer)
    if terminate:  # best effort: the answer is in, and a phone already gone does not change it
        with contextlib.suppress(ReadFailure):
            await envelope(link, session.termination(), options, timeout)
    return MobilePresentation(device_response, session.transcript, key)


async def read_ndef(link: ApduTransport, timeout: float | None = None) -> bytes:
    """The NDEF message of an NFC Forum Type 4 Tag (mapping 2.0 or 3.0, 2-byte NLEN)."""
    selected = await transmit(link, select_aid(NDEF_AID, fci=True), timeout=timeout)
    if selected.sw == SW.FILE_NOT_FOUND:
        raise ReadFailure(ReadFailureReason.UNSUPPORTED, "no NDEF application: not a wallet")
    expect(selected, "SELECT NDEF application")
    await _select_file(link, CC_FILE, timeout)
    cc = expect(await transmit(link, read_binary(0, 15), timeout=timeout), "READ CC").data
    if len(cc) < 15 or cc[2] >> 4 not in (2, 3) or cc[7:9] != b"\x04\x06":
        raise ApduError(f"not a Type 4 Tag capability container: {cc.hex()}")
    mle = int.from_bytes(cc[3:5], "big")
    ndef_file, max_size, read_access = cc[9:11], int.from_bytes(cc[11:13], "big"), cc[13]
    if mle < 15 or read_access != 0x00:
        raise ApduError("NDEF file is not readable (MLe or read access)")
    chunk = min(mle, ONE_FRAME)
    await _select_file(link, ndef_file, timeout)
    head = expect(await transmit(link, read_binary(0, chunk), timeout=timeout), "READ NDEF").data
    if len(head) < 2:
        raise ApduError("NDEF file shorter than its length field")
    nlen = int.from_bytes(head[:2], "big")
    if not 0 < nlen <= min(max_size - 2, MAX_NDEF):
        raise ApduError(f"NDEF length {nlen} out of bounds (file {max_size}, at most {MAX_NDEF})")
    data = bytearray(head[2 : 2 + nlen])
    while len(data) < nlen:
        offset = 2 + len(data)
        part = await transmit(
            link, read_binary(offset, min(chunk, nlen - len(data))), timeout=timeout
        )
        if not expect(part, "READ NDEF").data:
            raise ApduError(f"NDEF file ends at {offset} of {2 + nlen} bytes")
        data += part.data
    return bytes(data)


async def _select_file(link: ApduTransport, fid: bytes, timeout: float | None) -> None:
    command = Command(0x00, INS_SELECT, 0x00, 0x0C, fid)
    expect(await transmit(link, command, timeout=timeout), f"SELECT file {fid.hex()}")


async def envelope(
    link: ApduTransport, message: bytes, options: NfcOptions, timeout: float | None = None
) -> bytes:
    """Send one session message with ENVELOPE and return the phone's (unwrapped) answer."""
    body = tlv_header(len(message), TAG_DISCRETIONARY) + message
    max_command = max(1, min(options.max_command, EXTENDED_MAX_LC))
    ne = max(1, min(options.max_response, EXTENDED_MAX_NE))
    if ne <= SHORT_MAX_NE:  # short APDUs: ask for what fits one frame, not 256 in two
        ne = min(ne, ONE_FRAME)
    parts = [body[i : i + max_command] for i in range(0, len(body), max_command)]
    for part in parts[:-1]:
        chained = Command(CLA_CHAINING, INS_ENVELOPE, 0x00, 0x00, part)
        expect(await transmit(link, chained, timeout=timeout), "ENVELOPE (chained)")
    command = Command(0x00, INS_ENVELOPE, 0x00, 0x00, parts[-1], ne=ne)
    response = await transmit(link, command, timeout=timeout)
    answer = bytearray(response.data)
    while response.more is not None:
        if len(answer) > MAX_MESSAGE:
            raise ApduError(f"answer longer than {MAX_MESSAGE} bytes")
        wanted = min(response.more, ne) if ne <= SHORT_MAX_NE else response.sw2 or ne
        more = Command(0x00, INS_GET_RESPONSE, 0x00, 0x00, ne=wanted)
        response = await transmit(link, more, timeout=timeout)
        answer += response.data
    expect(response, "ENVELOPE")
    if not answer:
        return b""
    header, length = parse_tlv_header(bytes(answer[:5]), TAG_DISCRETIONARY)
    if header + length != len(answer):
        raise ApduError(f"answer TLV says {length} bytes, {len(answer) - header} arrived")
    return bytes(answer[header:])
