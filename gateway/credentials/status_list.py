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

import dataclasses
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import IntEnum, StrEnum
from typing import Any, Literal, NamedTuple

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.credentials.cbor import (
    CborError,
    decode,
    encode,
    expect_bytes,
    expect_map,
    expect_str,
    expect_uint,
    field,
)
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
HEADER_CRIT = 2
CLAIM_SUB, CLAIM_EXP, CLAIM_NBF, CLAIM_IAT = 2, 4, 5, 6
CLAIM_STATUS_LIST, CLAIM_TTL = 65533, 65534
ALLOWED_BITS = (1, 2, 4, 8)
DEFAULT_MAX_ENTRIES = 16 * 1024 * 1024  # 16 Mi entries: 4 MiB at 2 bits, 16 MiB at 8
DEFAULT_MAX_CLOCK_SKEW = 300


StatusErrorReason = Literal[
    "malformed", "unknown_signer", "bad_signature", "rollback", "base_mismatch", "invalid"
]


class StatusListError(ValueError):
    """A status list or token is malformed, forged, stale on arrival or rolled back.

    ``reason`` is the stable word a node logs in its security event.
    """

    def __init__(self, detail: str, reason: StatusErrorReason = "invalid") -> None:
        super().__init__(detail)
        self.reason: StatusErrorReason = reason


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


def _check_bits(bits: int) -> None:
    if bits not in ALLOWED_BITS or isinstance(bits, bool):
        raise StatusListError(f"bits must be one of {ALLOWED_BITS}, not {bits!r}")


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
        _check_bits(bits)
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

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StatusList):
            return NotImplemented
        return (self._bits, self._size, self._data) == (other._bits, other._size, other._data)

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
        status = self.lookup(idx)
        if status is None:
            raise IndexError(f"index {idx} outside 0..{self._size - 1}")
        return status

    def lookup(self, idx: int) -> Status | None:
        """The status at ``idx``, or None when out of range. The hot path: no allocation."""
        if 0 <= idx < self._size:
            value = self._data[idx >> self._byte_shift] >> (
                (idx & self._slot_mask) << self._bit_shift
            )
            return _STATUS_BY_VALUE[value & self._value_mask]
        return None

    def with_changes(self, changes: Iterable[tuple[int, int]]) -> StatusList:
        """A new read-only list with ``changes`` applied; this one is left as it is.

        Copy-on-write, so a lookup running on the old list never sees half a delta.
        """
        copy = StatusList(0, self._bits)
        copy._init(bytearray(self._data), self._size, self._bits)
        for idx, status in changes:
            try:
                copy.set(idx, status)
            except (IndexError, ValueError) as exc:
                raise StatusListError(f"change [{idx}, {status}]: {exc}") from exc
        copy._data = bytes(copy._data)
        return copy

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
        _check_bits(bits)
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
        try:
            info = expect_map(field(expect_map(value, "status"), "status_list", "status"), "info")
            idx = expect_uint(field(info, "idx", "status_list"), "status_list.idx")
            uri = expect_str(field(info, "uri", "status_list"), "status_list.uri")
        except CborError as exc:
            raise StatusListError(str(exc)) from exc
        if not uri:
            raise StatusListError("status_list.uri must not be empty")
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
    stale_at: int | None = dataclass_field(init=False, repr=False, compare=False)

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


class _Claims(NamedTuple):
    """What a token says, before its signature is checked."""

    message: Sign1
    uri: str
    issued_at: int
    expires_at: int | None
    not_before: int | None
    ttl: int | None
    bits: int
    lst: bytes
    aggregation_uri: str | None


def _optional(mapping: dict[Any, Any], key: Any, expect: Callable[[Any, str], Any]) -> Any:
    return expect(mapping[key], f"claim {key!r}") if key in mapping else None


