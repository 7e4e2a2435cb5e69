"""The virtual chip ID card: the card application the gate's card reader talks to.

Use an instance as the ``responder`` of an :class:`~simulator.holder.nfc_target.NfcTarget`.

* :class:`ChipCard` — the genuine card: SELECT of the card AID, READ BINARY of
  the card object (BER-TLV 53, short or extended Le), INTERNAL AUTHENTICATE
  signing the reader's challenge with the key that never leaves the chip.
* :class:`ClonedCard` — the card object copied onto a blank card without the
  key: it answers INTERNAL AUTHENTICATE with a replayed signature (one
  recorded from the genuine card) or with random bytes.
* :class:`StaticCard` — a legacy card that stores the object but cannot sign
  (INTERNAL AUTHENTICATE is 6D00).
* :class:`UidOnlyCard` — an ISO-DEP card (transit, bank) without our
  application: SELECT answers 6A82, so only its UID is seen.

``declared_length`` makes the card lie about the object's length in its TLV
header, for tests of the reader's bounds.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.credentials.card import sign_challenge
from gateway.node.readers.apdu import (
    INS_INTERNAL_AUTHENTICATE,
    INS_READ_BINARY,
    INS_SELECT,
    SW,
    ApduError,
    Command,
    status,
    tlv_header,
)
from gateway.node.readers.card_nfc import CARD_AID


class ChipCard:
    def __init__(
        self,
        card_object: bytes,
        card_key: ec.EllipticCurvePrivateKey | None,
        *,
        declared_length: int | None = None,
    ) -> None:
        self.card_object = card_object
        self.card_key = card_key
        length = len(card_object) if declared_length is None else declared_length
        self.file = tlv_header(length) + card_object
        self.selected = False
        self.signatures: list[bytes] = []  # what this card answered, for a clone to replay

    def activated(self) -> None:
        """A new session: nothing is selected."""
        self.selected = False

    def __call__(self, apdu: bytes) -> bytes:
        try:
            command = Command.parse(apdu)
        except ApduError:
            return status(SW.WRONG_LENGTH)
        if command.cla != 0x00:
            return status(SW.CLA_NOT_SUPPORTED)
        if command.ins == INS_SELECT and command.p1 == 0x04:
            return self.select(command)
        if not self.selected:
            return status(SW.CONDITIONS_NOT_SATISFIED)
        if command.ins == INS_READ_BINARY:
            return self.read_binary(command)
        if command.ins == INS_INTERNAL_AUTHENTICATE:
            return self.authenticate(command.data)
        return status(SW.INS_NOT_SUPPORTED)

    def select(self, command: Command) -> bytes:
        self.selected = command.data == CARD_AID
        return status(SW.OK if self.selected else SW.FILE_NOT_FOUND)

    def read_binary(self, command: Command) -> bytes:
        if command.p1 & 0x80:
            return status(SW.FUNCTION_NOT_SUPPORTED)  # short EF identifier: not on this card
        offset = command.p1 << 8 | command.p2
        if offset > len(self.file):
            return status(SW.WRONG_P1P2)
        wanted = command.ne or 0
        chunk = self.file[offset : offset + wanted]
        return chunk + status(SW.OK if len(chunk) == wanted else SW.END_OF_FILE)

    def authenticate(self, challenge: bytes) -> bytes:
        if self.card_key is None:
            return status(SW.SECURITY_NOT_SATISFIED)
        signature = sign_challenge(self.card_key, challenge)
        self.signatures.append(signature)
        return signature + status(SW.OK)


class ClonedCard(ChipCard):
    """The object without the key: replays ``replayed`` (or random bytes) as its signature."""

    def __init__(self, card_object: bytes, replayed: bytes | None = None) -> None:
        super().__init__(card_object, None)
        self.replayed = replayed

    def authenticate(self, challenge: bytes) -> bytes:
        return (self.replayed or os.urandom(64)) + status(SW.OK)


class StaticCard(ChipCard):
    """Stores the object, cannot answer a challenge."""

    def __init__(self, card_object: bytes) -> None:
        super().__init__(card_object, None)

    def authenticate(self, challenge: bytes) -> bytes:
        return status(SW.INS_NOT_SUPPORTED)


class UidOnlyCard:
    """An ISO-DEP card that has no civil-servant application at all."""

    def activated(self) -> None:
        pass

    def __call__(self, apdu: bytes) -> bytes:
        try:
            command = Command.parse(apdu)
        except ApduError:
            return status(SW.WRONG_LENGTH)
        if command.ins == INS_SELECT:
            return status(SW.FILE_NOT_FOUND)
        return status(SW.INS_NOT_SUPPORTED)
