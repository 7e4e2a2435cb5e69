"""ISO/IEC 7816-4 command and response APDUs: encoding and strict parsing.

A command APDU is CLA INS P1 P2, then optionally Lc and data, then
optionally Le. Lc and Le come in a short form (one byte; Le 00 means 256)
and an extended form (00 then two bytes; Le 0000 means 65536). The four
cases of §5.1 are accepted in both forms and nothing else: a length that
does not match the bytes that follow, a zero extended Lc, or trailing bytes
are a protocol error, never a guess.

A response APDU is data followed by the two status bytes SW1 SW2. Every
parse error is a :class:`ApduError`, which is a :class:`ReadFailure` with
reason ``protocol_error``, so a reader can let it propagate as the tap's
failure.

Both conversations carry their payload in a BER-TLV with tag 53 (PIV's card
objects, 18013-5's ENVELOPE data); its header is read here too, in its
shortest definite form only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from gateway.node.readers.failure import ReadFailure, ReadFailureReason

SHORT_MAX_LC = 255
SHORT_MAX_NE = 256
EXTENDED_MAX_LC = 65535
EXTENDED_MAX_NE = 65536

# Instructions the readers send (ISO/IEC 7816-4 §11, ISO/IEC 18013-5 §8.3.3.1.2).
INS_SELECT = 0xA4
INS_READ_BINARY = 0xB0
INS_INTERNAL_AUTHENTICATE = 0x88
INS_ENVELOPE = 0xC3
INS_GET_RESPONSE = 0xC0

CLA_CHAINING = 0x10  # b5 of an interindustry CLA: "not the last command of a chain"
TAG_DISCRETIONARY = 0x53  # BER-TLV "discretionary data" (ISO/IEC 7816-4 §8.1)
ONE_FRAME = 251  # response data that fits one ISO-DEP frame at FSD 256, with the status word


class SW(IntEnum):
    """The status words the gate's conversations act on."""

    OK = 0x9000
    END_OF_FILE = 0x6282  # fewer bytes than Ne before the end of the file
    WRONG_LENGTH = 0x6700
    SECURITY_NOT_SATISFIED = 0x6982
    CONDITIONS_NOT_SATISFIED = 0x6985
    WRONG_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81
    FILE_NOT_FOUND = 0x6A82  # also: application not found on SELECT by AID
    INCORRECT_P1P2 = 0x6A86
    WRONG_P1P2 = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    UNKNOWN = 0x6F00


SW1_MORE_DATA = 0x61  # 61XX: XX more bytes (00: 256 or more) wait for GET RESPONSE


class ApduError(ReadFailure):
    """Bytes that are not an APDU, or an APDU that breaks its own length rules."""

    def __init__(self, detail: str) -> None:
        super().__init__(ReadFailureReason.PROTOCOL_ERROR, detail)


@dataclass(frozen=True, slots=True)
class Command:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    ne: int | None = None  # Le as the number of bytes wanted (1..65536); None: no Le field
    extended: bool = False  # force the extended form even when the short one fits

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise ValueError(f"{name} must be a byte")
        if len(self.data) > EXTENDED_MAX_LC:
            raise ValueError("command data longer than 65535 bytes")
        if self.ne is not None and not 1 <= self.ne <= EXTENDED_MAX_NE:
            raise ValueError("Ne must be 1..65536")

    @property
    def is_extended(self) -> bool:
        return (
            self.extended
            or len(self.data) > SHORT_MAX_LC
            or (self.ne is not None and self.ne > SHORT_MAX_NE)
        )

    def encode(self) -> bytes:
        out = bytearray((self.cla, self.ins, self.p1, self.p2))
        if self.is_extended:
            if self.data:
                out += b"\x00" + len(self.data).to_bytes(2, "big") + self.data
            if self.ne is not None:
                le = (self.ne % EXTENDED_MAX_NE).to_bytes(2, "big")
                out += le if self.data else b"\x00" + le
        else:
            if self.data:
                out += bytes((len(self.data),)) + self.data
            if self.ne is not None:
                out.append(self.ne % SHORT_MAX_NE)
        return bytes(out)

    @classmethod
    def parse(cls, raw: bytes) -> Command:
        """The command in ``raw``; any length that does not add up is an :class:`ApduError`."""
        n = len(raw)
        if n < 4:
            raise ApduError(f"command APDU of {n} bytes: shorter than its header")
        cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
        if n == 4:  # case 1
            return cls(cla, ins, p1, p2)
        if n == 5:  # case 2S
            return cls(cla, ins, p1, p2, ne=raw[4] or SHORT_MAX_NE)
        if raw[4] != 0:  # case 3S or 4S
            lc = raw[4]
            if n == 5 + lc:
                return cls(cla, ins, p1, p2, bytes(raw[5:]))
            if n == 6 + lc:
                return cls(cla, ins, p1, p2, bytes(raw[5:-1]), ne=raw[-1] or SHORT_MAX_NE)
            raise ApduError(f"short Lc {lc} does not match {n - 5} bytes of body")
        if n == 7:  # case 2E
            le = int.from_bytes(raw[5:7], "big")
            return cls(cla, ins, p1, p2, ne=le or EXTENDED_MAX_NE, extended=True)
        if n < 7:
            raise ApduError("extended length field cut short")
        lc = int.from_bytes(raw[5:7], "big")
        if lc == 0:
            raise ApduError("extended Lc of zero")
        if n == 7 + lc:  # case 3E
            return cls(cla, ins, p1, p2, bytes(raw[7:]), extended=True)
        if n == 9 + lc:  # case 4E
            le = int.from_bytes(raw[-2:], "big")
            return cls(cla, ins, p1, p2, bytes(raw[7:-2]), ne=le or EXTENDED_MAX_NE, extended=True)
        raise ApduError(f"extended Lc {lc} does not match {n - 7} bytes of body")