def _parse(token: bytes) -> _Claims:
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
        claims = expect_map(decode(expect_bytes(message.payload, "payload")), "CWT claims")
        uri = expect_str(field(claims, CLAIM_SUB, "CWT claims"), "claim sub (2)")
        ttl = _optional(claims, CLAIM_TTL, expect_uint)
        inner = expect_map(field(claims, CLAIM_STATUS_LIST, "CWT claims"), "status_list")
        bits = expect_uint(field(inner, "bits", "status_list"), "status_list.bits")
        parsed = _Claims(
            message,
            uri,
            expect_uint(field(claims, CLAIM_IAT, "CWT claims"), "claim iat (6)"),
            _optional(claims, CLAIM_EXP, expect_uint),
            _optional(claims, CLAIM_NBF, expect_uint),
            ttl,
            bits,
            expect_bytes(field(inner, "lst", "status_list"), "status_list.lst"),
            _optional(inner, "aggregation_uri", expect_str),
        )
    except (ValueError, TypeError, LookupError, OverflowError, RecursionError) as exc:
        # CborError, CoseError and StatusListError are ValueErrors.
        if isinstance(exc, StatusListError):
            raise
        raise StatusListError(f"malformed Status List Token: {exc}") from exc
    if not uri:
        raise StatusListError("claim sub (2) must not be empty")
    if ttl == 0:
        raise StatusListError("claim ttl (65534) must be positive")
    _check_bits(bits)
    return parsed


def _open(
    parsed: _Claims,
    keys: ec.EllipticCurvePublicKey | Sequence[ec.EllipticCurvePublicKey],
    max_size: int,
) -> StatusListToken:
    """Check the signature, then inflate: hostile ZLIB is only looked at once it is signed."""
    candidates = (keys,) if isinstance(keys, ec.EllipticCurvePublicKey) else tuple(keys)
    try:
        valid = any(verify_es256(parsed.message, key) for key in candidates)
    except (ValueError, TypeError) as exc:
        raise StatusListError(f"signature check failed: {exc}", "bad_signature") from exc
    if not valid:
        raise StatusListError("bad signature on the Status List Token", "bad_signature")
    return StatusListToken(
        uri=parsed.uri,
        issued_at=parsed.issued_at,
        expires_at=parsed.expires_at,
        ttl=parsed.ttl,
        bits=parsed.bits,
        list=StatusList.from_compressed(parsed.lst, parsed.bits, max_size),
        aggregation_uri=parsed.aggregation_uri,
    )


def verify_status_list_token(
    token: bytes,
    *,
    key: ec.EllipticCurvePublicKey,
    expected_uri: str | None = None,
    max_size: int = DEFAULT_MAX_ENTRIES,
) -> StatusListToken:
    """Verify structure, typ, signature and claims. Time is not checked here (see StatusCache)."""
    parsed = _parse(token)
    if expected_uri is not None and parsed.uri != expected_uri:
        raise StatusListError(f"token is for {parsed.uri!r}, expected {expected_uri!r}")
    return _open(parsed, key, max_size)


PublicKeys = ec.EllipticCurvePublicKey | Sequence[ec.EllipticCurvePublicKey]
# A list URI -> the key (or keys: several signers during a rotation) that may sign it.
KeyResolver = Mapping[str, PublicKeys] | Callable[[str], PublicKeys | None]


@dataclass(frozen=True, slots=True)
class _Held:
    token: StatusListToken  # after deltas: issued_at is the delta's iat, list has its changes
    raw: bytes  # the token's own bytes, as received
    from_deltas: bool = False


