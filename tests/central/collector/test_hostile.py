"""Hostile bytes on the collector's topics: never a crash, never a stored event."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.central.collector.ingest import Incoming, Ingest
from gateway.central.collector.model import StoredEvent
from gateway.central.collector.store import SqliteStore
from tests.central.collector.helpers import T0, FakeNode, batch_bytes, loaded_for

NODE = FakeNode("sejong", "gate-1")
GENUINE = NODE.decisions(3)
VALID = batch_bytes("sejong", "gate-1", GENUINE)
TOPICS = st.sampled_from(
    [NODE.topic, "gateway/sejong/node/gate-1/heartbeat", "gateway/sejong/node/gate-1/availability",
     "gateway/sejong/node/gate-x/events", "not/a/topic"]
)  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _run(tmp: Path, topic: str, payload: bytes) -> list[StoredEvent]:
    async def go() -> list[StoredEvent]:
        store = SqliteStore(tmp / "h.sqlite")
        await store.migrate()
        try:
            ingest = Ingest(loaded_for(tmp, [NODE]), store)
            changes, _ = await ingest.process([Incoming(topic, payload, T0)])
            await store.write(changes)
            assert ingest.stats.messages == 1
            return changes.events
        finally:
            await store.close()
            (tmp / "h.sqlite").unlink(missing_ok=True)

    return asyncio.run(go())


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(topic=TOPICS, payload=st.binary(max_size=600))
def test_arbitrary_bytes_store_nothing(tmp_path: Path, topic: str, payload: bytes) -> None:
    assert _run(tmp_path, topic, payload) == []


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=json_values)
def test_arbitrary_json_stores_nothing(tmp_path: Path, body: object) -> None:
    payload = json.dumps(body, allow_nan=True).encode()
    assert _run(tmp_path, NODE.topic, payload) == []


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_batches_store_only_genuine_events(tmp_path: Path, data: st.DataObject) -> None:
    raw = bytearray(VALID)
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    stored = _run(tmp_path, NODE.topic, bytes(raw))
    genuine = {e.seq: e.hash for e in GENUINE}
    assert all(genuine.get(e.seq) == e.hash for e in stored)
