"""Status list deltas: a few [index, status] changes on top of the token a node holds.

A token for a list of 100,000 credentials is about 26 KB and is signed and
sent whole; a delta naming one lost card is about 100 bytes, so the authority
can publish it the moment a card is reported lost. A delta is a signed JSON
message (:mod:`gateway.mqtt.signed`, content type ``CT_STATUS_DELTA``) from
the same status-list signer as the token; its ``kid`` is :func:`key_id` of
that signer's public key. ``base`` is the version (token iat, or the last
delta's iat) it applies to, ``iat`` the version it makes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.credentials import cose
from gateway.credentials.cbor import CborError, decode
from gateway.credentials.status_list import StatusCache, StatusListError, StatusListToken
from gateway.mqtt.payloads import StatusListDelta
from gateway.mqtt.signed import (
    CT_STATUS_DELTA,
    MAX_MESSAGE_BYTES,
    SignedMessageError,
    open_message,
    sign_message,
)
from gateway.node.sync.events import SyncRefused
from gateway.node.sync.keys import key_id


def make_delta(
    *,
    uri: str,
    base: int,
    iat: int,
    changes: Iterable[tuple[int, int]],
    key: ec.EllipticCurvePrivateKey,
) -> bytes:
    """The signed delta (centre side); ``key`` is the status-list signer's private key."""
    delta = StatusListDelta(sub=uri, base=base, iat=iat, changes=list(changes))
    return sign_message(delta, key, kid=key_id(key.public_key()), content_type=CT_STATUS_DELTA)


def _claimed_list(data: bytes) -> str | None:
    """The ``sub`` the unverified payload claims: only to pick which signer must have signed."""
    try:
        payload = cose.parse_sign1(decode(data)).payload
        claimed = json.loads(payload) if payload is not None else None
    except (CborError, cose.CoseError, ValueError, TypeError, RecursionError):
        return None
    sub = claimed.get("sub") if isinstance(claimed, dict) else None
    return sub if isinstance(sub, str) else None


def open_delta(data: bytes, cache: StatusCache) -> StatusListDelta:
    """Verify ``data`` against the signer(s) the cache believes for the list it names."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SyncRefused("malformed", f"{len(data)} bytes is over {MAX_MESSAGE_BYTES}")
    uri = _claimed_list(data)
    keys = {key_id(key): key for key in cache.keys_for(uri)} if uri is not None else {}
    try:
        delta, _kid = open_message(data, keys, content_type=CT_STATUS_DELTA, model=StatusListDelta)
    except SignedMessageError as exc:
        if exc.reason == "unknown_signer" and uri is None:
            raise SyncRefused("malformed", "the delta names no status list") from exc
        raise SyncRefused(exc.reason, exc.detail) from exc
    if delta.sub != uri:  # the same signed bytes read twice; differs only on duplicate keys
        raise SyncRefused("invalid", "the delta names its list ambiguously")
    return delta


def apply_delta(cache: StatusCache, delta: StatusListDelta, now: int) -> StatusListToken:
    """Apply a verified delta; refusals carry the status cache's reason."""
    try:
        return cache.apply_changes(
            delta.sub, base=delta.base, iat=delta.iat, changes=delta.changes, now=now
        )
    except StatusListError as exc:
        raise SyncRefused(exc.reason, str(exc)) from exc
