"""The reader side of an ISO/IEC 18013-5 session (§9.1.1): keys, encryption, messages.

After engagement the reader makes an ephemeral key (EReaderKey) and fixes the
SessionTranscript ``[DeviceEngagementBytes, EReaderKeyBytes, Handover]``. Both
sides derive the session keys from ECDH(EReaderKey, EDeviceKey) with
HKDF-SHA256, salted with SHA-256 of ``SessionTranscriptBytes``: ``SKReader``
encrypts what the reader sends, ``SKDevice`` what the mdoc sends. Messages
are AES-256-GCM with a 12-byte IV: an 8-byte identifier (0 for the reader, 1
for the mdoc) and a 4-byte message counter that starts at 1 on each side.

The first message is SessionEstablishment ``{"eReaderKey", "data"}``; every
later one is SessionData ``{? "data", ? "status"}``. Status 10 and 11 are the
mdoc's errors, 20 ends the session.

A counter never repeats: a message that does not decrypt under the next
expected counter (a replay, a flipped bit, another key) ends the session.
Hostile input raises :class:`ReadFailure` and nothing else: ``protocol_error``
for bytes that are not the structure, ``session_error`` for everything the
cryptography or the holder refuses.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.credentials import cose, mdoc
from gateway.credentials.cbor import CborError, decode, encode, expect_map, untag24, wrapped_bytes
from gateway.node.proximity.engagement import DeviceEngagement
from gateway.node.readers.failure import ReadFailure, ReadFailureReason

READER_IDENTIFIER = bytes(8)
DEVICE_IDENTIFIER = bytes(7) + b"\x01"
STATUS_ENCRYPTION_ERROR = 10
STATUS_DECODING_ERROR = 11
STATUS_TERMINATION = 20
STATUS_MEANING = {
    STATUS_ENCRYPTION_ERROR: "session encryption error",
    STATUS_DECODING_ERROR: "CBOR decoding error",
    STATUS_TERMINATION: "session termination",
}
MAX_COUNTER = 0xFFFFFFFF
MAX_MESSAGE = 1 << 20  # a DeviceResponse with a portrait is tens of KB


def _protocol(detail: str) -> ReadFailure:
    return ReadFailure(ReadFailureReason.PROTOCOL_ERROR, detail)


def _session(detail: str) -> ReadFailure:
    return ReadFailure(ReadFailureReason.SESSION_ERROR, detail)


def session_keys(
    private: ec.EllipticCurvePrivateKey, peer: ec.EllipticCurvePublicKey, transcript: bytes
) -> tuple[bytes, bytes]:
    """(SKReader, SKDevice) for the encoded SessionTranscript ``transcript`` (§9.1.5.2)."""
    shared = private.exchange(ec.ECDH(), peer)
    salt = hashlib.sha256(wrapped_bytes(transcript)).digest()  # SessionTranscriptBytes

    def derive(info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(shared)

    return derive(b"SKReader"), derive(b"SKDevice")


class SessionCipher:
    """AES-256-GCM in one direction each way, with the counters of §9.1.1.5."""

    def __init__(
        self, send_key: bytes, send_identifier: bytes, receive_key: bytes, receive_identifier: bytes
    ) -> None:
        self._send = AESGCM(send_key)
        self._receive = AESGCM(receive_key)
        self._send_identifier = send_identifier
        self._receive_identifier = receive_identifier
        self.sent = 0  # messages encrypted so far; the next IV uses sent + 1
        self.received = 0

    @classmethod
    def for_reader(cls, sk_reader: bytes, sk_device: bytes) -> SessionCipher:
        return cls(sk_reader, READER_IDENTIFIER, sk_device, DEVICE_IDENTIFIER)

    @classmethod
    def for_device(cls, sk_reader: bytes, sk_device: bytes) -> SessionCipher:
        return cls(sk_device, DEVICE_IDENTIFIER, sk_reader, READER_IDENTIFIER)

    def seal(self, plaintext: bytes) -> bytes:
        if self.sent >= MAX_COUNTER:
            raise _session("message counter exhausted")
        self.sent += 1
        iv = self._send_identifier + self.sent.to_bytes(4, "big")
        return self._send.encrypt(iv, plaintext, None)

    def unseal(self, ciphertext: bytes) -> bytes:
        """Decrypt the next message. The counter moves on either way: no IV is tried twice."""
        if self.received >= MAX_COUNTER:
            raise _session("message counter exhausted")
        self.received += 1
        iv = self._receive_identifier + self.received.to_bytes(4, "big")
        try:
            return self._receive.decrypt(iv, ciphertext, None)
        except (InvalidTag, ValueError):
            raise _session(f"message {self.received} does not decrypt") from None


# --- Messages ---------------------------------------------------------------------


def encode_session_establishment(e_reader_key_bytes: bytes, ciphertext: bytes) -> bytes:
    """SessionEstablishment, keys in the order of the standard's example (Annex D.5.1)."""
    return (
        b"\xa2"
        + encode("eReaderKey")
        + wrapped_bytes(e_reader_key_bytes)
        + encode("data")
        + encode(ciphertext)
    )


