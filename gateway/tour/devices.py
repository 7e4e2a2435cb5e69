"""The tour's hardware, simulated: phones, chip cards, their forgeries, and one gate.

Every object here runs the real code: a phone answers with
:func:`gateway.credentials.mdoc.present`, a card signs with
:func:`gateway.credentials.card.sign_challenge`, and the gate decides with
:func:`gateway.credentials.verifier.verify`. Only the radio is missing: the
bytes go straight from the device to the gate, without 18013-5 session
encryption (which protects the link, not the verdict).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.credentials import card, cose, mdoc
from gateway.credentials.cbor import decode, encode, expect_list, expect_map, tag24, untag24
from gateway.credentials.csid import DOCTYPE, DOOR_ELEMENTS, NAMESPACE
from gateway.credentials.decision import Decision
from gateway.credentials.status_list import StatusCache, StatusListToken
from gateway.credentials.status_signer import status_signer_key
from gateway.credentials.trust import TrustStore
from gateway.credentials.verifier import (
    CardPresentation,
    MobilePresentation,
    Presentation,
    Verifier,
    VerifierOptions,
)


def new_key() -> ec.EllipticCurvePrivateKey:
    """A P-256 key, as a phone's secure element or a chip makes one."""
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True, slots=True)
class Session:
    """One tap's 18013-5 session: the reader's fresh ephemeral key and the transcript."""

    reader_key: ec.EllipticCurvePrivateKey
    transcript: bytes


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    cpu_us: float  # process CPU time spent in verify()


class Gate:
    """A speed-gate reader: the IACAs it trusts and the newest status list it was sent."""

    def __init__(
        self,
        reader_id: str,
        *,
        anchors: Iterable[x509.Certificate],
        status_signer: x509.Certificate,
        status_uri: str,
        now: dt.datetime,
    ) -> None:
        anchors = list(anchors)
        self.reader_id = reader_id
        self.trust = TrustStore(anchors)
        self.status_uri = status_uri
        self.status = StatusCache({status_uri: status_signer_key(anchors, [status_signer], now)})
        self.verifier = Verifier(self.trust, self.status, VerifierOptions(reader_id=reader_id))
        # What a door asks for: no name, no portrait.
        self.request: Mapping[str, tuple[str, ...]] = {NAMESPACE: DOOR_ELEMENTS}

    def apply(self, token: bytes, now: dt.datetime) -> StatusListToken:
        """Take a Status List Token; raises StatusListError on a forged or older one."""
        return self.status.apply(token, int(now.timestamp()))

    def held_token(self) -> StatusListToken | None:
        return self.status.token(self.status_uri)

    def open_session(self, device_engagement: bytes) -> Session:
        """A new reader ephemeral key for every tap, hence a new SessionTranscript."""
        reader_key = new_key()
        transcript = mdoc.session_transcript(device_engagement, reader_key.public_key(), None)
        return Session(reader_key, transcript)

    def challenge(self, now: dt.datetime) -> bytes:
        return card.Challenge.fresh(self.reader_id, now).encode()

    def verify(self, presentation: Presentation, now: dt.datetime) -> Verdict:
        start = time.process_time_ns()
        decision = self.verifier.verify(presentation, now)
        return Verdict(decision, (time.process_time_ns() - start) / 1000)


class Device(Protocol):
    """Anything that can be held to the gate."""

    def present(self, gate: Gate, now: dt.datetime) -> Presentation: ...


def device_engagement() -> bytes:
    """DeviceEngagement (18013-5 §8.2.1.1): version and a fresh EDeviceKey, as a phone shows it."""
    e_device = new_key().public_key()
    return encode({0: "1.0", 1: [1, tag24(encode(cose.ec2_key_to_cose(e_device)))]})


@dataclass
class Phone:
    """A phone with its own device key; ``issuer_signed`` is what the authority issued to it."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=new_key)
    issuer_signed: bytes = b""
    last_response: bytes = b""  # what an eavesdropper at the last tap could record

    def present(self, gate: Gate, now: dt.datetime) -> MobilePresentation:
        session = gate.open_session(device_engagement())
        self.last_response = mdoc.present(
            self.issuer_signed,
            self.key,
            session.transcript,
            doctype=DOCTYPE,
            requested=gate.request,
        )
        return MobilePresentation(self.last_response, session.transcript)


@dataclass
class ReplayingPhone:
    """Plays back a DeviceResponse recorded at an earlier tap into a new session."""

    recorded: bytes

    def present(self, gate: Gate, now: dt.datetime) -> MobilePresentation:
        session = gate.open_session(device_engagement())
        return MobilePresentation(self.recorded, session.transcript)


@dataclass
class Card:
    """A chip card: the card object and a key that never leaves the chip."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=new_key)
    card_object: bytes = b""
    last_answer: bytes = b""  # what a skimmer at the last tap could record

    def present(self, gate: Gate, now: dt.datetime) -> CardPresentation:
        challenge = gate.challenge(now)
        self.last_answer = card.sign_challenge(self.key, challenge)
        return CardPresentation(self.card_object, challenge, self.last_answer)


@dataclass
class ClonedCard:
    """A blank chip with a copied card object; without the key it replays a skimmed answer."""

    card_object: bytes
    skimmed_answer: bytes

    def present(self, gate: Gate, now: dt.datetime) -> CardPresentation:
        return CardPresentation(self.card_object, gate.challenge(now), self.skimmed_answer)


def tamper(issuer_signed: bytes, element: str, value: Any) -> bytes:
    """``issuer_signed`` with one disclosed element's value changed, as a rooted phone could.

    The IssuerSignedItem is re-encoded with the new value; the MSO, whose
    digest covers the original item, is left as the issuer signed it.
    """
    stored = expect_map(decode(issuer_signed), "IssuerSigned")
    namespaces = expect_map(stored["nameSpaces"], "nameSpaces")
    changed = False
    for namespace, items in namespaces.items():
        rewritten = []
        for wrapped in expect_list(items, namespace):
            item = expect_map(decode(untag24(wrapped, "item")), "IssuerSignedItem")
            if item["elementIdentifier"] == element:
                item["elementValue"] = value
                rewritten.append(tag24(encode(item)))
                changed = True
            else:
                rewritten.append(wrapped)
        namespaces[namespace] = rewritten
    if not changed:
        raise ValueError(f"no element {element!r} to tamper with")
    return encode({"nameSpaces": namespaces, "issuerAuth": stored["issuerAuth"]})
