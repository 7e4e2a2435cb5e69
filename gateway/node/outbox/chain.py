"""Outbox events, their canonical encoding, the hash chain and its verifier.

An event's ``hash`` is SHA-256 over ``DOMAIN`` followed by the canonical JSON
of ``[seq, at, kind, payload, prev_hash]`` (keys sorted, no spaces, UTF-8,
no NaN); ``prev_hash`` is the previous event's ``hash`` (:data:`GENESIS_HASH`
before seq 1). The node signs the 32 hash bytes with its Ed25519 key. The
collector runs :func:`verify_chain` on what it receives.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

DOMAIN = b"gateway.outbox.v1\n"
GENESIS_HASH = "0" * 64
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")
_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


class ChainError(ValueError):
    """An event or a chain that does not verify; ``seq`` names where (None: malformed input)."""

    def __init__(self, seq: int | None, reason: str) -> None:
        super().__init__(f"seq {seq}: {reason}" if seq is not None else reason)
        self.seq = seq
        self.reason = reason


def canonical_json(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def format_at(when: dt.datetime) -> str:
    """Wall-clock UTC with microseconds and a ``Z``: one spelling, so the hash is stable."""
    if when.tzinfo is None:
        raise ValueError("the outbox clock must return an aware datetime")
    return when.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def event_hash(seq: int, at: str, kind: str, payload: Mapping[str, Any], prev_hash: str) -> str:
    body = canonical_json([seq, at, kind, payload, prev_hash]).encode("utf-8")
    return hashlib.sha256(DOMAIN + body).hexdigest()


@dataclass(frozen=True)
class Event:
    seq: int
    at: str
    kind: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str
    signature: str  # hex of the 64-byte Ed25519 signature over bytes.fromhex(hash)
    delivered_at: str | None = None

    @property
    def when(self) -> dt.datetime:
        return dt.datetime.strptime(self.at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)

    def to_wire(self) -> dict[str, Any]:
        """The event as the publisher sends it (no delivery state)."""
        return {
            "seq": self.seq,
            "at": self.at,
            "kind": self.kind,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "sig": self.signature,
        }

    @classmethod
    def from_wire(cls, data: Any) -> Event:
        """Parse :meth:`to_wire`'s shape; :class:`ChainError` on anything else."""
        if not isinstance(data, dict):
            raise ChainError(None, "an event is a JSON object")
        try:
            payload = data["payload"]
            if not isinstance(payload, dict):
                raise ChainError(None, "payload must be a JSON object")
            row = (
                data["seq"],
                data["at"],
                data["kind"],
                canonical_json(payload),
                data["prev_hash"],
                data["hash"],
                data["sig"],
                None,
            )
        except KeyError as exc:
            raise ChainError(None, f"missing field {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:  # NaN, non-string keys of mixed types
            if isinstance(exc, ChainError):
                raise
            raise ChainError(None, f"payload: {exc}") from exc
        return cls.from_row(row)

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Event:
        """A stored row ``(seq, at, kind, payload_json, prev_hash, hash, signature, delivered_at)``.

        Checks the shape of every column, not the hashes (that is :func:`verify_chain`'s job).
        """
        if len(row) != 8:
            raise ChainError(None, f"a row has 8 columns, not {len(row)}")
        seq, at, kind, payload_json, prev_hash, digest, signature, delivered_at = row
        if type(seq) is not int or seq < 1:
            raise ChainError(None, f"seq must be a positive integer, not {seq!r}")
        for name, value, pattern in (
            ("at", at, _AT),
            ("prev_hash", prev_hash, _HEX64),
            ("hash", digest, _HEX64),
            ("signature", signature, _HEX128),
        ):
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise ChainError(seq, f"malformed {name}: {value!r}")
        if not isinstance(kind, str) or not kind:
            raise ChainError(seq, f"kind must be a non-empty string, not {kind!r}")
        if delivered_at is not None and not (
            isinstance(delivered_at, str) and _AT.fullmatch(delivered_at)
        ):
            raise ChainError(seq, f"malformed delivered_at: {delivered_at!r}")
        if not isinstance(payload_json, str):
            raise ChainError(seq, "payload must be JSON text")
        try:
            payload = json.loads(payload_json, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            raise ChainError(seq, f"payload is not JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise ChainError(seq, "payload must be a JSON object")
        return cls(seq, at, kind, payload, prev_hash, digest, signature, delivered_at)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def verify_chain(
    events: Iterable[Event],
    node_public_key: Ed25519PublicKey,
    *,
    prev_hash: str | None = None,
    first_seq: int | None = None,
) -> str | None:
    """Check seq continuity, each hash, the links and each signature; return the head hash.

    ``prev_hash``/``first_seq``: what the collector already holds (the hash and seq it
    expects the first event to follow on from). Without them a chain starting at seq 1 must
    start from :data:`GENESIS_HASH`, and one starting later is taken from its first link.
    Returns None for no events. Raises :class:`ChainError` naming the first bad seq.
    """
    expected_seq = first_seq
    expected_prev = prev_hash
    head: str | None = None
    for event in events:
        if expected_seq is None:
            expected_seq = event.seq
        if event.seq != expected_seq:
            raise ChainError(event.seq, f"expected seq {expected_seq} (gap, reorder or replay)")
        if expected_prev is None and event.seq == 1:
            expected_prev = GENESIS_HASH
        if expected_prev is not None and event.prev_hash != expected_prev:
            raise ChainError(event.seq, "prev_hash does not link to the previous event")
        try:
            recomputed = event_hash(event.seq, event.at, event.kind, event.payload, event.prev_hash)
        except ValueError as exc:
            raise ChainError(event.seq, f"payload cannot be encoded: {exc}") from exc
        if recomputed != event.hash:
            raise ChainError(event.seq, "hash does not match the event's content")
        try:
            node_public_key.verify(bytes.fromhex(event.signature), bytes.fromhex(event.hash))
        except (InvalidSignature, ValueError) as exc:
            raise ChainError(event.seq, "signature does not verify with the node key") from exc
        head = event.hash
        expected_prev = event.hash
        expected_seq = event.seq + 1
    return head
