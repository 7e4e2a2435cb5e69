"""``python -m bench decide`` on a short run: the door is really driven and the figures are sane."""

from __future__ import annotations

from bench import decide


def test_decide_short_run_drives_the_door() -> None:
    figures = decide.run(calls=400, warmup=50)

    assert figures["calls"] == 400
    assert figures["scope"].startswith("policy plus door")
    door = figures["door"]
    assert door["grants_driven"] > 0
    assert door["relocked_on_close"] + door["relocked_on_unlock_time"] == door["grants_driven"]
    for posture in ("normal", "level1"):
        result = figures[posture]
        assert 0 < result["granted_share"] < 1
        for figure in ("policy_only", "policy_plus_door", "to_relay", "door_grant"):
            stats = result[figure]
            assert 0 < stats["p50_us"] <= stats["p99_us"] <= stats["max_us"]
        assert result["policy_plus_door"]["n"] == 400
        assert result["to_relay"]["n"] == result["door_grant"]["n"] > 0
    assert set(figures["targets"]) == {
        "policy_only_p99_under_200us",
        "policy_plus_door_p99_under_200us",
        "to_relay_p99_under_200us",
    }
    assert all(isinstance(v, bool) for v in figures["targets"].values())


def test_revocation_short_run_reaches_every_node_with_nothing_refused() -> None:
    from bench import revocation
    from simulator.mosquitto import mosquitto_path

    if mosquitto_path() is None:
        return
    figures = revocation.run(nodes=4, rounds=2)
    assert figures["nodes"] == 4
    assert figures["refused"] == []
    assert figures["delta_bytes"] < figures["token_bytes"]
    for kind in ("token", "delta"):
        result = figures[kind]
        assert 0 < result["all_nodes"]["p50_ms"] <= result["all_nodes"]["p99_ms"]
        assert result["floor_all_nodes"]["p50_ms"] > 0
