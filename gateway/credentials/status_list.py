"""IETF Token Status List (draft-ietf-oauth-status-list), CWT form.

A Status List is a byte array with ``bits`` (1, 2, 4 or 8) per credential,
packed least significant bits first and ZLIB-compressed. The Status List Token
is a tagged COSE_Sign1 (ES256) with ``typ`` = ``application/statuslist+cwt``
over a CWT claims map. A credential points into it with
``{"status_list": {"idx": n, "uri": "..."}}``.

Freshness (draft §"Status List Update Interval and Caching"): ``exp`` is a hard
end (the list "MUST NOT be relied upon any longer"); ``ttl`` says when a fresh
copy should be fetched. We anchor ``ttl`` to the signed ``iat``, the option the
draft gives for critical use cases, not to the unsigned time of fetching: a
replayed old token then cannot buy itself a new ``ttl`` window. A token is
*stale* at ``now >= exp`` or ``now > iat + ttl``; what a gate does with a stale
answer (refuse, or admit and raise an alarm) is its policy, not ours.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.credentials.cbor import decode, encode
from gateway.credentials.cose import (
    COSE_SIGN1_TAG,
    HEADER_KID,
    HEADER_TYP,
    HEADER_X5CHAIN,
    Sign1,
    parse_sign1,
    sign1,
    verify_es256,
)

TYP_STATUSLIST_CWT = "application/statuslist+cwt"
CWT_TAG = 61  # RFC 8392 §6; the draft forbids it on a Status List Token
HEADER_CRIT = 2
CLAIM_SUB, CLAIM_EXP, CLAIM_NBF, CLAIM_IAT = 2, 4, 5, 6
CLAIM_STATUS_LIST, CLAIM_TTL = 65533, 65534
ALLOWED_BITS = (1, 2, 4, 8)
DEFAULT_MAX_ENTRIES = 16 * 1024 * 1024  # 16 Mi entries: 4 MiB at 2 bits, 16 MiB at 8
DEFAULT_MAX_CLOCK_SKEW = 300


class StatusListError(ValueError):
    """A status list or token is malformed, forged, stale on arrival or rolled back."""


class Status(IntEnum):
    VALID = 0x00
    INVALID = 0x01
    SUSPENDED = 0x02
    APPLICATION = 0x03  # application specific; the gate gives it no meaning

    @classmethod
    def _missing_(cls, value: object) -> Status | None:
        # With bits 4 or 8 a list may hold values 0x04-0xFF (reserved or
        # application specific). They decode to pseudo-members, so get()
        # always returns a Status; the gate maps them to UNKNOWN.
        if isinstance(value, int) and 0 <= value <= 0xFF:
            member = int.__new__(cls, value)
            member._name_ = f"RESERVED_{value:#04x}"
            member._value_ = value
            return member
        return None


class StatusOutcome(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    SUSPENDED = "suspended"
    UNKNOWN = "unknown"  # no list for that uri, index out of range, or unassigned value
    STALE = "stale"  # the list is past its exp, or past iat + ttl


_STATUS_BY_VALUE: tuple[Status, ...] = tuple(Status(v) for v in range(256))
_OUTCOME_BY_VALUE: tuple[StatusOutcome, ...] = (
    StatusOutcome.VALID,
    StatusOutcome.INVALID,
    StatusOutcome.SUSPENDED,
) + (StatusOutcome.UNKNOWN,) * 253


class StatusList:
    """``bits`` per entry; entry i sits in byte i*bits//8 at bit offset (i*bits)%8."""

    __slots__ = (
        "_bit_shift",
        "_bits",
        "_byte_shift",
        "_data",
        "_size",
        "_slot_mask",
        "_value_mask",
    )
    __hash__ = None  # type: ignore[assignment]  # mutable

    def __init__(self, size: int, bits: int = 2) -> None:
        if bits not in ALLOWED_BITS or isinstance(bits, bool):
            raise StatusListError(f"bits must be one of {ALLOWED_BITS}, not {bits!r}")
        if size < 0:
            raise ValueError("size must not be negative")
        self._init(bytearray((size * bits + 7) // 8), size, bits)

    def _init(self, data: bytes | bytearray, size: int, bits: int) -> None:
        per_byte = 8 // bits
        self._data = data
        self._size = size
        self._bits = bits
        self._byte_shift = per_byte.bit_length() - 1  # idx >> this = byte index
        self._slot_mask = per_byte - 1  # idx & this = slot within the byte
        self._bit_shift = bits.bit_length() - 1  # slot << this = bit offset
        self._value_mask = (1 << bits) - 1

    @property
    def bits(self) -> int:
        return self._bits

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return self._size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StatusList):
            return NotImplemented
        return (self._bits, self._size, bytes(self._data)) == (
            other._bits,
            other._size,
            bytes(other._data),
        )

    def __repr__(self) -> str:
        return f"StatusList(size={self._size}, bits={self._bits})"

    def set(self, idx: int, status: int) -> None:
        if not 0 <= idx < self._size:
            raise IndexError(f"index {idx} outside 0..{self._size - 1}")
        if not 0 <= status <= self._value_mask:
            raise ValueError(f"status {status} does not fit in {self._bits} bits")
        if not isinstance(self._data, bytearray):
            raise TypeError("a decoded status list is read-only")
        byte, offset = idx >> self._byte_shift, (idx & self._slot_mask) << self._bit_shift
        cleared = self._data[byte] & ~(self._value_mask << offset)
        self._data[byte] = cleared | (status << offset)

    def get(self, idx: int) -> Status:
        if not 0 <= idx < self._size:
            raise IndexError(f"index {idx} outside 0..{self._size - 1}")
        return self.lookup(idx)  # type: ignore[return-value]

    def lookup(self, idx: int) -> Status | None:
        """The status at ``idx``, or None when out of range. The hot path: no allocation."""
        if 0 <= idx < self._size:
            value = self._data[idx >> self._byte_shift] >> (
                (idx & self._slot_mask) << self._bit_shift
            )
            return _STATUS_BY_VALUE[value & self._value_mask]
        return None

    def to_bytes(self) -> bytes:
        """The uncompressed byte array."""
        return bytes(self._data)

    def compressed(self) -> bytes:
        return zlib.compress(self._data, level=zlib.Z_BEST_COMPRESSION)

    @classmethod
    def from_compressed(
        cls, lst: bytes, bits: int, max_size: int = DEFAULT_MAX_ENTRIES
    ) -> StatusList:
        """Inflate ZLIB ``lst``, refusing over ``max_size`` entries. The result is read-only."""
        if bits not in ALLOWED_BITS or isinstance(bits, bool):
            raise StatusListError(f"bits must be one of {ALLOWED_BITS}, not {bits!r}")
        if not isinstance(lst, bytes | bytearray | memoryview):
            raise StatusListError("lst must be a byte string")
        limit = (max_size * bits + 7) // 8
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(lst, limit + 1)
        except zlib.error as exc:
            raise StatusListError(f"lst is not ZLIB data: {exc}") from exc
        if len(data) > limit or inflater.unconsumed_tail:
            raise StatusListError(f"lst inflates beyond {max_size} entries")
        if not inflater.eof:
            raise StatusListError("lst is a truncated ZLIB stream")
        if inflater.unused_data:
            raise StatusListError("trailing bytes after the ZLIB stream")
        status_list = cls.__new__(cls)
        status_list._init(data, len(data) * 8 // bits, bits)
        return status_list


@dataclass(frozen=True, slots=True)
class StatusReference:
    """The Referenced Token side: ``{"status_list": {"idx": n, "uri": "..."}}``."""

    idx: int
    uri: str

    def to_cbor_value(self) -> dict[str, Any]:
        return {"status_list": {"idx": self.idx, "uri": self.uri}}

    @classmethod
    def from_cbor_value(cls, value: Any) -> StatusReference:
        """Read the ``Status`` map; other status mechanisms beside ``status_list`` are ignored."""
        info = value.get("status_list") if isinstance(value, dict) else None
        if not isinstance(info, dict):
            raise StatusListError("status: expected a map with a status_list map")
        idx, uri = info.get("idx"), info.get("uri")
        if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
            raise StatusListError("status_list.idx must be an unsigned integer")
        if not isinstance(uri, str) or not uri:
            raise StatusListError("status_list.uri must be a non-empty text string")
        return cls(idx, uri)


@dataclass(frozen=True, slots=True)
class StatusListToken:
    """A verified Status List Token."""

    uri: str
    issued_at: int
    expires_at: int | None
    ttl: int | None
    bits: int
    list: StatusList
    aggregation_uri: str | None = None
    stale_at: int | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ends = [self.expires_at] if self.expires_at is not None else []
        if self.ttl is not None:
            ends.append(self.issued_at + self.ttl + 1)
        object.__setattr__(self, "stale_at", min(ends, default=None))

    def lookup(self, idx: int) -> Status | None:
        return self.list.lookup(idx)

    def is_stale(self, now: int) -> bool:
        """Past ``exp`` (``now >= exp``) or past ``iat + ttl`` (``now > iat + ttl``)."""
        return self.stale_at is not None and now >= self.stale_at


def sign_status_list_token(
    status_list: StatusList,
    *,
    key: ec.EllipticCurvePrivateKey,
    uri: str,
    issued_at: int,
    expires_at: int | None,
    ttl: int | None,
    x5chain: list[bytes] | None = None,
    kid: bytes | None = None,
    aggregation_uri: str | None = None,
) -> bytes:
    """Sign a Status List Token; returns the encoded COSE_Sign1_Tagged."""
    if ttl is not None and ttl <= 0:
        raise ValueError("ttl must be a positive number of seconds")
    inner: dict[str, Any] = {"bits": status_list.bits, "lst": status_list.compressed()}
    if aggregation_uri is not None:
        inner["aggregation_uri"] = aggregation_uri
    claims: dict[int, Any] = {CLAIM_SUB: uri, CLAIM_IAT: issued_at, CLAIM_STATUS_LIST: inner}
    if expires_at is not None:
        claims[CLAIM_EXP] = expires_at
    if ttl is not None:
        claims[CLAIM_TTL] = ttl
    unprotected: dict[int, Any] = {}
    if kid is not None:
        unprotected[HEADER_KID] = kid
    if x5chain:  # RFC 9360: a single certificate is a bstr, more are an array
        unprotected[HEADER_X5CHAIN] = x5chain[0] if len(x5chain) == 1 else list(x5chain)
    message = sign1(
        key, encode(claims), protected={HEADER_TYP: TYP_STATUSLIST_CWT}, unprotected=unprotected
    )
    return message.encode(tagged=True)


def _int_claim(claims: dict[Any, Any], key: int, *, required: bool = False) -> int | None:
    if key not in claims and not required:
        return None
    value = claims.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise StatusListError(f"claim {key} must be an integer")
    return value


def _parse(token: bytes) -> tuple[Sign1, dict[Any, Any]]:
    """Decode and check structure and claims; cheap: no signature and no inflation yet."""
    try:
        item = decode(token)
        if not isinstance(item, cbor2.CBORTag) or item.tag != COSE_SIGN1_TAG:
            raise StatusListError("expected a COSE_Sign1_Tagged (18), not tagged as a CWT")
        message = parse_sign1(item)
        if message.protected.get(HEADER_TYP) != TYP_STATUSLIST_CWT:
            raise StatusListError(f"protected typ is not {TYP_STATUSLIST_CWT!r}")
        if HEADER_CRIT in message.protected:
            raise StatusListError("critical header parameters are not supported")
        claims = decode(message.payload) if isinstance(message.payload, bytes) else None
        if not isinstance(claims, dict):
            raise StatusListError("the CWT claims are missing or not a map")
        if not isinstance(claims.get(CLAIM_SUB), str) or not claims[CLAIM_SUB]:
            raise StatusListError("claim sub (2) must be a non-empty text string")
        _int_claim(claims, CLAIM_IAT, required=True)
        _int_claim(claims, CLAIM_EXP)
        _int_claim(claims, CLAIM_NBF)
        ttl = _int_claim(claims, CLAIM_TTL)
        if ttl is not None and ttl <= 0:
            raise StatusListError("claim ttl (65534) must be positive")
        inner = claims.get(CLAIM_STATUS_LIST)
        if not isinstance(inner, dict):
            raise StatusListError("claim status_list (65533) must be a map")
        bits = inner.get("bits")
        if not isinstance(bits, int) or isinstance(bits, bool) or bits not in ALLOWED_BITS:
            raise StatusListError(f"status_list.bits must be one of {ALLOWED_BITS}")
        if not isinstance(inner.get("lst"), bytes):
            raise StatusListError("status_list.lst must be a byte string")
        if not isinstance(inner.get("aggregation_uri", ""), str):
            raise StatusListError("status_list.aggregation_uri must be a text string")
    except StatusListError:
        raise
    except (ValueError, TypeError, LookupError, OverflowError, RecursionError) as exc:
        # CborError and CoseError are ValueErrors; the rest is belt and braces.
        raise StatusListError(f"malformed Status List Token: {exc}") from exc
    return message, claims


def _open(
    message: Sign1, claims: dict[Any, Any], key: ec.EllipticCurvePublicKey, max_size: int
) -> StatusListToken:
    """Check the signature, then inflate: hostile ZLIB is only looked at once it is signed."""
    try:
        valid = verify_es256(message, key)
    except (ValueError, TypeError) as exc:
        raise StatusListError(f"signature check failed: {exc}") from exc
    if not valid:
        raise StatusListError("bad signature on the Status List Token")
    inner = claims[CLAIM_STATUS_LIST]
    return StatusListToken(
        uri=claims[CLAIM_SUB],
        issued_at=claims[CLAIM_IAT],
        expires_at=claims.get(CLAIM_EXP),
        ttl=claims.get(CLAIM_TTL),
        bits=inner["bits"],
        list=StatusList.from_compressed(inner["lst"], inner["bits"], max_size),
        aggregation_uri=inner.get("aggregation_uri"),
    )


def verify_status_list_token(
    token: bytes,
    *,
    key: ec.EllipticCurvePublicKey,
    expected_uri: str | None = None,
    max_size: int = DEFAULT_MAX_ENTRIES,
) -> StatusListToken:
    """Verify structure, typ, signature and claims. Time is not checked here (see StatusCache)."""
    message, claims = _parse(token)
    if expected_uri is not None and claims[CLAIM_SUB] != expected_uri:
        raise StatusListError(f"token is for {claims[CLAIM_SUB]!r}, expected {expected_uri!r}")
    return _open(message, claims, key, max_size)


KeyResolver = (
    Mapping[str, ec.EllipticCurvePublicKey] | Callable[[str], ec.EllipticCurvePublicKey | None]
)


@dataclass(slots=True)
class _Held:
    token: StatusListToken
    raw: bytes


class StatusCache:
    """The newest verified Status List Token per URI, as a gate keeps it.

    ``keys`` maps a list URI to the public key that must have signed it (a
    mapping, or a callable returning None for an unknown URI).

    Rollback: a token must carry a strictly newer ``iat`` than the one held.
    The very same bytes again are accepted as a no-op (MQTT redelivers, and
    retained messages come back on reconnect); different bytes with the same
    ``iat`` are refused, since we cannot tell which of the two is current.
    """

    def __init__(
        self,
        keys: KeyResolver,
        *,
        max_clock_skew: int = DEFAULT_MAX_CLOCK_SKEW,
        max_size: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self._keys = keys
        self._max_clock_skew = max_clock_skew
        self._max_size = max_size
        self._held: dict[str, _Held] = {}

    def _key_for(self, uri: str) -> ec.EllipticCurvePublicKey:
        try:
            key = self._keys.get(uri) if isinstance(self._keys, Mapping) else self._keys(uri)
        except LookupError:
            key = None
        if key is None:
            raise StatusListError(f"no trusted signer for status list {uri!r}")
        return key

    def apply(self, token: bytes, now: int) -> StatusListToken:
        """Verify ``token`` and hold it if it is newer than what we have for its URI."""
        message, claims = _parse(token)
        uri, issued_at = claims[CLAIM_SUB], claims[CLAIM_IAT]
        held = self._held.get(uri)
        if held is not None and held.raw == token:
            return held.token
        if held is not None and issued_at <= held.token.issued_at:
            raise StatusListError(
                f"rollback refused for {uri!r}: iat {issued_at} is not newer "
                f"than the held {held.token.issued_at}"
            )
        # An iat far ahead would lock out every correct update until then.
        not_before = max(issued_at, claims.get(CLAIM_NBF, issued_at))
        if not_before > now + self._max_clock_skew:
            raise StatusListError(f"token issued or valid only after {not_before} (now {now})")
        expires_at = claims.get(CLAIM_EXP)
        if expires_at is not None and now >= expires_at:
            raise StatusListError(f"token expired at {expires_at} (now {now})")
        verified = _open(message, claims, self._key_for(uri), self._max_size)
        self._held[uri] = _Held(verified, bytes(token))
        return verified

    def token(self, uri: str) -> StatusListToken | None:
        held = self._held.get(uri)
        return None if held is None else held.token

    def lookup(self, ref: StatusReference, now: int) -> StatusOutcome:
        """The gate's question; a dict lookup, two comparisons and a bit extraction."""
        held = self._held.get(ref.uri)
        if held is None:
            return StatusOutcome.UNKNOWN
        token = held.token
        if token.stale_at is not None and now >= token.stale_at:
            return StatusOutcome.STALE
        status = token.list.lookup(ref.idx)
        return StatusOutcome.UNKNOWN if status is None else _OUTCOME_BY_VALUE[status]