class StatusCache:
    """The newest verified Status List Token per URI, as a gate keeps it.

    ``keys`` maps a list URI to the public key that must have signed it (a
    mapping, or a callable returning None for an unknown URI).

    Rollback: a token must carry a strictly newer ``iat`` than the one held.
    The very same bytes again are accepted as a no-op (MQTT redelivers, and
    retained messages come back on reconnect); different bytes with the same
    ``iat`` are refused, since we cannot tell which of the two is current.

    Deltas (:meth:`apply_changes`) move the held list forward without a new
    token: the held ``issued_at`` becomes the delta's ``iat``, and the ``ttl``
    window is anchored to it, since the signer vouches for the whole list as
    of that time; the token's ``exp`` stays a hard end. A full token whose iat
    is at least the delta-reached version replaces the delta-derived state.
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

    def set_keys(self, keys: KeyResolver) -> None:
        """Believe other signers from now on (new trust anchors); held tokens stay."""
        self._keys = keys

    def keys_for(self, uri: str) -> tuple[ec.EllipticCurvePublicKey, ...]:
        """The keys that may sign the list at ``uri``; empty when none."""
        try:
            found = self._keys.get(uri) if isinstance(self._keys, Mapping) else self._keys(uri)
        except LookupError:
            found = None
        if found is None:
            return ()
        return (found,) if isinstance(found, ec.EllipticCurvePublicKey) else tuple(found)

    def _key_for(self, uri: str) -> tuple[ec.EllipticCurvePublicKey, ...]:
        keys = self.keys_for(uri)
        if not keys:
            raise StatusListError(f"no trusted signer for status list {uri!r}", "unknown_signer")
        return keys

    def apply(self, token: bytes, now: int) -> StatusListToken:
        """Verify ``token`` and hold it if it is newer than what we have for its URI."""
        try:
            parsed = _parse(token)
        except StatusListError as exc:
            raise StatusListError(str(exc), "malformed") from exc
        held = self._held.get(parsed.uri)
        if held is not None and held.raw == token:
            return held.token
        if held is not None and (
            parsed.issued_at < held.token.issued_at
            or (parsed.issued_at == held.token.issued_at and not held.from_deltas)
        ):
            raise StatusListError(
                f"rollback refused for {parsed.uri!r}: iat {parsed.issued_at} is not newer "
                f"than the held {held.token.issued_at}",
                "rollback",
            )
        # An iat far ahead would lock out every correct update until then.
        starts = max(parsed.issued_at, parsed.not_before or 0)
        if starts > now + self._max_clock_skew:
            raise StatusListError(f"token issued or valid only from {starts} (now {now})")
        if parsed.expires_at is not None and now >= parsed.expires_at:
            raise StatusListError(f"token expired at {parsed.expires_at} (now {now})")
        verified = _open(parsed, self._key_for(parsed.uri), self._max_size)
        self._held[parsed.uri] = _Held(verified, bytes(token))
        return verified

    def apply_changes(
        self, uri: str, *, base: int, iat: int, changes: Iterable[tuple[int, int]], now: int
    ) -> StatusListToken:
        """Apply a verified delta's ``changes`` on top of the held list (copy-on-write).

        The caller has checked the delta's signature against :meth:`keys_for`.
        ``base`` must be the held version exactly; anything else means a delta
        was missed, and only a full token can bring the list back.
        """
        held = self._held.get(uri)
        if held is None:
            raise StatusListError(f"no token held for {uri!r} to apply a delta to", "base_mismatch")
        version = held.token.issued_at
        if iat <= version:
            raise StatusListError(
                f"delta iat {iat} is not newer than the held {version} for {uri!r}", "rollback"
            )
        if base != version:
            raise StatusListError(
                f"delta is based on {base}, the held version of {uri!r} is {version}",
                "base_mismatch",
            )
        if iat > now + self._max_clock_skew:
            raise StatusListError(f"delta issued at {iat}, in the future (now {now})")
        token = held.token
        updated = dataclasses.replace(token, issued_at=iat, list=token.list.with_changes(changes))
        self._held[uri] = _Held(updated, held.raw, from_deltas=True)  # one atomic swap
        return updated

    def token(self, uri: str) -> StatusListToken | None:
        held = self._held.get(uri)
        return None if held is None else held.token

    def uris(self) -> list[str]:
        """The list URIs a token is held for."""
        return sorted(self._held)

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
