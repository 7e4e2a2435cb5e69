"""The virtual phone: an ISO/IEC 18013-5 mdoc holder, speaking the same bytes as a real wallet app.

A :class:`Wallet` holds mdocs (IssuerSigned bytes and the device private key
each is bound to). For every engagement it makes a fresh EDeviceKey and shows
a DeviceEngagement (as a QR code or in the static-handover NDEF message an
NFC reader reads). :meth:`Wallet.handle` then takes each message the reader
sends and returns the reply:

* SessionEstablishment: derive SKReader/SKDevice, decrypt the DeviceRequest,
  answer with a DeviceResponse that discloses only the requested elements of
  the requested docType, signed over this session's transcript, encrypted
  with SKDevice;
* SessionData: a further request, or status 20 (the reader ends the session:
  the reply is ``b""``, nothing to send);
* anything that does not decrypt or decode ends the session with status 10
  or 11, as §9.1.1.5 says.

The transports (nfcpy udp, fake bleak, in memory) move these bytes; they read
:attr:`Wallet.delay` to make the phone answer late through their own clocks.
No sleeping happens here.

The gate never imports this package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.credentials import cose, mdoc
from gateway.credentials.cbor import decode, encode, tag24, untag24
from gateway.node.proximity.engagement import (
    BleOptions,
    NfcOptions,
    build_device_engagement,
    qr_uri,
)
from gateway.node.proximity.handover import build_handover_select
from gateway.node.proximity.request import DeviceRequest, DocRequest, parse_device_request
from gateway.node.proximity.session import (
    STATUS_DECODING_ERROR,
    STATUS_ENCRYPTION_ERROR,
    SessionCipher,
    encode_session_data,
    parse_session_data,
    parse_session_establishment,
    session_keys,
)
from gateway.node.readers.failure import ReadFailure

# What a phone with extended-length APDUs takes (§8.2.2.2 NFC carrier record).
DEFAULT_NFC = NfcOptions(max_command=0xFFFF, max_response=0x10000)
DEVICE_RESPONSE_DECODING_ERROR = 11  # DeviceResponse status: the request did not decode


@dataclass(frozen=True, slots=True)
class HeldDocument:
    issuer_signed: bytes
    device_key: ec.EllipticCurvePrivateKey
    doctype: str  # read from the issuer-signed MSO


def held(issuer_signed: bytes, device_key: ec.EllipticCurvePrivateKey) -> HeldDocument:
    issuer_auth = cose.parse_sign1(decode(issuer_signed)["issuerAuth"])
    return HeldDocument(issuer_signed, device_key, mdoc.parse_mso(issuer_auth).doctype)


class Wallet:
    """An honest mdoc app. Subclasses below misbehave in one way each."""

    def __init__(
        self,
        documents: Sequence[tuple[bytes, ec.EllipticCurvePrivateKey]],
        *,
        nfc: NfcOptions = DEFAULT_NFC,
        delay: float = 0.0,
    ) -> None:
        self.documents = [held(issuer_signed, key) for issuer_signed, key in documents]
        self.nfc = nfc
        self.delay = delay  # seconds before each answer; transports apply it via their clocks
        self.requests: list[DeviceRequest] = []  # what readers asked for, in order
        self.responses: list[bytes] = []  # DeviceResponses sent (before encryption)
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._engagement = b""
        self._ble: BleOptions | None = None
        self._handover: Any = None
        self._cipher: SessionCipher | None = None
        self.transcript: bytes | None = None  # of the session under way

    # --- engagement -----------------------------------------------------------------

    def engagement(self, *, ble_uuid: UUID | None = None) -> bytes:
        """Start a new session: a fresh EDeviceKey, and the DeviceEngagement bytes to show.

        With ``ble_uuid`` the phone offers BLE mdoc peripheral server mode under
        that service UUID. Until :meth:`handover_select` is called the
        engagement counts as a QR code one (Handover null).
        """
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._ble = None if ble_uuid is None else BleOptions(True, False, ble_uuid)
        self._engagement = build_device_engagement(self._key.public_key(), ble=self._ble)
        self._handover = None
        self._cipher = None
        self.transcript = None
        return self._engagement

    def handover_select(self) -> bytes:
        """The NDEF Handover Select message in the phone's NDEF file (static handover)."""
        if self._key is None:
            self.engagement()
        message = build_handover_select(self._engagement, nfc=self.nfc, ble=self._ble)
        self._handover = [message, None]
        return message

    def qr(self) -> str:
        """The ``mdoc:`` URI of the current engagement (Handover null)."""
        if self._key is None:
            self.engagement()
        self._handover = None
        return qr_uri(self._engagement)

    # --- session --------------------------------------------------------------------

    def handle(self, message: bytes) -> bytes:
        """The reply to one message from the reader; ``b""`` when there is nothing to send."""
        if self._cipher is None:
            return self._establish(message)
        try:
            ciphertext, status = parse_session_data(message)
        except ReadFailure:
            return self._end(STATUS_DECODING_ERROR)
        if status is not None or ciphertext is None:
            self._end(None)  # the reader ended the session (20) or reported an error
            return b""
        try:
            request = self._cipher.unseal(ciphertext)
        except ReadFailure:
            return self._end(STATUS_ENCRYPTION_ERROR)
        return self._answer(request)

    def _establish(self, message: bytes) -> bytes:
        if self._key is None:
            return encode_session_data(status=STATUS_ENCRYPTION_ERROR)
        try:
            key_bytes, reader_key, ciphertext = parse_session_establishment(message)
        except ReadFailure:
            return self._end(STATUS_DECODING_ERROR)
        # EReaderKeyBytes as received, not re-encoded: the transcript is what both sign.
        transcript = encode([tag24(self._engagement), tag24(key_bytes), self._handover])
        cipher = SessionCipher.for_device(*session_keys(self._key, reader_key, transcript))
        try:
            request = cipher.unseal(ciphertext)
        except ReadFailure:
            return self._end(STATUS_ENCRYPTION_ERROR)
        self._cipher, self.transcript = cipher, transcript
        return self._answer(request)

    def _end(self, status: int | None) -> bytes:
        self._key, self._cipher = None, None  # a new engagement is needed
        return b"" if status is None else encode_session_data(status=status)

    def _answer(self, request_bytes: bytes) -> bytes:
        assert self._cipher is not None
        try:
            request = parse_device_request(request_bytes)
        except ReadFailure:
            response = encode({"version": "1.0", "status": DEVICE_RESPONSE_DECODING_ERROR})
        else:
            self.requests.append(request)
            response = self.respond(request)
        self.responses.append(response)
        return encode_session_data(self._cipher.seal(response))

    # --- what to disclose -------------------------------------------------------------

    def respond(self, request: DeviceRequest) -> bytes:
        """The DeviceResponse: the first requested docType held, only the elements asked for."""
        assert self.transcript is not None
        for doc_request in request.doc_requests:
            document = self.select(doc_request)
            if document is not None:
                return mdoc.present(
                    self.issuer_signed_for(document),
                    document.device_key,
                    self.transcript,
                    doctype=document.doctype,
                    requested=doc_request.requested(),
                )
        errors = [{doc.doctype: 0} for doc in request.doc_requests]  # 0: data not returned
        return encode({"version": "1.0", "documentErrors": errors, "status": 0})

    def select(self, doc_request: DocRequest) -> HeldDocument | None:
        return next((d for d in self.documents if d.doctype == doc_request.doctype), None)

    def issuer_signed_for(self, document: HeldDocument) -> bytes:
        return document.issuer_signed


