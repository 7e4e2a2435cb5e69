"""The gate's offline verdict on a presented credential.

One entry point, :func:`verify`, takes a mobile presentation (DeviceResponse
plus the SessionTranscript of the session it came over) or a card
presentation (card object, the reader's challenge, the card's signature),
with the trust store, the status cache and the time. It returns a
:class:`Decision`. It never raises and never grants on an error path: every
check either passes or ends the verification with one denial reason.

The order is fixed so that a reason always means the same thing: structure,
document type, issuer chain, issuer signature, digests, possession of the
device or card key, validity period, status.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.credentials import card, cose, mdoc
from gateway.credentials.cbor import CborError, decode, decode_signed, expect_list
from gateway.credentials.csid import DOCTYPE, NAMESPACE, REQUIRED_ELEMENTS
from gateway.credentials.decision import CredentialKind, Decision, DenialReason, deny
from gateway.credentials.status_list import StatusCache, StatusOutcome, StatusReference
from gateway.credentials.trust import DocumentSigner, TrustStore, UntrustedIssuer

log = logging.getLogger(__name__)

# Credentials whose issuer side a gate remembers: about 3 KB each, so the
# default costs a few MB even on a Pi Zero 2 W, and covers a building's staff.
ISSUER_CACHE_SIZE = 2048


@dataclass(frozen=True, slots=True)
class MobilePresentation:
    device_response: bytes
    session_transcript: bytes  # the encoded SessionTranscript array
    # The reader's ephemeral private key: needed only when the phone answers with deviceMac.
    reader_key: ec.EllipticCurvePrivateKey | None = None


@dataclass(frozen=True, slots=True)
class CardPresentation:
    card_object: bytes
    challenge: bytes  # the encoded Challenge the reader sent
    signature: bytes | None  # None when the card could not or would not answer


@dataclass(frozen=True, slots=True)
class UidPresentation:
    uid: bytes


Presentation = MobilePresentation | CardPresentation | UidPresentation


@dataclass(frozen=True, slots=True)
class VerifierOptions:
    reader_id: str = ""
    doctype: str = DOCTYPE
    namespace: str = NAMESPACE
    # A card challenge older than this, or from further in the future, is not fresh.
    challenge_window: dt.timedelta = dt.timedelta(seconds=30)
    # Cards that cannot do challenge–response: refused unless a site opts in for migration.
    accept_static_card: bool = False


class _Denied(Exception):
    def __init__(self, reason: DenialReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class Verifier:
    """A gate's verifier: the trust store, the status cache, options, and a memory of issuers.

    A person taps the same gate every day, so the issuer side of a credential
    (IssuerAuth signature, MSO or card object, the device or card key) is
    remembered once it has been checked, keyed by the exact signed bytes and
    the signer's fingerprint. The DS is still checked against the trust store
    at every tap, so a removed anchor or a revoked DS takes effect at once;
    digests, possession of the key, validity and status are always checked.
    """

    def __init__(
        self,
        trust: TrustStore,
        status: StatusCache,
        options: VerifierOptions = VerifierOptions(),
        *,
        issuer_cache_size: int = ISSUER_CACHE_SIZE,
    ) -> None:
        self.trust = trust
        self.status = status
        self.options = options
        self._issuers = _IssuerMemory(issuer_cache_size)

    def verify(self, presentation: Presentation, now: dt.datetime) -> Decision:
        """The verdict on ``presentation`` at ``now``. Never raises."""
        kind = _kind(presentation)
        known: dict[str, Any] = {}
        try:
            if isinstance(presentation, MobilePresentation):
                return self._verify_mobile(presentation, now, known)
            if isinstance(presentation, CardPresentation):
                return self._verify_card(presentation, now, known)
            if isinstance(presentation, UidPresentation):
                raise _Denied(
                    DenialReason.UNSUPPORTED_DOCTYPE,
                    "UID-only credentials prove nothing and are refused (NIST SP 800-116)",
                )
            raise _Denied(
                DenialReason.MALFORMED, f"unknown presentation {type(presentation).__name__}"
            )
        except _Denied as denied:
            return deny(kind, denied.reason, denied.detail, **known)
        except Exception as exc:  # the last line of fail-closed: a bug must not open a door
            log.exception("verifier failed on hostile or unexpected input")
            detail = f"verifier error: {type(exc).__name__}"
            return deny(kind, DenialReason.MALFORMED, detail, **known)

    def _verify_mobile(
        self, presentation: MobilePresentation, now: dt.datetime, known: dict[str, Any]
    ) -> Decision:
        options = self.options
        try:
            documents = mdoc.parse_device_response(presentation.device_response)
            # Embedded verbatim in what the device signs, so its bytes are covered.
            transcript = expect_list(
                decode_signed(presentation.session_transcript), "SessionTranscript"
            )
        except (mdoc.MdocError, CborError) as exc:
            raise _Denied(DenialReason.MALFORMED, str(exc)) from exc
        if len(transcript) != 3:
            raise _Denied(DenialReason.MALFORMED, "SessionTranscript must have three elements")
        ours = [doc for doc in documents if doc.doctype == options.doctype]
        if not ours:
            found = ", ".join(doc.doctype for doc in documents) or "no documents"
            raise _Denied(
                DenialReason.UNSUPPORTED_DOCTYPE, f"expected {options.doctype}, got {found}"
            )
        doc = ours[0]
        signer = _signer(self.trust, doc.issuer_auth, now, known)
        remembered = self._issuers.get(signer, doc.issuer_auth)
        if remembered is None:
            remembered = _check_mobile_issuer(doc, signer)
            self._issuers.put(signer, doc.issuer_auth, remembered)
        mso, device_key = remembered
        claims = _disclosed_claims(doc, mso, options.namespace)
        _check_device_auth(doc, device_key, presentation, options)
        known["claims"] = claims
        return _finish(
            CredentialKind.MOBILE, claims, mso.validity, mso.status, self.status, now, known
        )

    def _verify_card(
        self, presentation: CardPresentation, now: dt.datetime, known: dict[str, Any]
    ) -> Decision:
        options = self.options
        try:
            issuer_auth = cose.parse_sign1(decode(presentation.card_object))
        except (CborError, cose.CoseError) as exc:
            raise _Denied(DenialReason.MALFORMED, f"card object: {exc}") from exc
        signer = _signer(self.trust, issuer_auth, now, known)
        remembered = self._issuers.get(signer, issuer_auth)
        if remembered is None:
            remembered = _check_card_issuer(issuer_auth, signer)
            self._issuers.put(signer, issuer_auth, remembered)
        card_object, card_key = remembered
        assurance = "possession"
        if presentation.signature is None:
            if not options.accept_static_card:
                raise _Denied(
                    DenialReason.DEVICE_AUTH_FAILED,
                    "card gave static data only; challenge–response is required",
                )
            assurance = "static"
        else:
            _check_card_challenge(presentation, card_key, now, options)
        claims = dict(card_object.claims)
        known["claims"] = claims
        known["assurance"] = assurance  # also on a denial: a stale one may become a grant
        decision = _finish(
            CredentialKind.CARD,
            claims,
            card_object.validity,
            card_object.status,
            self.status,
            now,
            known,
        )
        return dataclasses.replace(decision, assurance=assurance)


def verify(
    presentation: Presentation,
    *,
    trust: TrustStore,
    status: StatusCache,
    now: dt.datetime,
    options: VerifierOptions = VerifierOptions(),
) -> Decision:
    """One verdict, nothing remembered: for tools and tests. A gate keeps a :class:`Verifier`."""
    return Verifier(trust, status, options, issuer_cache_size=0).verify(presentation, now)


_IssuerSide = tuple[Any, ec.EllipticCurvePublicKey]
_IssuerKey = tuple[str, bytes, bytes | None, bytes]


class _IssuerMemory:
    """A bounded LRU of issuer sides already checked, keyed by every signed byte."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[_IssuerKey, _IssuerSide] = OrderedDict()

    @staticmethod
    def _key(signer: DocumentSigner, issuer_auth: cose.Sign1) -> _IssuerKey:
        return (
            signer.fingerprint,
            issuer_auth.protected_bytes,
            issuer_auth.payload,
            issuer_auth.signature,
        )

    def get(self, signer: DocumentSigner, issuer_auth: cose.Sign1) -> _IssuerSide | None:
        if not self._size:
            return None
        key = self._key(signer, issuer_auth)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, signer: DocumentSigner, issuer_auth: cose.Sign1, side: _IssuerSide) -> None:
        if not self._size:
            return
        self._entries[self._key(signer, issuer_auth)] = side
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)


