"""The virtual phone as an NFC target: a Type 4 Tag for engagement, then the mdoc application.

Use a :class:`PhoneNfc` as the ``responder`` of an
:class:`~simulator.holder.nfc_target.NfcTarget`. It holds two applications:

* the NFC Forum Type 4 Tag NDEF application (D2760000850101): capability
  container E103 and NDEF file E104 holding the wallet's Handover Select
  (static handover, ISO/IEC 18013-5 §8.2.2.1), written afresh at each tap;
* the mdoc application (A0000002480400, §8.3.3.1.2): ENVELOPE collects a
  BER-TLV 53 message (command chaining with CLA 10), :meth:`Wallet.handle`
  answers it, and the answer goes back wrapped in TLV 53, at most Ne bytes at
  a time, the rest announced with 61XX and fetched with GET RESPONSE.

The phone refuses commands longer than the maximum command data length its
engagement announced (6700), as a real one would. The wallet's ``delay`` is
applied to its answers through :meth:`stall_for`, which the target honours
with S(WTX) without blocking the next tap.
"""

from __future__ import annotations

from gateway.node.readers.apdu import (
    CLA_CHAINING,
    INS_ENVELOPE,
    INS_GET_RESPONSE,
    INS_READ_BINARY,
    INS_SELECT,
    SW,
    SW1_MORE_DATA,
    ApduError,
    Command,
    parse_tlv_header,
    status,
    tlv_header,
)
from gateway.node.readers.mdoc_nfc import CC_FILE, MDOC_AID, NDEF_AID
from simulator.holder.wallet import Wallet

NDEF_FILE = bytes.fromhex("E104")
NDEF_FILE_SIZE = 0x1000


class PhoneNfc:
    def __init__(self, wallet: Wallet, *, nlen: int | None = None, mle: int = 0xFF) -> None:
        self.wallet = wallet
        self.nlen = nlen  # a lie about the NDEF message's length, for tests
        self.mle = mle
        self.app: bytes | None = None
        self.file = b""
        self.ndef = b""
        self.incoming = bytearray()
        self.outgoing = b""

    def activated(self) -> None:
        """A new tap: a new engagement, nothing selected."""
        self.wallet.engagement()  # a fresh EDeviceKey, whatever the last tap left behind
        message = self.wallet.handover_select()
        length = len(message) if self.nlen is None else self.nlen
        self.ndef = length.to_bytes(2, "big") + message
        self.app, self.file = None, b""
        self.incoming.clear()
        self.outgoing = b""

    def stall_for(self, apdu: bytes) -> float:
        """Seconds the phone thinks before answering ``apdu``: the wallet's delay on messages."""
        return self.wallet.delay if apdu[:2] == bytes((0x00, INS_ENVELOPE)) else 0.0

    def __call__(self, apdu: bytes) -> bytes:
        try:
            command = Command.parse(apdu)
        except ApduError:
            return status(SW.WRONG_LENGTH)
        if command.ins == INS_SELECT and command.p1 == 0x04:
            return self.select_application(command.data)
        if self.app == NDEF_AID:
            return self.ndef_command(command)
        if self.app == MDOC_AID:
            return self.mdoc_command(command)
        return status(SW.CONDITIONS_NOT_SATISFIED)

    def select_application(self, aid: bytes) -> bytes:
        self.app = aid if aid in (NDEF_AID, MDOC_AID) else None
        self.file = b""
        return status(SW.OK if self.app else SW.FILE_NOT_FOUND)

    # --- Type 4 Tag ----------------------------------------------------------------------

    def capability_container(self) -> bytes:
        max_command = min(self.wallet.nfc.max_command, 0xFFFF)
        return (
            b"\x00\x0f\x20"  # CCLEN 15, mapping version 2.0
            + self.mle.to_bytes(2, "big")
            + max_command.to_bytes(2, "big")
            + b"\x04\x06"  # NDEF File Control TLV
            + NDEF_FILE
            + NDEF_FILE_SIZE.to_bytes(2, "big")
            + b"\x00\xff"  # read: free; write: never
        )

    def ndef_command(self, command: Command) -> bytes:
        if command.ins == INS_SELECT and command.p1 == 0x00:
            files = {CC_FILE: self.capability_container(), NDEF_FILE: self.ndef}
            if command.data not in files:
                return status(SW.FILE_NOT_FOUND)
            self.file = files[command.data]
            return status(SW.OK)
        if command.ins == INS_READ_BINARY and self.file:
            offset = command.p1 << 8 | command.p2
            if offset > len(self.file):
                return status(SW.WRONG_P1P2)
            return self.file[offset : offset + min(command.ne or 0, self.mle)] + status(SW.OK)
        return status(SW.INS_NOT_SUPPORTED)

    # --- mdoc application ----------------------------------------------------------------

    def mdoc_command(self, command: Command) -> bytes:
        if len(command.data) > self.wallet.nfc.max_command:
            return status(SW.WRONG_LENGTH)
        if command.ins == INS_ENVELOPE and command.cla in (0x00, CLA_CHAINING):
            self.incoming += command.data
            if command.cla == CLA_CHAINING:
                return status(SW.OK)
            body, self.incoming = bytes(self.incoming), bytearray()
            try:
                header, length = parse_tlv_header(body[:5])
            except ApduError:
                return status(SW.WRONG_DATA)
            if header + length != len(body):
                return status(SW.WRONG_DATA)
            answer = self.wallet.handle(body[header:])
            self.outgoing = tlv_header(len(answer)) + answer if answer else b""
            return self.next_part(command.ne)
        if command.ins == INS_GET_RESPONSE and command.cla == 0x00:
            return self.next_part(command.ne)
        return status(SW.INS_NOT_SUPPORTED)

    def next_part(self, ne: int | None) -> bytes:
        size = min(ne or 0, self.wallet.nfc.max_response)
        part, self.outgoing = self.outgoing[:size], self.outgoing[size:]
        if not self.outgoing:
            return part + status(SW.OK)
        left = len(self.outgoing)
        return part + bytes((SW1_MORE_DATA, left if left < 256 else 0))