@dataclass(frozen=True, slots=True)
class Response:
    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    @property
    def ok(self) -> bool:
        return self.sw == SW.OK

    @property
    def more(self) -> int | None:
        """With 61XX: how many bytes GET RESPONSE should ask for (00 means up to 256)."""
        if self.sw1 != SW1_MORE_DATA:
            return None
        return self.sw2 or SHORT_MAX_NE

    def encode(self) -> bytes:
        return self.data + self.sw.to_bytes(2, "big")

    @classmethod
    def parse(cls, raw: bytes, *, ne: int | None = None) -> Response:
        """The response in ``raw``. With ``ne``, data beyond the Ne asked for is refused."""
        if len(raw) < 2:
            raise ApduError(f"response APDU of {len(raw)} bytes: no status word")
        data = bytes(raw[:-2])
        limit = 0 if ne is None else ne
        if len(data) > limit:
            raise ApduError(f"{len(data)} response bytes where at most {limit} were asked for")
        return cls(data, int.from_bytes(raw[-2:], "big"))


def tlv_header(value_length: int, tag: int = TAG_DISCRETIONARY) -> bytes:
    """A BER-TLV header (one-byte tag, definite length)."""
    if value_length < 0x80:
        return bytes((tag, value_length))
    size = (value_length.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + value_length.to_bytes(size, "big")


def parse_tlv_header(head: bytes, tag: int = TAG_DISCRETIONARY) -> tuple[int, int]:
    """(header length, value length) of the BER-TLV that starts ``head``."""
    if len(head) < 2 or head[0] != tag:
        raise ApduError(f"expected a TLV with tag {tag:02X}")
    first = head[1]
    if first < 0x80:
        return 2, first
    size = first & 0x7F
    if not 1 <= size <= 3 or len(head) < 2 + size:
        raise ApduError("bad BER length field")
    length = int.from_bytes(head[2 : 2 + size], "big")
    if length < 0x80 or (size > 1 and length < 1 << (8 * (size - 1))):
        raise ApduError("BER length not in its shortest form")
    return 2 + size, length


def status(sw: int) -> bytes:
    """A response APDU with no data."""
    return sw.to_bytes(2, "big")


def describe(sw: int) -> str:
    try:
        return f"{sw:04X} ({SW(sw).name.lower()})"
    except ValueError:
        return f"{sw:04X}"


class ApduTransport(Protocol):
    """What a conversation needs from a reader: one APDU out, one APDU back, under a deadline."""

    async def exchange(self, apdu: bytes, timeout: float | None = None) -> bytes: ...


async def transmit(
    link: ApduTransport, command: Command, *, timeout: float | None = None
) -> Response:
    """Send ``command`` and parse the answer strictly (never more data than Ne)."""
    raw = await link.exchange(command.encode(), timeout)
    return Response.parse(raw, ne=command.ne)


def expect(response: Response, what: str, *allowed: SW) -> Response:
    """``response`` if its status word is one of ``allowed`` (9000 by default)."""
    if response.sw not in (allowed or (SW.OK,)):
        raise ApduError(f"{what}: status {describe(response.sw)}")
    return response


def select_aid(aid: bytes, *, fci: bool = False) -> Command:
    """SELECT by DF name (P1 04); P2 0C asks for no FCI, P2 00 for the FCI."""
    if fci:
        return Command(0x00, INS_SELECT, 0x04, 0x00, aid, ne=SHORT_MAX_NE)
    return Command(0x00, INS_SELECT, 0x04, 0x0C, aid)


def read_binary(offset: int, ne: int) -> Command:
    """READ BINARY of the current EF from ``offset`` (15 bits, P1 b8 clear)."""
    if not 0 <= offset <= 0x7FFF:
        raise ValueError("READ BINARY offset must fit in 15 bits")
    return Command(0x00, INS_READ_BINARY, offset >> 8, offset & 0xFF, ne=ne)
