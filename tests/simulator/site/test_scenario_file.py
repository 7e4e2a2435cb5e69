"""A scenario file's mistakes are named by file, line and key; the CLI says so and exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config.findings import ConfigError
from simulator.__main__ import main
from simulator.site.scenario import load_scenario
from tests.simulator.site.conftest import SCENARIOS

GOOD = (SCENARIOS / "sejong.toml").read_text(encoding="utf-8")


def test_every_shipped_scenario_loads() -> None:
    names = sorted(p.stem for p in SCENARIOS.glob("*.toml"))
    assert {
        "seoul",
        "sejong",
        "gwacheon",
        "daejeon",
        "rush",
        "revocation",
        "fire",
        "outage",
        "sejong-rush",
    } <= set(names)
    for path in SCENARIOS.glob("*.toml"):
        load_scenario(path)
    assert load_scenario(SCENARIOS / "sejong-rush.toml").people >= 20_000


def test_a_misspelled_key_names_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace("entry_gates = 2", "entry_gate = 2"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    [finding] = caught.value.findings
    line = GOOD.splitlines().index("entry_gates = 2") + 1
    assert finding.file == path
    assert finding.line == line
    assert finding.key == "buildings[1].entry_gate"


def test_a_bad_value_names_its_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace('path = "fast"', 'path = "warp"'), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    assert [f.key for f in caught.value.findings] == ["scenario.path"]
    assert "fast" in str(caught.value)


def test_an_unknown_gate_names_the_event(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace('gate = "b5-in-1"', 'gate = "b5-in-9"'), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    [finding] = caught.value.findings
    assert finding.key == "events[1].gate"
    assert finding.line == GOOD.splitlines().index('gate = "b5-in-1"') + 1
    assert "b5-in-1" in finding.hint


def test_the_cli_refuses_a_bad_file_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace("seed = 11", "seed = 'x'"), encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2
    assert f"{path}:" in result.output
    assert "scenario.seed" in result.output


def test_the_cli_prints_json_and_writes_a_report(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["run", str(SCENARIOS / "daejeon.toml"), "--json", "--report", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["wrong"]["false_accepts"] == 0
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 3
    assert "<script" not in page


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_loaded_or_refused_with_a_finding(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "s.toml"
    path.write_text(text, encoding="utf-8", errors="replace")
    try:
        load_scenario(path)
    except ConfigError as exc:
        assert exc.findings