def _check_mobile_issuer(
    doc: mdoc.Document, signer: DocumentSigner
) -> tuple[mdoc.MobileSecurityObject, ec.EllipticCurvePublicKey]:
    """IssuerAuth's signature, the MSO, and the device key it binds: once per credential."""
    if not cose.verify_es256(doc.issuer_auth, signer.public_key):
        raise _Denied(DenialReason.BAD_ISSUER_SIGNATURE, f"not signed by {signer.subject}")
    try:
        mso = mdoc.parse_mso(doc.issuer_auth)
    except mdoc.MdocError as exc:
        raise _Denied(DenialReason.MALFORMED, f"MobileSecurityObject: {exc}") from exc
    if mso.doctype != doc.doctype:
        raise _Denied(
            DenialReason.MALFORMED, f"MSO is for {mso.doctype}, document says {doc.doctype}"
        )
    _signed_while_signer_valid(mso.validity.signed, signer)
    return mso, _load_key(mso.device_key, "deviceKey")


def _check_card_issuer(
    issuer_auth: cose.Sign1, signer: DocumentSigner
) -> tuple[card.CardObject, ec.EllipticCurvePublicKey]:
    """The card object's signature, its content and the card key: once per card."""
    if not cose.verify_es256(issuer_auth, signer.public_key):
        raise _Denied(DenialReason.BAD_ISSUER_SIGNATURE, f"not signed by {signer.subject}")
    try:
        card_object = card.parse_card_object(issuer_auth)
    except card.CardError as exc:
        raise _Denied(DenialReason.MALFORMED, f"card object: {exc}") from exc
    _signed_while_signer_valid(card_object.validity.signed, signer)
    return card_object, _load_key(card_object.card_key, "cardKey")


