"""`gateway authority serve --check | posture | publish-policy` through click's CliRunner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import get_args

import pytest
from click.testing import CliRunner

from gateway.central.authority_service.state import ServiceState
from gateway.cli.authority import authority as authority_group
from gateway.cli.authority_serve import POSTURES
from gateway.mqtt.payloads import PostureName
from gateway.node.policy import sign_document
from tests.mqtt.broker import Broker, free_port, mosquitto_path, running_mosquitto
from tests.node.policy.site import site as policy_site

from .conftest import Setup


@pytest.fixture
def broker() -> Iterator[Broker]:
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed")
    with running_mosquitto() as started:
        yield started


def run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(authority_group, [str(a) for a in args])
    return result.exit_code, result.output


def test_postures_are_the_payload_names() -> None:
    assert get_args(PostureName) == POSTURES


def test_serve_check_and_config_findings(setup: Setup) -> None:
    code, out = run("serve", "--config", setup.config(free_port()), "--check")
    assert code == 0, out
    code, out = run("serve", "--config", setup.config(free_port(), shade='"x"'), "--check")
    assert code == 2
    assert "shade" in out
    assert ":13:" in out
    setup.db.rename(setup.tmp / "moved.db")
    code, out = run("serve", "--config", setup.config(free_port()), "--check")
    assert code == 1
    assert "no authority database" in out


def test_posture_and_policy_from_the_command_line(setup: Setup, broker: Broker) -> None:
    config = setup.config(broker.port)
    code, out = run(
        "posture", "--config", config, "level2", "--building", "b6=lockdown",
        "--reason", "threat", "--actor", "duty-officer",
    )  # fmt: skip
    assert code == 0, out
    assert "version 1" in out
    code, out = run("posture", "--config", config, "normal", "--actor", "duty-officer")
    assert code == 0, out
    assert "version 2" in out
    code, out = run("posture", "--config", config, "normal", "--building", "b6", "--actor", "x")
    assert code != 0
    assert "BUILDING=POSTURE" in out

    policy = setup.tmp / "policy.cose"
    policy.write_bytes(sign_document(json.dumps(policy_site(version=3)).encode(), setup.policy_key))
    code, out = run("publish-policy", "--config", config, policy, "--actor", "policy-team")
    assert code == 0, out
    assert "version 3" in out
    code, out = run("publish-policy", "--config", config, policy, "--actor", "policy-team")
    assert code == 1
    assert "not above" in out

    state = ServiceState(setup.tmp / "state.sqlite")
    try:
        assert sorted((d.kind, d.version) for d in state.documents()) == [
            ("policy", 3), ("posture", 2)
        ]  # fmt: skip
    finally:
        state.close()
