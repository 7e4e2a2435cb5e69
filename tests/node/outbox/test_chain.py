"""The hash chain and the signatures: what verifies, and the tampering that does not."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.node.outbox import (
    ChainError,
    Event,
    Outbox,
    canonical_json,
    load_or_create_node_key,
    public_key_bytes,
    verify_chain,
)
from gateway.node.outbox.keys import NodeKeyError

from .conftest import OpenOutbox


async def _filled(open_outbox: OpenOutbox, n: int = 8) -> Outbox:
    outbox: Outbox = open_outbox()
    for i in range(n):
        await outbox.append("decision", {"i": i, "granted": i % 2 == 0, "holder": f"h{i}"})
    return outbox


def _reread(db_path: Path) -> list[Event]:
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute(
            "SELECT seq, at, kind, payload, prev_hash, hash, signature, delivered_at"
            " FROM events ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()
    return [Event.from_row(tuple(row)) for row in rows]


def _tamper(db_path: Path, sql: str, *args: Any) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute(sql, args)
    finally:
        conn.close()


async def test_a_stored_chain_verifies(
    open_outbox: OpenOutbox, db_path: Path, key: Ed25519PrivateKey
) -> None:
    outbox = await _filled(open_outbox)
    events = _reread(db_path)
    assert verify_chain(events, key.public_key()) == outbox.head[1]
    # A later slice verifies on its own, and against the hash the collector holds.
    assert verify_chain(events[3:], key.public_key()) == outbox.head[1]
    assert verify_chain(events[3:], key.public_key(), prev_hash=events[2].hash, first_seq=4)
    assert verify_chain([], key.public_key()) is None


async def test_wire_form_round_trips(open_outbox: OpenOutbox, key: Ed25519PrivateKey) -> None:
    outbox = await _filled(open_outbox, 3)
    events = outbox.events()
    wired = [Event.from_wire(e.to_wire()) for e in events]
    assert wired == events
    verify_chain(wired, key.public_key())


async def test_an_edited_payload_is_detected(
    open_outbox: OpenOutbox, db_path: Path, key: Ed25519PrivateKey
) -> None:
    await _filled(open_outbox)
    _tamper(db_path, "UPDATE events SET payload = ? WHERE seq = 4", canonical_json({"i": 99}))
    with pytest.raises(ChainError) as caught:
        verify_chain(_reread(db_path), key.public_key())
    assert caught.value.seq == 4
    assert "hash" in caught.value.reason


async def test_an_edit_with_a_recomputed_hash_fails_the_signature(
    open_outbox: OpenOutbox, db_path: Path, key: Ed25519PrivateKey
) -> None:
    from gateway.node.outbox import event_hash

    await _filled(open_outbox)
    events = _reread(db_path)
    last = events[-1]
    forged = dataclasses.replace(
        last,
        payload={"granted": True},
        hash=event_hash(last.seq, last.at, last.kind, {"granted": True}, last.prev_hash),
    )
    with pytest.raises(ChainError, match="signature"):
        verify_chain([*events[:-1], forged], key.public_key())
    # ... and signing it with another key does not help.
    other = Ed25519PrivateKey.generate()
    resigned = dataclasses.replace(forged, signature=other.sign(bytes.fromhex(forged.hash)).hex())
    with pytest.raises(ChainError, match="signature"):
        verify_chain([*events[:-1], resigned], key.public_key())


async def test_a_deleted_row_is_detected(
    open_outbox: OpenOutbox, db_path: Path, key: Ed25519PrivateKey
) -> None:
    await _filled(open_outbox)
    _tamper(db_path, "DELETE FROM events WHERE seq = 5")
    with pytest.raises(ChainError) as caught:
        verify_chain(_reread(db_path), key.public_key())
    assert caught.value.seq == 6


async def test_reordered_rows_are_detected(
    open_outbox: OpenOutbox, db_path: Path, key: Ed25519PrivateKey
) -> None:
    await _filled(open_outbox)
    events = _reread(db_path)
    swapped = [*events[:2], events[3], events[2], *events[4:]]
    with pytest.raises(ChainError) as caught:
        verify_chain(swapped, key.public_key())
    assert caught.value.seq == 4
    # Swapping the rows' seq numbers in the table breaks the links instead.
    _tamper(db_path, "UPDATE events SET seq = -3 WHERE seq = 3")
    _tamper(db_path, "UPDATE events SET seq = 3 WHERE seq = 4")
    _tamper(db_path, "UPDATE events SET seq = 4 WHERE seq = -3")
    with pytest.raises(ChainError) as caught:
        verify_chain(_reread(db_path), key.public_key())
    assert caught.value.seq == 3


async def test_a_chain_spliced_onto_the_wrong_predecessor_is_detected(
    open_outbox: OpenOutbox, key: Ed25519PrivateKey
) -> None:
    outbox = await _filled(open_outbox)
    events = outbox.events()
    with pytest.raises(ChainError, match="prev_hash"):
        verify_chain(events[4:], key.public_key(), prev_hash=events[2].hash)
    with pytest.raises(ChainError, match="expected seq 4"):
        verify_chain(events[4:], key.public_key(), first_seq=4)


def test_node_key_is_created_0600_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    key = load_or_create_node_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_or_create_node_key(path)
    assert public_key_bytes(again) == public_key_bytes(key)
    assert len(public_key_bytes(key.public_key())) == 32
    os.chmod(path, 0o644)
    with pytest.raises(NodeKeyError, match="0600"):
        load_or_create_node_key(path)
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"not a key")
    bad.chmod(0o600)
    with pytest.raises(NodeKeyError, match="PEM"):
        load_or_create_node_key(bad)


# -- property tests on what parses stored rows ------------------------------------------------
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_PAYLOADS = st.dictionaries(st.text(max_size=10), _JSON, max_size=5)
_CELL = st.none() | st.integers() | st.text(max_size=30) | st.binary(max_size=10) | st.floats()


@settings(max_examples=300, deadline=None)
@given(st.lists(_CELL, min_size=0, max_size=10))
def test_from_row_refuses_any_malformed_row_with_chain_error(row: list[Any]) -> None:
    try:
        event = Event.from_row(tuple(row))
    except ChainError:
        return
    assert isinstance(event, Event)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["seq", "at", "kind", "payload", "prev_hash", "hash", "sig"]), _JSON | _CELL
    )
)
def test_from_wire_refuses_anything_else_with_chain_error(data: dict[str, Any]) -> None:
    try:
        event = Event.from_wire(data)
    except ChainError:
        return
    assert event.seq >= 1


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(kind=st.text(min_size=1, max_size=12), payloads=st.lists(_PAYLOADS, min_size=1, max_size=4))
def test_any_json_payload_survives_storage_and_verifies(
    tmp_path_factory: pytest.TempPathFactory, kind: str, payloads: list[dict[str, Any]]
) -> None:
    key = Ed25519PrivateKey.generate()
    path = tmp_path_factory.mktemp("prop") / "o.sqlite"
    outbox = Outbox(path, key)
    try:
        written = [outbox.append_sync(kind, payload) for payload in payloads]
    finally:
        outbox.close()
    stored = _reread(path)
    assert stored == written
    assert [e.payload for e in stored] == [canonical_json_roundtrip(p) for p in payloads]
    verify_chain(stored, key.public_key())
    assert [Event.from_wire(e.to_wire()) for e in stored] == stored


def canonical_json_roundtrip(payload: dict[str, Any]) -> Any:
    import json

    return json.loads(canonical_json(payload))


def test_from_wire_wants_the_payload_as_an_object() -> None:
    good = {
        "seq": 1,
        "at": "2026-11-23T09:00:00.000000Z",
        "kind": "tap",
        "payload": {},
        "prev_hash": "0" * 64,
        "hash": "a" * 64,
        "sig": "b" * 128,
    }
    assert Event.from_wire(good).payload == {}
    with pytest.raises(ChainError, match="object"):
        Event.from_wire({**good, "payload": "{}"})
    with pytest.raises(ChainError, match="payload"):
        Event.from_wire({**good, "payload": {"x": float("nan")}})
    with pytest.raises(ChainError, match="missing"):
        Event.from_wire({k: v for k, v in good.items() if k != "sig"})