def _kind(presentation: object) -> CredentialKind:
    if isinstance(presentation, CardPresentation):
        return CredentialKind.CARD
    if isinstance(presentation, UidPresentation):
        return CredentialKind.UID
    return CredentialKind.MOBILE


def _signer(
    trust: TrustStore, issuer_auth: cose.Sign1, now: dt.datetime, known: dict[str, Any]
) -> DocumentSigner:
    try:
        chain = issuer_auth.x5chain()
        signer = trust.document_signer(chain, now)
    except (cose.CoseError, UntrustedIssuer) as exc:
        raise _Denied(DenialReason.UNTRUSTED_ISSUER, str(exc)) from exc
    known["issuer"] = signer.issuer
    known["signer"] = signer.subject
    return signer


def _signed_while_signer_valid(signed: dt.datetime, signer: DocumentSigner) -> None:
    # A credential "signed" outside its signer's validity was made with a key
    # that should no longer (or not yet) be in use: 18013-5 §9.3.1.
    if not signer.not_before <= signed <= signer.not_after:
        raise _Denied(
            DenialReason.UNTRUSTED_ISSUER,
            f"signed {signed:%Y-%m-%dT%H:%M:%SZ}, outside the signer's validity",
        )


def _disclosed_claims(
    doc: mdoc.Document, mso: mdoc.MobileSecurityObject, namespace: str
) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    for ns, items in doc.namespaces.items():
        seen: set[int] = set()
        for item in items:
            if item.digest_id in seen:
                raise _Denied(DenialReason.MALFORMED, f"digestID {item.digest_id} repeated in {ns}")
            seen.add(item.digest_id)
            expected = mso.digest(ns, item.digest_id)
            if expected is None or not hmac.compare_digest(expected, item.digest):
                raise _Denied(
                    DenialReason.DIGEST_MISMATCH,
                    f"{ns}/{item.identifier} does not match the issuer's digest",
                )
            if ns == namespace:
                if item.identifier in claims:
                    raise _Denied(DenialReason.MALFORMED, f"{item.identifier} disclosed twice")
                claims[item.identifier] = item.value
    return claims


def _load_key(value: Any, what: str) -> ec.EllipticCurvePublicKey:
    try:
        return cose.cose_to_ec2_key(value)
    except cose.CoseError as exc:
        raise _Denied(DenialReason.MALFORMED, f"{what}: {exc}") from exc


