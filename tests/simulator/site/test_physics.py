"""Door physics on MockFactory pins: each misuse raises its own alarm at the real door code."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.site.scenario import load_scenario
from tests.simulator.site.conftest import play

BASE = """
[scenario]
name = "physics"
date = "2026-03-10"
start = "08:40"
end = "09:10"
seed = 4

[[buildings]]
id = "b1"
entry_gates = 1
exit_gates = 0
mode = "{mode}"

[[organizations]]
code = "1741000"
name = "행정안전부"
home = ["b1"]
people = 12

[[events]]
at = "08:45"
kind = "{kind}"
gate = "b1-in-1"
seconds = {seconds}
"""


def physics(tmp_path: Path, mode: str, kind: str, seconds: int = 60) -> dict[str, object]:
    path = tmp_path / "physics.toml"
    path.write_text(BASE.format(mode=mode, kind=kind, seconds=seconds), encoding="utf-8")
    summary = play(load_scenario(path))
    assert summary["wrong"]["false_accepts"] == summary["wrong"]["false_rejects"] == 0
    return summary["alarms"]  # type: ignore[return-value]


def test_tailgating_at_a_speed_gate_raises_tailgating(tmp_path: Path) -> None:
    alarms = physics(tmp_path, "speed-gate", "tailgate")
    assert alarms["raised"] == {"tailgating_alarm": 1}
    assert alarms["missing"] == alarms["unexpected"] == []


@pytest.mark.parametrize("mode", ["door", "speed-gate"])
def test_a_forced_door_raises_forced(tmp_path: Path, mode: str) -> None:
    alarms = physics(tmp_path, mode, "forced")
    assert alarms["raised"] == {"forced_alarm": 1}
    assert alarms["missing"] == alarms["unexpected"] == []


def test_a_door_held_open_past_its_limit_raises_held_open(tmp_path: Path) -> None:
    alarms = physics(tmp_path, "door", "held_open", seconds=45)
    assert alarms["raised"] == {"held_open_alarm": 1}
    assert alarms["missing"] == alarms["unexpected"] == []


def test_a_door_open_within_its_limit_raises_nothing(tmp_path: Path) -> None:
    alarms = physics(tmp_path, "door", "held_open", seconds=10)
    assert alarms["raised"] == {}
    assert alarms["expected"] == {}


def test_tamper_raises_tamper(tmp_path: Path) -> None:
    alarms = physics(tmp_path, "door", "tamper")
    assert alarms["raised"] == {"tamper_alarm": 1}
