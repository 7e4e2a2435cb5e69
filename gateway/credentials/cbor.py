"""Strict CBOR decoding for bytes that arrive from a phone, a card or the network.

Every decoder in the credential core goes through :func:`decode`, so one place
sets the limits that keep hostile input cheap: bounded nesting, no duplicate
map keys (two readings of one map are a classic signature-bypass trick) and
no trailing bytes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import cbor2

# 18013-5 structures nest about eight deep; a generous bound still stops
# stack-exhausting inputs long before they cost anything.
MAX_DEPTH = 24

ENCODED_CBOR_TAG = 24  # RFC 8949 §3.4.5.1: "encoded CBOR data item"


def _refuse_value_sharing(*_: Any) -> Any:
    raise cbor2.CBORDecodeError("value sharing (tags 28/29) is not used by 18013-5 and refused")


# Tags 28/29 build shared and cyclic values: a few hundred bytes become a hash
# bomb when used as a map key. Nothing we read uses them.
_SEMANTIC = {28: _refuse_value_sharing, 29: _refuse_value_sharing}


class CborError(ValueError):
    """The bytes are not the CBOR structure we expected."""


def decode(data: bytes) -> Any:
    """Decode exactly one CBOR item, refusing trailing bytes and duplicate keys."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CborError(f"expected bytes, got {type(data).__name__}")
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(
            stream, max_depth=MAX_DEPTH, allow_duplicate_keys=False, semantic_decoders=_SEMANTIC
        ).decode()
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise CborError(f"undecodable CBOR: {exc}") from exc
    # cbor2.loads silently ignores what follows the first item; a signed
    # structure with a tail is not the structure that was signed.
    if stream.tell() != len(data):
        raise CborError(f"{len(data) - stream.tell()} trailing bytes after the CBOR item")
    return value


def decode_signed(data: bytes) -> Any:
    """Decode bytes whose exact value a digest or signature check then covers.

    Such bytes cannot smuggle anything past the check with a trailing tail
    (the tail is hashed too), so the stream position test of :func:`decode`
    is skipped: it costs a BytesIO and a decoder per call, on the tap path.
    """
    if not isinstance(data, bytes):
        raise CborError(f"expected bytes, got {type(data).__name__}")
    try:
        return cbor2.loads(
            data, max_depth=MAX_DEPTH, allow_duplicate_keys=False, semantic_decoders=_SEMANTIC
        )
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise CborError(f"undecodable CBOR: {exc}") from exc


def bstr_head(size: int) -> bytes:
    """The CBOR head of a byte string of ``size`` bytes (major type 2, shortest form)."""
    if size < 24:
        return bytes((0x40 | size,))
    if size < 0x100:
        return bytes((0x58, size))
    if size < 0x10000:
        return b"\x59" + size.to_bytes(2, "big")
    if size < 0x100000000:
        return b"\x5a" + size.to_bytes(4, "big")
    return b"\x5b" + size.to_bytes(8, "big")


def wrapped_bytes(payload: bytes) -> bytes:
    """The encoding of ``#6.24(bstr)`` around ``payload``, without a full encoder pass."""
    return b"\xd8\x18" + bstr_head(len(payload)) + payload


def encode(value: Any) -> bytes:
    """Encode canonically (RFC 8949 §4.2.1 core deterministic encoding)."""
    return bytes(cbor2.dumps(value, canonical=True))


def tag24(payload: bytes) -> cbor2.CBORTag:
    """Wrap already-encoded CBOR in tag 24, as IssuerSignedItemBytes and friends are."""
    return cbor2.CBORTag(ENCODED_CBOR_TAG, payload)


def untag24(item: Any, what: str) -> bytes:
    """Return the bstr inside a tag-24 item, or raise naming the field."""
    if (
        isinstance(item, cbor2.CBORTag)
        and item.tag == ENCODED_CBOR_TAG
        and isinstance(item.value, bytes)
    ):
        return item.value
    raise CborError(f"{what}: expected #6.24(bstr)")


def expect_map(value: Any, what: str) -> dict[Any, Any]:
    if isinstance(value, dict):
        return value
    # cbor2 >= 6 decodes the content of a tag as immutable (frozendict, tuple).
    if isinstance(value, Mapping):
        return dict(value)
    raise CborError(f"{what}: expected a map, got {type(value).__name__}")


def expect_list(value: Any, what: str) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, tuple):
        return list(value)
    raise CborError(f"{what}: expected an array, got {type(value).__name__}")


def expect_bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise CborError(f"{what}: expected a byte string, got {type(value).__name__}")
    return value


def expect_str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise CborError(f"{what}: expected a text string, got {type(value).__name__}")
    return value


def expect_uint(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise CborError(f"{what}: expected an unsigned integer")
    return value


def field(mapping: dict[Any, Any], key: Any, what: str) -> Any:
    try:
        return mapping[key]
    except KeyError:
        raise CborError(f"{what}: missing {key!r}") from None
