"""Faults on the link: after a broker restart, a node crash, a cut, a collector restart and a
skewed clock, every event committed by a node is stored exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.findings import ConfigError
from simulator.site.run import run
from simulator.site.scenario import FAULT_KINDS, Link, load_scenario
from tests.simulator.site.conftest import SCENARIOS, scenario_file
from tests.simulator.site.test_linked import BROKERS, assert_every_event_stored_once, on, play

GATES = 5


@pytest.mark.parametrize("broker", BROKERS)
async def test_broker_restart_and_node_crash_lose_nothing(broker: str) -> None:
    scenario = scenario_file("outage-linked")
    # The collector restart is left to Mosquitto: amqtt drops a QoS 1 message in flight to a
    # subscriber that goes away (docs/embedded-broker.md), and the simulator shows it.
    kept = ("broker_restart", "node_crash", "network_cut", "clock_skew")
    if broker == "embedded":
        events = [e for e in scenario.events if e.kind not in FAULT_KINDS or e.kind in kept]
        scenario = scenario.model_copy(update={"events": events})
    summary = await play(on(scenario, broker))
    assert summary["wrong"]["false_accepts"] == summary["wrong"]["false_rejects"] == 0
    assert_every_event_stored_once(summary)
    faults = {f["kind"]: f for f in summary["faults"]}
    assert {"broker_restart", "node_crash", "network_cut", "clock_skew"} <= set(faults)
    assert ("collector_restart" in faults) == (broker == "mosquitto")
    assert all("undone_at_s" in f for f in summary["faults"] if f["kind"] != "clock_skew")
    # The status list due while the broker was down went out once it was back, to every gate.
    deferred = faults["broker_restart"]["deferred_status"]
    assert deferred["gates_updated"] == GATES
    assert deferred["late"] == []
    # The crashed node was rebuilt on its state folder: one more "started", its chain intact.
    assert summary["events"]["by_event"]["node"] == 3 * GATES + 1
    # What a crash loses is only what was never committed, and it is counted, not hidden.
    events = summary["events"]
    assert events["emitted"] == events["published"] + events["lost_before_commit"]
    assert summary["propagation_ms"]["incomplete"] == []  # a 20 s skew is within the bound
    # The lost report was outside every outage: refused at every gate after it.
    assert summary["revocation"][0]["gates_updated"] == GATES


def test_a_fault_with_no_link_is_refused() -> None:
    scenario = scenario_file("outage-linked")
    with pytest.raises(ValueError, match="linked mode"):
        run(scenario.model_copy(update={"link": Link()}))


def test_a_revocation_inside_an_outage_is_refused(tmp_path: Path) -> None:
    text = (SCENARIOS / "outage-linked.toml").read_text(encoding="utf-8")
    moved = text.replace('at = "08:45"\nkind = "lost"', 'at = "08:38:30"\nkind = "lost"')
    assert moved != text
    path = tmp_path / "inside.toml"
    path.write_text(moved, encoding="utf-8")
    with pytest.raises(ConfigError, match="falls in the broker_restart"):
        load_scenario(path)


def test_a_fault_on_an_unknown_gate_is_refused(tmp_path: Path) -> None:
    text = (SCENARIOS / "outage-linked.toml").read_text(encoding="utf-8")
    path = tmp_path / "nogate.toml"
    path.write_text(text.replace('gate = "b6-in-1"', 'gate = "b9-in-1"'), encoding="utf-8")
    with pytest.raises(ConfigError, match="node_crash needs gate"):
        load_scenario(path)


async def test_a_clock_skew_past_the_status_bound_refuses_new_lists_and_shows_it() -> None:
    scenario = scenario_file("outage-linked")
    events = [
        e.model_copy(update={"skew_s": -400.0}) if e.kind == "clock_skew" else e
        for e in scenario.events
        if e.kind not in FAULT_KINDS or e.kind == "clock_skew"
    ]
    summary = await play(on(scenario.model_copy(update={"events": events}), "embedded"))
    assert_every_event_stored_once(summary)
    incomplete = summary["propagation_ms"]["incomplete"]
    skewed_at = next(f["at_s"] for f in summary["faults"] if f["kind"] == "clock_skew")
    assert incomplete, "a gate 400 s behind must refuse lists issued in its future"
    assert all(i["refused"] == {"b6-in-2": "invalid"} and i["at_s"] > skewed_at for i in incomplete)
