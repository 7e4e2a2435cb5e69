"""Hypothesis strategies for hostile credential input: CBOR values, byte and tree mutations."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from hypothesis import strategies as st

# --- CBOR values ------------------------------------------------------------------

# Tags the decoders know or that carry meaning in cbor2: dates (0, 1, 100, 1004),
# bignums (2, 3), decimal/bigfloat (4, 5), COSE (18), encoded CBOR (24), value
# sharing (28, 29), rational (30), regex (35), MIME (36), UUID (37), CWT (61),
# sets (258), IP (52, 54, 260, 261) and a few nobody knows.
INTERESTING_TAGS = (
    0,
    1,
    2,
    3,
    4,
    5,
    18,
    24,
    28,
    29,
    30,
    35,
    36,
    37,
    52,
    54,
    61,
    100,
    258,
    260,
    261,
    1004,
    4711,
    55799,
    2**32 + 1,
)

# Text an 18013-5 or COSE parser looks for, so that random maps hit real keys.
INTERESTING_TEXT = (
    "version",
    "1.0",
    "status",
    "documents",
    "docType",
    "issuerSigned",
    "issuerAuth",
    "nameSpaces",
    "deviceSigned",
    "deviceAuth",
    "deviceSignature",
    "deviceMac",
    "digestID",
    "random",
    "elementIdentifier",
    "elementValue",
    "valueDigests",
    "digestAlgorithm",
    "SHA-256",
    "deviceKeyInfo",
    "deviceKey",
    "validityInfo",
    "signed",
    "validFrom",
    "validUntil",
    "kr.go.mpm.csid.1",
    "kr.go.mpm.csid.card.1",
    "holder_id",
    "credential_serial",
    "CardAuthentication",
    "claims",
    "cardKey",
    "status_list",
    "idx",
    "uri",
)
INTERESTING_INTS = (
    0,
    1,
    2,
    -1,
    -2,
    -3,
    -7,
    4,
    5,
    6,
    16,
    23,
    24,
    33,
    255,
    256,
    65533,
    65534,
    2**31,
    2**32,
    2**63,
    2**64 - 1,
    -(2**64),
)

hashable_leaves = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64 - 1),
    st.sampled_from(INTERESTING_INTS),
    st.text(max_size=12),
    st.sampled_from(INTERESTING_TEXT),
    st.binary(max_size=16),
    st.booleans(),
    st.none(),
)

cbor_leaves = st.one_of(
    hashable_leaves,
    st.integers(min_value=-(2**200), max_value=2**200),  # bignums (tags 2 and 3)
    st.floats(allow_nan=True, allow_infinity=True),
    st.binary(max_size=80),
    st.just(cbor2.undefined),
    st.integers(min_value=32, max_value=255).map(cbor2.CBORSimpleValue),
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(hashable_leaves, children, max_size=5),
        st.builds(
            cbor2.CBORTag,
            st.one_of(st.sampled_from(INTERESTING_TAGS), st.integers(0, 2**64 - 1)),
            children,
        ),
    )


# Anything cbor2 can encode: what a decoder may see once the bytes are well-formed.
cbor_values = st.recursive(cbor_leaves, _containers, max_leaves=16)
# Small values, for the many fields of a shaped structure (keeps generation cheap).
small_cbor_values = st.recursive(cbor_leaves, _containers, max_leaves=4)
cbor_maps = st.dictionaries(hashable_leaves, small_cbor_values, max_size=4)


def dumps(value: Any) -> bytes:
    """Encode a generated value; value sharing off, so tags 28/29 stay raw tags."""
    return bytes(cbor2.dumps(value))


@st.composite
def encoded_cbor(draw: st.DrawFn) -> bytes:
    return dumps(draw(cbor_values))


def shaped(right: Any, *, weight: int = 3) -> st.SearchStrategy[Any]:
    """The right value most of the time, a random CBOR value otherwise."""
    return st.one_of(*([st.just(right)] * weight), small_cbor_values)


# --- Byte mutations -------------------------------------------------------------


class Op(enum.Enum):
    FLIP = "flip"  # flip one bit
    SET = "set"  # overwrite one byte
    INSERT = "insert"  # insert one to four random bytes
    DELETE = "delete"  # delete one to eight bytes
    TRUNCATE = "truncate"  # cut everything from here
    DUPLICATE = "duplicate"  # repeat a slice in place (length fields now lie)
    APPEND = "append"  # a tail after the item


def _position(draw: st.DrawFn, size: int) -> int:
    """An index into ``size`` bytes, spread over the whole string.

    A plain ``st.integers(0, size - 1)`` leans hard towards small values (half of
    the draws land in the first fifth of a 3 KB response), which would leave the
    IssuerSignedItems at the end of a DeviceResponse almost untouched.
    """
    if size <= 1:
        return 0
    stride = -(-size // 16)
    return min(draw(st.integers(0, 15)) * stride + draw(st.integers(0, stride - 1)), size - 1)


@st.composite
def mutated(draw: st.DrawFn, original: bytes, max_ops: int = 4) -> bytes:
    """``original`` after one to ``max_ops`` random edits at hypothesis-chosen positions."""
    data = bytearray(original)
    # Half the time only edit in place, so the CBOR framing mostly survives and the
    # edit lands in what is signed or hashed rather than in a length field.
    in_place = draw(st.booleans())
    ops = [Op.FLIP, Op.SET] if in_place else list(Op)
    for _ in range(draw(st.integers(1, 2 if in_place else max_ops))):
        op = draw(st.sampled_from(ops))
        pos = _position(draw, len(data))
        if op is Op.FLIP and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op is Op.SET and data:
            data[pos] = draw(st.integers(0, 255))
        elif op is Op.INSERT:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif op is Op.DELETE:
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op is Op.TRUNCATE:
            del data[pos:]
        elif op is Op.DUPLICATE:
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 16))]
        elif op is Op.APPEND:
            data += draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


# --- Tree mutations -------------------------------------------------------------


class Step(enum.Enum):
    TAG = "tag"  # into the content of a CBORTag
    EMBED = "embed"  # into a byte string that itself holds one CBOR item


Path = tuple[Any, ...]


def _embedded(value: bytes) -> Any:
    try:
        return cbor2.loads(value)
    except Exception:
        return None


def _holds_one_item(value: bytes, decoded: Any) -> bool:
    if decoded is None or not value:
        return False
    try:
        return bytes(cbor2.dumps(decoded, canonical=True)) == value
    except Exception:
        return False


def subtree_paths(value: Any, prefix: Path = ()) -> list[Path]:
    """Every node of a decoded CBOR tree, descending into embedded (tag-24 or bstr) CBOR."""
    paths = [prefix]
    if isinstance(value, Mapping):
        for key, child in value.items():
            paths += subtree_paths(child, (*prefix, key))
    elif isinstance(value, list | tuple):
        for index, child in enumerate(value):
            paths += subtree_paths(child, (*prefix, index))
    elif isinstance(value, cbor2.CBORTag):
        paths += subtree_paths(value.value, (*prefix, Step.TAG))
    elif isinstance(value, bytes):
        decoded = _embedded(value)
        # Only bytes that are exactly one canonically encoded item (headers, the
        # MSO, IssuerSignedItems, DeviceNameSpaces); not certificates or signatures.
        if isinstance(decoded, Mapping | list | cbor2.CBORTag) and _holds_one_item(value, decoded):
            paths += subtree_paths(decoded, (*prefix, Step.EMBED))
    return paths


def edit_at(value: Any, path: Path, edit: Callable[[Any], Any]) -> Any:
    """A copy of ``value`` with ``edit`` applied to the node at ``path``."""
    if not path:
        return edit(value)
    step, rest = path[0], path[1:]
    if step is Step.EMBED:
        return bytes(cbor2.dumps(edit_at(cbor2.loads(value), rest, edit), canonical=True))
    if step is Step.TAG:
        return cbor2.CBORTag(value.tag, edit_at(value.value, rest, edit))
    if isinstance(value, Mapping):
        copy = dict(value)
        copy[step] = edit_at(copy[step], rest, edit)
        return copy
    items = list(value)
    items[step] = edit_at(items[step], rest, edit)
    return items


def node_at(value: Any, path: Path) -> Any:
    for step in path:
        if step is Step.EMBED:
            value = cbor2.loads(value)
        elif step is Step.TAG:
            value = value.value
        else:
            value = value[step]
    return value


class Edit(enum.Enum):
    REPLACE = "replace"  # the node becomes a random CBOR value
    DROP = "drop"  # the node leaves its map or array
    RENAME = "rename"  # the node's map key becomes a random key


@dataclass(frozen=True)
class TreeMutation:
    edit: Edit
    path: Path
    new: Any = None  # the replacement value, or the new key for RENAME

    def apply(self, root: Any) -> Any:
        if self.edit is Edit.REPLACE:
            return edit_at(root, self.path, lambda _old: self.new)
        parent_path, last = self.path[:-1], self.path[-1]

        def change(parent: Any) -> Any:
            if isinstance(parent, Mapping):
                copy = {k: v for k, v in parent.items() if k != last}
                if self.edit is Edit.RENAME:
                    copy[self.new] = parent[last]
                return copy
            return [v for i, v in enumerate(parent) if i != last]  # DROP from an array

        return edit_at(root, parent_path, change)


def _region(path: Path) -> Path:
    """Paths up to their first embedded item: the MSO, one IssuerSignedItem, a header."""
    return path[: path.index(Step.EMBED) + 1] if Step.EMBED in path else path


@st.composite
def tree_mutations(draw: st.DrawFn, root: Any, paths: list[Path]) -> TreeMutation:
    """Replace, drop or rename one node of ``root`` (path chosen by hypothesis).

    The region (an outer node, or one embedded item) is chosen first, so the
    large MSO does not crowd out the small unsigned parts around it.
    """
    regions: dict[Path, list[Path]] = {}
    for candidate in paths:
        regions.setdefault(_region(candidate), []).append(candidate)
    path = draw(st.sampled_from(regions[draw(st.sampled_from(list(regions)))]))
    parent_is_container = bool(path) and not isinstance(path[-1], Step)
    edits = [Edit.REPLACE]
    if parent_is_container:
        edits.append(Edit.DROP)
        if isinstance(node_at(root, path[:-1]), Mapping):
            edits.append(Edit.RENAME)
    edit = draw(st.sampled_from(edits))
    if edit is Edit.REPLACE:
        return TreeMutation(edit, path, draw(cbor_values))
    if edit is Edit.RENAME:
        return TreeMutation(edit, path, draw(hashable_leaves))
    return TreeMutation(edit, path)
