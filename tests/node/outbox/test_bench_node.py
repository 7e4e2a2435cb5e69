"""``python -m bench node`` on a short run: both settings measured, RSS figures present."""

from __future__ import annotations

from bench import node


def test_node_bench_short_run() -> None:
    figures = node.run(samples=40, load_s=0.5, idle_s=0.1)
    for setting in ("full", "normal"):
        for figure in ("submit", "append_commit", "append_sync"):
            stats = figures[setting][figure]
            assert 0 < stats["p50_us"] <= stats["p99_us"] <= stats["max_us"]
        assert figures[setting]["burst"]["events_per_s"] > 0
    assert set(figures["full_over_normal"]) == {
        "submit_p50_us",
        "submit_p99_us",
        "append_commit_p50_us",
        "append_commit_p99_us",
    }
    rss = figures["rss"]
    assert 0 < rss["runtime_and_outbox_rss_mb"] <= rss["idle_rss_mb"]
    assert rss["taps"] >= 5
    assert rss["events_logged"] > rss["taps"]
    assert isinstance(figures["targets"]["idle_rss_under_80mb"], bool)
    real = figures["node_rss"]
    assert 0 < real["idle_rss_mb"] <= real["peak_rss_mb"]
    assert real["taps"] >= 5
    assert real["events_logged"] >= 2 * real["taps"]  # a tap and a decision each, at least
    if real["linked"]:
        assert real["events_delivered"] == real["events_logged"]  # drained before it stopped
