"""The simulator's tests: quiet node logs (a tap's lines cost more than the tap), restored after."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from simulator.site.run import run
from simulator.site.scenario import Scenario, load_scenario

SCENARIOS = Path(__file__).resolve().parents[3] / "simulator" / "scenarios"


@pytest.fixture(autouse=True)
def quiet_nodes() -> Iterator[None]:
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    yield
    structlog.configure(**saved)


def scenario_file(name: str) -> Scenario:
    return load_scenario(SCENARIOS / f"{name}.toml")


def play(scenario: Scenario) -> dict[str, Any]:
    summary = run(scenario)
    summary.pop("_series")
    return summary
