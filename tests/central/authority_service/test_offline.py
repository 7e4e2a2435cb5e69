"""Without a broker: CLI changes picked up by poll_once, deltas exact, posture versions
forward across restarts, policy checked, the HR schedule enrolling each file once."""

from __future__ import annotations

import json
import shutil

import aiomqtt
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.central.authority.service import Authority
from gateway.central.authority_service.config import load_service_config
from gateway.central.authority_service.hr_schedule import HrSchedule
from gateway.central.authority_service.posture import PostureDesk
from gateway.central.authority_service.publisher import Publisher
from gateway.central.authority_service.state import ServiceState
from gateway.central.authority_service.status import changed_entries
from gateway.cli.authority import authority as authority_group
from gateway.config.findings import ConfigError
from gateway.credentials.status_list import StatusList
from gateway.mqtt.payloads import StatusListDelta
from gateway.mqtt.signed import CT_STATUS_DELTA, open_message
from gateway.node.policy import PolicyError, sign_document
from gateway.node.sync.keys import key_id
from tests.central.conftest import EXAMPLES, KIM, LEE
from tests.mqtt.broker import free_port
from tests.node.policy.site import site as policy_site

from .conftest import Setup


async def test_a_cli_change_is_picked_up_by_poll_once(setup: Setup) -> None:
    running = await setup.start(free_port())  # nobody listens there: nothing is published
    try:
        service = running.service
        first = await service.poll_once()
        assert first is not None
        assert first.delta is None
        assert await service.poll_once() is None  # nothing changed since

        setup.wall.advance(2)
        cli = CliRunner().invoke(
            authority_group,
            ["lost", str(setup.db), KIM, "--reason", "lost at the gym", "--actor", "clerk",
             "--now", setup.wall().isoformat()],
        )  # fmt: skip
        assert cli.exit_code == 0, cli.output

        release = await service.poll_once()
        assert release is not None
        assert release.iat > first.iat
        assert release.changes == ((setup.kim_index, 1),)
        assert release.delta is not None
        with Authority.open(setup.db) as authority:
            public = authority.status_signer_certificate.public_key()
        delta, _ = open_message(
            release.delta, {key_id(public): public}, content_type=CT_STATUS_DELTA,  # type: ignore[arg-type]
            model=StatusListDelta,
        )  # fmt: skip
        assert (delta.base, delta.iat, delta.changes) == (
            first.iat, release.iat, [(setup.kim_index, 1)]
        )  # fmt: skip
        assert await service.poll_once() is None
        assert service.publisher.pending() == 1  # the newest token waits; the delta was dropped
    finally:
        await running.close()


async def test_a_restart_starts_from_what_the_broker_acknowledged(setup: Setup) -> None:
    running = await setup.start(free_port())
    try:
        first = await running.service.poll_once()
        assert first is not None
        assert running.service.publisher.pending() == 1
    finally:
        await running.close()
    running = await setup.start(free_port())  # nothing was PUBACKed: the token is queued again
    try:
        assert running.service.publisher.pending() == 1
        assert await running.service.poll_once() is None
        message = running.service.token_message(first, setup.site)
        # What the publisher records on a PUBACK:
        running.service.state.mark_published(
            message.topic, message.name, message.version, message.digest, setup.wall()
        )
    finally:
        await running.close()
    setup.wall.advance(1)
    with Authority.open(setup.db) as authority:  # the CLI publishes while the service is down
        token = authority.publish_status_list(setup.wall(), actor="cli")
    running = await setup.start(free_port())
    try:
        assert running.service.publisher.pending() == 0  # the gates hold an older one
        release = await running.service.poll_once()  # released as news, not a third token
        assert release is not None
        assert release.token == token
        assert release.delta is None  # nothing changed between the two tokens
        assert running.service.publisher.pending() == 1
    finally:
        await running.close()


async def test_posture_versions_move_forward_and_survive_a_restart(setup: Setup) -> None:
    running = await setup.start(free_port())
    try:
        desk = running.posture
        assert desk.set_posture("level3", actor="admin").version == 1
        assert desk.set_posture("normal", drill=True, reason="drill", actor="admin").version == 2
    finally:
        await running.close()
    running = await setup.start(free_port())
    try:
        assert running.service.publisher.pending() == 1  # the posture is queued again
        assert running.posture.refresh() == 0  # and only once
        state = running.posture.set_posture("fire", {"b6": "fire"}, actor="admin")
        assert state.version == 3
        assert state.site == setup.site
    finally:
        await running.close()


