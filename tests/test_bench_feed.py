"""``python -m bench feed`` on a short, slow run: every tapped event reaches the live feed once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.feed import Load, compare, end_to_end
from simulator.mosquitto import mosquitto_path


def test_compare_counts_missing_repeated_and_unknown_frames() -> None:
    created = {("node-000", 1): 10.0, ("node-000", 2): 10.0, ("node-001", 1): 10.0}
    arrivals = {
        ("node-000", 1): [10.1, 10.2],  # shown twice
        ("node-000", 2): [10.3],
        ("node-999", 1): [10.4],  # never sent
    }
    figures = compare(created, arrivals)
    assert (figures["sent"], figures["seen"], figures["duplicates"]) == (3, 2, 2)
    assert figures["every_event_once"] is False
    assert figures["max_ms"] == pytest.approx(300.0)


async def test_real_outboxes_to_the_live_feed_see_every_event_once(tmp_path: Path) -> None:
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed")
    load = Load(nodes=2, rate_per_node=20.0, seconds=2.0)

    figures = await end_to_end(load, 0.1, tmp_path, "outbox")

    assert figures["sent"] == figures["seen"] == load.total == 80
    assert figures["duplicates"] == 0
    assert figures["every_event_once"] is True
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    for leg in ("tap_to_collector", "collector_to_feed"):
        assert figures["legs"][leg]["every_event_once"] is True
    # Generous (a shared 2-core machine), but a stream that missed polls would blow it.
    assert figures["p99_ms"] < 5_000
