"""A short scenario per complex: no wrong decision, every expected alarm raised and no other."""

from __future__ import annotations

import pytest

from simulator.site.scenario import Link
from tests.simulator.site.conftest import play, scenario_file

# What each complex's scenario must show, beside being right: rules and alarms it exercises.
MUST_SHOW = {
    "seoul": ({"exit:free", "org_hours:annex", "posture:level2"}, set()),
    "sejong": (
        {"credential:revoked", "credential:device_auth_failed", "credential:digest_mismatch"},
        {"tamper_alarm", "forced_alarm", "held_open_alarm"},
    ),
    "gwacheon": ({"duty:숙직", "posture:lockdown"}, {"lockdown_attempt", "tailgating_alarm"}),
    "daejeon": ({"duty:일직", "default_deny", "posture:fire"}, {"fire_entry_attempt"}),
}


@pytest.mark.parametrize("name", sorted(MUST_SHOW))
def test_a_short_day_at_each_complex_is_judged_right(name: str) -> None:
    # Linked over the embedded broker: every event travels outbox -> MQTT -> collector.
    scenario = scenario_file(name)
    summary = play(scenario.model_copy(update={"link": Link(broker="embedded")}))
    wrong, alarms = summary["wrong"], summary["alarms"]
    assert summary["taps"] > 0
    assert wrong["false_accepts"] == 0, wrong["listed"]
    assert wrong["false_rejects"] == 0, wrong["listed"]
    assert wrong["rule_mismatches"] == 0, wrong["rule_mismatches_listed"]
    assert alarms["missing"] == [], alarms
    assert alarms["unexpected"] == [], alarms
    rules, alarm_kinds = MUST_SHOW[name]
    assert rules <= set(summary["decisions"]["by_rule"]), summary["decisions"]["by_rule"]
    assert alarm_kinds <= set(alarms["raised"]), alarms
    events = summary["events"]
    assert events["emitted"] == sum(events["emitted_per_node"].values())
    assert events["by_event"]["decision"] == summary["taps"]
    assert events["published"] == events["stored"] > 0  # each stored once: (node, seq) unique
    assert (events["lost"], events["duplicated"]) == (0, 0)


def test_a_lent_credential_is_granted_and_counted_as_undetectable() -> None:
    summary = play(scenario_file("sejong"))
    assert summary["undetectable"] == {"lent": 1}
    assert summary["wrong"]["false_accepts"] == 0