# --- adversaries ----------------------------------------------------------------------


class ReplayWallet(Wallet):
    """Answers every session after the first with the DeviceResponse of the first.

    The session layer is honest (a relay or a cloned app can do that much), so
    the gate sees a well-formed response whose device signature covers another
    session's transcript: ``device_auth_failed``. Pass ``recorded`` to replay a
    response captured elsewhere.
    """

    def __init__(self, *args: Any, recorded: bytes | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recorded = recorded

    def respond(self, request: DeviceRequest) -> bytes:
        if self.recorded is None:
            self.recorded = super().respond(request)
        return self.recorded


class TamperingWallet(Wallet):
    """Changes one disclosed element's value after issuance: ``digest_mismatch``."""

    def __init__(
        self, *args: Any, element: str = "position", value: Any = "장관", **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.element = element
        self.value = value

    def issuer_signed_for(self, document: HeldDocument) -> bytes:
        stored = decode(document.issuer_signed)  # a fresh copy to change
        for items in stored["nameSpaces"].values():
            for index, wrapped in enumerate(items):
                item = decode(untag24(wrapped, "IssuerSignedItemBytes"))
                if item["elementIdentifier"] == self.element:
                    item["elementValue"] = self.value
                    items[index] = tag24(encode(item))
        return encode(stored)


class WrongDoctypeWallet(Wallet):
    """Presents whatever it holds, whatever was asked: ``unsupported_doctype``."""

    def select(self, doc_request: DocRequest) -> HeldDocument | None:
        return self.documents[0] if self.documents else None


class SlowWallet(Wallet):
    """Answers correctly but late, as a relay does. ``delay`` is honoured by the transports."""

    def __init__(self, *args: Any, delay: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, delay=delay, **kwargs)
