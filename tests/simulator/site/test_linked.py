"""Linked mode: the simulated site over a real broker, every event counted end to end."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.mosquitto import mosquitto_path
from simulator.site.run import run_scenario
from simulator.site.scenario import Link, Scenario
from tests.simulator.site.conftest import scenario_file

BROKERS = [
    "embedded",
    pytest.param(
        "mosquitto",
        marks=pytest.mark.skipif(mosquitto_path() is None, reason="mosquitto not installed"),
    ),
]


def on(scenario: Scenario, broker: str, **link: Any) -> Scenario:
    return scenario.model_copy(update={"link": Link(broker=broker, **link)})  # type: ignore[arg-type]


async def play(scenario: Scenario) -> dict[str, Any]:
    summary = await run_scenario(scenario)
    summary.pop("_series")
    return summary


def assert_every_event_stored_once(summary: dict[str, Any]) -> None:
    events, link = summary["events"], summary["link"]
    assert link["settled"], link["problems"]
    assert events["published"] > 0
    assert events["lost"] == 0
    assert events["stored"] == events["published"]
    # Per node: the store holds seq 1..head, each once (UNIQUE (node, seq)), with no gap.
    assert events["stored_per_node"] == events["published_per_node"]
    assert events["chain_gaps"] == {}
    assert events["quarantined"] == 0


@pytest.mark.parametrize("broker", BROKERS)
async def test_a_morning_over_the_link_decides_right_and_stores_every_event_once(
    broker: str,
) -> None:
    summary = await play(on(scenario_file("sejong-linked"), broker))
    assert summary["wrong"]["false_accepts"] == summary["wrong"]["false_rejects"] == 0
    assert_every_event_stored_once(summary)
    assert summary["events"]["lost_before_commit"] == 0  # no crash: every event committed
    assert summary["events"]["published"] == summary["events"]["emitted"]
    assert summary["alarms"]["missing"] == summary["alarms"]["unexpected"] == []
    assert set(summary["alarms"]["raised"]) == {"forced_alarm", "held_open_alarm", "tamper_alarm"}
    # The lost report and the suspension went over MQTT and reached all three gates.
    revocations = summary["revocation"]
    assert [r["event"] for r in revocations] == ["lost", "suspend"]
    assert all(r["gates_updated"] == 3 and not r["late"] for r in revocations)
    assert summary["decisions"]["by_rule"]["credential:revoked"] >= 1
    assert summary["decisions"]["by_rule"]["credential:suspended"] == 1
    spread = summary["propagation_ms"]
    assert spread["revocations"]["n"] == 2
    assert 0 < spread["revocations"]["p50"] <= spread["revocations"]["max"]


async def test_without_a_link_the_accounting_stays_empty() -> None:
    scenario = scenario_file("sejong-linked")
    summary = await play(scenario.model_copy(update={"link": Link()}))
    assert summary["link"] is None
    assert summary["events"]["published"] is None
    assert summary["events"]["emitted"] > 0
