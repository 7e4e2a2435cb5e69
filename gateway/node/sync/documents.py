"""Opening the site documents the policy signer signs: policy, posture and trust anchors.

Each function verifies, validates and checks the version against what is
installed, and returns what to install, or None when the message is the very
one installed (retained messages come back on every reconnect). Every refusal
is a :class:`SyncRefused` with one stable reason.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel

from gateway.credentials import cose
from gateway.credentials.cbor import CborError, decode
from gateway.credentials.status_signer import status_signer_key
from gateway.credentials.trust import TrustStore, UntrustedIssuer
from gateway.mqtt.payloads import PostureState, TrustAnchors
from gateway.mqtt.signed import (
    CT_POSTURE,
    CT_TRUST_ANCHORS,
    MAX_MESSAGE_BYTES,
    SignedMessageError,
    open_message,
)
from gateway.node.policy import GateState, LoadedPolicy, PolicyError, Posture, load_signed
from gateway.node.policy.signed import CONTENT_TYPE as POLICY_CONTENT_TYPE
from gateway.node.policy.signed import parse_document
from gateway.node.sync.events import SyncRefused
from gateway.node.sync.keys import key_id

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class AppliedPosture:
    """A verified posture, in the policy engine's terms."""

    version: int
    issued_at: dt.datetime
    posture: Posture
    building_postures: Mapping[str, Posture]
    drill: bool  # act on it as given; the node logs its decisions as a drill
    reason: str | None

    @classmethod
    def from_message(cls, state: PostureState) -> AppliedPosture:
        return cls(
            version=state.version,
            issued_at=state.issued_at,
            posture=Posture(state.posture),
            building_postures={b: Posture(p) for b, p in state.buildings.items()},
            drill=state.drill,
            reason=state.reason,
        )

    def applied_to(self, state: GateState) -> GateState:
        """``state`` with this posture in force (occupancy untouched)."""
        return replace(state, posture=self.posture, building_postures=dict(self.building_postures))


@dataclass(frozen=True, slots=True)
class Anchors:
    """A verified trust-anchor set, ready to swap into the verifier."""

    message: TrustAnchors
    trust: TrustStore
    status_keys: tuple[ec.EllipticCurvePublicKey, ...]


def _open_signed(
    data: bytes, key: ec.EllipticCurvePublicKey, content_type: str, model: type[M]
) -> M:
    try:
        message, _kid = open_message(
            data, {key_id(key): key}, content_type=content_type, model=model
        )
    except SignedMessageError as exc:
        raise SyncRefused(exc.reason, exc.detail) from exc
    return message


def _forward(what: str, version: int, held: int | None, same_bytes: bool) -> bool:
    """True to install; False for the installed message again; refuses anything else."""
    if held is None or version > held:
        return True
    if version == held and same_bytes:
        return False
    relation = "older than" if version < held else "the same version as, but different from,"
    raise SyncRefused("rollback", f"{what} version {version} is {relation} the installed {held}")


def open_posture(
    data: bytes,
    key: ec.EllipticCurvePublicKey,
    site: str,
    held: tuple[PostureState, bytes] | None,
) -> PostureState | None:
    state = _open_signed(data, key, CT_POSTURE, PostureState)
    if state.site != site:
        raise SyncRefused("wrong_site", f"posture for site {state.site!r}, this is {site!r}")
    installed = None if held is None else held[0].version
    return (
        state
        if _forward("posture", state.version, installed, held is not None and held[1] == data)
        else None
    )


def _certificates(field: str, values: list[str]) -> list[x509.Certificate]:
    certs = []
    for index, value in enumerate(values):
        try:
            der = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            raise SyncRefused(
                "invalid", f"{field}.{index} is not a DER certificate: {exc}"
            ) from exc
    return certs


def open_trust_anchors(
    data: bytes,
    key: ec.EllipticCurvePublicKey,
    site: str,
    held: tuple[TrustAnchors, bytes] | None,
    now: dt.datetime,
) -> Anchors | None:
    message = _open_signed(data, key, CT_TRUST_ANCHORS, TrustAnchors)
    if message.site != site:
        raise SyncRefused(
            "wrong_site", f"trust anchors for site {message.site!r}, this is {site!r}"
        )
    installed = None if held is None else held[0].version
    if not _forward(
        "trust anchors", message.version, installed, held is not None and held[1] == data
    ):
        return None
    iaca = _certificates("iaca", message.iaca)
    roots = iaca + _certificates("card_roots", message.card_roots)
    signers = _certificates("status_list_signers", message.status_list_signers)
    if not iaca or not signers:
        # Signed, but a node left with no issuer or no status signer would refuse
        # everyone until the next set: a mistake to report, not to install.
        raise SyncRefused("invalid", "trust anchors need at least one IACA and one status signer")
    try:
        trust = TrustStore(roots)
        status_keys = tuple(status_signer_key(iaca, [cert], now) for cert in signers)
    except (ValueError, UntrustedIssuer) as exc:
        raise SyncRefused("invalid", f"trust anchors do not hold together: {exc}") from exc
    return Anchors(message, trust, status_keys)


def open_policy(
    data: bytes, key: ec.EllipticCurvePublicKey, installed: LoadedPolicy
) -> LoadedPolicy | None:
    """The policy document, through :func:`gateway.node.policy.load_signed` once classified."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SyncRefused("malformed", f"{len(data)} bytes is over {MAX_MESSAGE_BYTES}")
    try:
        message = cose.parse_sign1(decode(data))
    except (CborError, cose.CoseError) as exc:
        raise SyncRefused("malformed", f"not a signed policy document: {exc}") from exc
    if message.header(cose.HEADER_CONTENT_TYPE) != POLICY_CONTENT_TYPE:
        raise SyncRefused("wrong_type", f"content type is not {POLICY_CONTENT_TYPE!r}")
    if message.payload is None or not cose.verify_es256(message, key):
        raise SyncRefused("bad_signature", "does not verify with the site policy key")
    try:
        document = parse_document(message.payload)
    except PolicyError as exc:
        raise SyncRefused("invalid", str(exc)) from exc
    held = installed.installed
    try:
        loaded = load_signed(data, key, held)
    except PolicyError as exc:
        raise SyncRefused("rollback", str(exc)) from exc  # the only check left is the version
    if not _forward(
        "policy", document.version, held.version, loaded.installed.digest == held.digest
    ):
        return None
    return loaded