def parse_session_establishment(message: bytes) -> tuple[bytes, ec.EllipticCurvePublicKey, bytes]:
    """(EReaderKeyBytes content as received, EReaderKey, ciphertext)."""
    fields = _message(message, "SessionEstablishment")
    if set(fields) != {"eReaderKey", "data"}:
        raise _protocol("SessionEstablishment must hold exactly eReaderKey and data")
    ciphertext = fields["data"]
    if not isinstance(ciphertext, bytes):
        raise _protocol("SessionEstablishment data must be a byte string")
    try:
        key_bytes = untag24(fields["eReaderKey"], "EReaderKeyBytes")
        key = cose.cose_to_ec2_key(decode(key_bytes))
    except (CborError, cose.CoseError) as exc:
        raise _protocol(f"SessionEstablishment: {exc}") from exc
    return key_bytes, key, ciphertext


def encode_session_data(ciphertext: bytes | None = None, status: int | None = None) -> bytes:
    value: dict[str, Any] = {}
    if ciphertext is not None:
        value["data"] = ciphertext
    if status is not None:
        value["status"] = status
    if not value:
        raise ValueError("SessionData needs data, status or both")
    return encode(value)


def parse_session_data(message: bytes) -> tuple[bytes | None, int | None]:
    """(ciphertext or None, status or None); at least one is present."""
    fields = _message(message, "SessionData")
    if not fields or set(fields) - {"data", "status"}:
        raise _protocol("SessionData must hold data, status or both, and nothing else")
    ciphertext, status = fields.get("data"), fields.get("status")
    if ciphertext is not None and not isinstance(ciphertext, bytes):
        raise _protocol("SessionData data must be a byte string")
    if status is not None and (type(status) is not int or status not in STATUS_MEANING):
        raise _protocol(f"SessionData status {status!r} is not 10, 11 or 20")
    return ciphertext, status


def _message(message: bytes, what: str) -> dict[Any, Any]:
    if not isinstance(message, bytes) or len(message) > MAX_MESSAGE:
        raise _protocol(f"{what} missing or too long")
    try:
        return expect_map(decode(message), what)
    except CborError as exc:
        raise _protocol(f"{what}: {exc}") from exc


# --- The reader -------------------------------------------------------------------


class ReaderSession:
    """One session with one phone: send requests, open its answers.

    ``transcript`` (the encoded SessionTranscript) is what the verifier checks
    the device signature against: pass it with the DeviceResponse in a
    ``MobilePresentation``.
    """

    def __init__(
        self,
        engagement: DeviceEngagement,
        handover: Any,
        *,
        reader_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> None:
        self.engagement = engagement
        self.handover = handover
        self.reader_key = reader_key or ec.generate_private_key(ec.SECP256R1())
        public = self.reader_key.public_key()
        self._e_reader_key_bytes = encode(cose.ec2_key_to_cose(public))
        self.transcript = mdoc.session_transcript(engagement.raw, public, handover)
        sk_reader, sk_device = session_keys(
            self.reader_key, engagement.e_device_key, self.transcript
        )
        self._cipher = SessionCipher.for_reader(sk_reader, sk_device)
        self._ended = False

    @property
    def ended(self) -> bool:
        """True once either side ended the session or it failed; nothing more gets through."""
        return self._ended

    def establishment(self, device_request: bytes) -> bytes:
        """SessionEstablishment carrying the first DeviceRequest."""
        if self._cipher.sent:
            raise _protocol("the session is already established; use request()")
        return encode_session_establishment(self._e_reader_key_bytes, self._seal(device_request))

    def request(self, device_request: bytes) -> bytes:
        """SessionData carrying a further DeviceRequest in the same session."""
        if not self._cipher.sent:
            raise _protocol("send the SessionEstablishment first")
        return encode_session_data(self._seal(device_request))

    def _seal(self, plaintext: bytes) -> bytes:
        if self._ended:
            raise _session("the session has ended")
        return self._cipher.seal(plaintext)

    def open(self, session_data: bytes) -> bytes:
        """The DeviceResponse inside the phone's SessionData. Raises ReadFailure otherwise."""
        if self._ended:
            raise _session("the session has ended")
        if self._cipher.received >= self._cipher.sent:
            self._ended = True
            raise _protocol("SessionData from the mdoc without an outstanding request")
        try:
            ciphertext, status = parse_session_data(session_data)
            if status in (STATUS_ENCRYPTION_ERROR, STATUS_DECODING_ERROR):
                raise _session(f"the mdoc reported status {status} ({STATUS_MEANING[status]})")
            if ciphertext is None:
                raise _session("the mdoc ended the session (status 20) without answering")
            plaintext = self._cipher.unseal(ciphertext)
        except ReadFailure:
            self._ended = True
            raise
        # Status 20 with data: the answer, and the last word.
        self._ended = status == STATUS_TERMINATION
        return plaintext

    def termination(self) -> bytes:
        """SessionData ``{"status": 20}``: the reader ends the session (§9.1.1.4)."""
        self._ended = True
        return encode_session_data(status=STATUS_TERMINATION)