async def test_policy_must_verify_and_move_forward(setup: Setup) -> None:
    running = await setup.start(free_port())
    try:
        desk = running.posture
        signed = sign_document(json.dumps(policy_site(version=4)).encode(), setup.policy_key)
        assert desk.publish_policy(signed, actor="admin") == 4
        with pytest.raises(ValueError, match="not above"):
            desk.publish_policy(signed, actor="admin")
        with pytest.raises(PolicyError):
            desk.publish_policy(signed[:-3] + b"abc", actor="admin")
        with pytest.raises(ValueError, match="site"):
            desk.publish_policy(signed, actor="admin", site="elsewhere")
    finally:
        await running.close()


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=512) | st.builds(lambda b: b"\xd2\x84" + b, st.binary(max_size=64)))
def test_hostile_policy_bytes_are_refused_cleanly(setup: Setup, data: bytes) -> None:
    state = ServiceState(setup.tmp / "hostile.sqlite")
    try:
        publisher = Publisher(state, lambda: aiomqtt.Client("127.0.0.1", 1))
        desk = PostureDesk(state, publisher, setup.policy_key, [setup.site], setup.wall)
        with pytest.raises((PolicyError, ValueError)):
            desk.publish_policy(data, actor="admin")
        assert state.documents() == []
        assert publisher.pending() == 0
    finally:
        state.close()


async def test_hr_schedule_enrolls_each_new_file_once(setup: Setup) -> None:
    folder = setup.tmp / "exports"
    folder.mkdir()
    running = await setup.start(free_port())
    try:
        hr = HrSchedule(running.service, folder)
        assert await hr.scan_once() == []
        shutil.copy(EXAMPLES / "hr-export.csv", folder / "2026-03-02.csv")
        (outcome,) = await hr.scan_once()
        assert outcome.outcome == "enrolled"
        assert outcome.detail["unchanged"] > 0
        assert await hr.scan_once() == []  # the same bytes again: not enrolled twice
        bad = (EXAMPLES / "hr-export.csv").read_text(encoding="utf-8")
        bad = bad.replace(f"{LEE},이서연,N,행정안전부,1741000", f"{LEE},이서연,N,행정안전부,17410")
        (folder / "2026-03-03.csv").write_text(bad, encoding="utf-8")
        (refused,) = await hr.scan_once()
        assert refused.outcome == "refused"
        (issue, *_) = refused.detail["issues"]
        assert issue["line"] == 3
        assert issue["field"]
        assert issue["file"].endswith("03.csv")
        assert await hr.scan_once() == []  # not retried until its bytes change
    finally:
        await running.close()
    running = await setup.start(free_port())
    try:
        assert await HrSchedule(running.service, folder).scan_once() == []  # remembered
    finally:
        await running.close()


def test_config_errors_name_file_line_and_key(setup: Setup) -> None:
    path = setup.config(1883, colour='"blue"')
    with pytest.raises(ConfigError) as caught:
        load_service_config(path)
    (finding,) = caught.value.findings
    assert finding.file == path
    assert finding.line == 13
    assert "colour" in finding.key
    (setup.tmp / "policy.pem").write_text("not a key")
    with pytest.raises(ConfigError) as caught:
        load_service_config(setup.config(1883))
    (finding,) = caught.value.findings
    assert finding.key == "keys.policy_signer_key"
    assert finding.line == 12


@given(
    size=st.integers(1, 300),
    changes=st.lists(st.tuples(st.integers(0, 299), st.sampled_from([0, 1, 2])), max_size=40),
)
def test_changed_entries_turn_the_old_list_into_the_new(
    size: int, changes: list[tuple[int, int]]
) -> None:
    old = StatusList(size, 2)
    for idx, status in changes[: len(changes) // 2]:
        old.set(idx % size, status)
    new = old.with_changes([(idx % size, status) for idx, status in changes])
    found = changed_entries(old, new)
    assert old.with_changes(found) == new
    assert all(old.get(i) != new.get(i) for i, _ in found)
    assert len({i for i, _ in found}) == len(found)