def _check_device_auth(
    doc: mdoc.Document,
    device_key: ec.EllipticCurvePublicKey,
    presentation: MobilePresentation,
    options: VerifierOptions,
) -> None:
    signed = mdoc.device_authentication_bytes(
        presentation.session_transcript, doc.doctype, doc.device_namespaces_bytes
    )
    if doc.device_signature is not None:
        if not cose.verify_es256(doc.device_signature, device_key, detached_payload=signed):
            raise _Denied(
                DenialReason.DEVICE_AUTH_FAILED,
                "deviceSignature does not hold for this session",
            )
        return
    mac = doc.device_mac
    if mac is None or presentation.reader_key is None:
        raise _Denied(DenialReason.DEVICE_AUTH_FAILED, "deviceMac needs the reader's session key")
    try:
        protected = decode(mac[0])
    except CborError as exc:
        raise _Denied(DenialReason.MALFORMED, f"deviceMac header: {exc}") from exc
    if not isinstance(protected, dict) or protected.get(1) != mdoc.HMAC256:
        raise _Denied(DenialReason.DEVICE_AUTH_FAILED, "deviceMac algorithm is not HMAC 256/256")
    key = mdoc.mac_key(presentation.reader_key, device_key, presentation.session_transcript)
    if not hmac.compare_digest(mdoc.mac0_tag(key, mac[0], signed), mac[3]):
        raise _Denied(DenialReason.DEVICE_AUTH_FAILED, "deviceMac does not hold for this session")


def _check_card_challenge(
    presentation: CardPresentation,
    card_key: ec.EllipticCurvePublicKey,
    now: dt.datetime,
    options: VerifierOptions,
) -> None:
    try:
        challenge = card.Challenge.decode(presentation.challenge)
    except card.CardError as exc:
        raise _Denied(DenialReason.MALFORMED, f"challenge: {exc}") from exc
    if options.reader_id and challenge.reader_id != options.reader_id:
        raise _Denied(
            DenialReason.DEVICE_AUTH_FAILED,
            f"challenge was made by reader {challenge.reader_id!r}, not this one",
        )
    # Integers throughout: a hostile time of 2**1024 must not overflow a float.
    age = int(now.timestamp()) - challenge.issued_at
    if abs(age) > int(options.challenge_window.total_seconds()):
        raise _Denied(DenialReason.DEVICE_AUTH_FAILED, f"challenge time is {age} s from now")
    if presentation.signature is None or not card.challenge_signature_holds(
        card_key, presentation.challenge, presentation.signature
    ):
        raise _Denied(DenialReason.DEVICE_AUTH_FAILED, "card did not sign this challenge")


def _finish(
    kind: CredentialKind,
    claims: Mapping[str, Any],
    validity: mdoc.ValidityInfo,
    status_value: Any,
    status: StatusCache,
    now: dt.datetime,
    known: dict[str, Any],
) -> Decision:
    known["valid_until"] = validity.valid_until
    if now < validity.valid_from:
        raise _Denied(
            DenialReason.NOT_YET_VALID, f"valid from {validity.valid_from:%Y-%m-%d %H:%M}"
        )
    if now > validity.valid_until:
        raise _Denied(DenialReason.EXPIRED, f"expired {validity.valid_until:%Y-%m-%d %H:%M}")
    missing = [name for name in REQUIRED_ELEMENTS if not isinstance(claims.get(name), str)]
    if missing:
        raise _Denied(DenialReason.MALFORMED, f"required elements not disclosed: {missing}")
    if status_value is None:
        raise _Denied(DenialReason.UNKNOWN_STATUS, "credential carries no status reference")
    try:
        reference = StatusReference.from_cbor_value(status_value)
    except ValueError as exc:
        raise _Denied(DenialReason.MALFORMED, f"status reference: {exc}") from exc
    known["status_index"] = reference.idx
    known["status_uri"] = reference.uri
    outcome = status.lookup(reference, int(now.timestamp()))
    if outcome is not StatusOutcome.VALID:
        reason, detail = _STATUS_DENIALS[outcome]
        raise _Denied(reason, detail)
    return Decision(granted=True, kind=kind, **known)


_STATUS_DENIALS = {
    StatusOutcome.INVALID: (DenialReason.REVOKED, "status list says INVALID"),
    StatusOutcome.SUSPENDED: (DenialReason.SUSPENDED, "status list says SUSPENDED"),
    StatusOutcome.UNKNOWN: (DenialReason.UNKNOWN_STATUS, "no status list covers this credential"),
    StatusOutcome.STALE: (DenialReason.STALE_STATUS, "the status list is past its lifetime"),
}
