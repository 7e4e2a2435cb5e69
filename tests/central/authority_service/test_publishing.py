"""The running service against a real Mosquitto: lifecycle to the gate within a second,
posture retained, a broker outage delays but never loses, a restart republishes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from gateway.central.authority_service.build import RunningAuthority
from gateway.central.viewer.actions import ActionError
from gateway.central.viewer.lifecycle import AuthorityDbLifecycle
from gateway.credentials.status_list import StatusOutcome
from tests.central.conftest import KIM
from tests.mqtt.broker import Broker, free_port, mosquitto_path, running_mosquitto

from .conftest import TIMEOUT, Setup, gate_node, listening, mosquitto_on


@pytest.fixture
def broker() -> Iterator[Broker]:
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed")
    with running_mosquitto() as started:
        yield started


@contextlib.asynccontextmanager
async def serving(setup: Setup, port: int) -> AsyncIterator[RunningAuthority]:
    running = await setup.start(port)
    task = asyncio.create_task(running.run())
    try:
        yield running
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await running.close()


async def test_report_lost_reaches_a_gate_within_a_second(
    setup: Setup, broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    node = gate_node(setup)
    async with listening(node, broker.port), serving(setup, broker.port) as running:
        async with asyncio.timeout(TIMEOUT):
            first = await running.service.sync_status()  # what the first poll would do
            assert first is not None
            assert first.delta is None
            await node.wait_for("status_list", first.iat)
        assert node.status_of(setup.kim_index) is StatusOutcome.VALID

        setup.wall.advance(5)
        started = time.perf_counter()
        result = await running.actions.report_lost(KIM, "admin", "phone left in a taxi")
        called = time.perf_counter()
        async with asyncio.timeout(TIMEOUT):
            acked = await running.actions.wait_published(result)
            assert result.release is not None
            assert result.release.delta is not None
            applied = await node.wait_for("status_delta", result.release.iat)
            await node.wait_for("status_list", result.release.iat)  # the token converges
    assert [c.serial for c in result.changed] == [setup.kim_mobile]
    assert result.release.changes == ((setup.kim_index, 1),)
    assert node.status_of(setup.kim_index) is StatusOutcome.INVALID
    assert not [e for _, e in node.arrived if e.kind == "security"]  # no base_mismatch
    with capsys.disabled():
        print(
            f"\nreport_lost: call {1000 * (called - started):.1f} ms, "
            f"delta PUBACK {1000 * (acked - started):.1f} ms, "
            f"gate Syncer applied {1000 * (applied - started):.1f} ms"
        )
    assert started < acked  # measured, reported above; the budget (1 s) is not asserted


async def test_a_broker_outage_delays_publishing_but_loses_nothing(setup: Setup) -> None:
    port = free_port()
    node = gate_node(setup)
    async with serving(setup, port) as running:  # no broker yet: the service keeps trying
        first = await running.service.sync_status()
        assert first is not None
        setup.wall.advance(5)
        result = await running.actions.suspend(KIM, "admin", "leave of absence")
        assert result.release is not None
        assert not running.service.publisher.connected.is_set()
        with mosquitto_on(port, setup.tmp / "broker"):
            async with asyncio.timeout(TIMEOUT):
                await running.service.publisher.connected.wait()
                # the delta was dropped while offline; the token that carries it was not
                await running.service.publisher.wait_acked(
                    running.service.token_message(result.release, setup.site)
                )
            async with listening(node, port), asyncio.timeout(TIMEOUT):
                await node.wait_for("status_list", result.release.iat)  # retained
    assert node.status_of(setup.kim_index) is StatusOutcome.SUSPENDED


async def test_a_restart_republishes_token_and_posture(setup: Setup, broker: Broker) -> None:
    async with serving(setup, broker.port) as running:
        release = await running.service.sync_status()
        assert release is not None
        posture = running.posture.set_posture("level3", {"b6": "lockdown"}, reason="exercise",
                                              actor="admin")  # fmt: skip
        async with asyncio.timeout(TIMEOUT):
            await running.service.publisher.wait_acked(
                running.service.token_message(release, setup.site)
            )
    # The broker forgets its retained copies (a restart without persistence) …
    node = gate_node(setup)
    port = broker.port
    broker.process.terminate()
    broker.process.wait(5)
    with mosquitto_on(port, setup.tmp / "again"):
        # … and the restarted service publishes the same token and posture again.
        async with serving(setup, port) as running, listening(node, port):
            assert await running.service.poll_once() is None  # nothing new to release
            async with asyncio.timeout(TIMEOUT):
                await node.wait_for("status_list", release.iat)
                await node.wait_for("posture", posture.version)
            assert node.syncer.posture is not None
            assert node.syncer.posture[0].buildings == {"b6": "lockdown"}


async def test_a_viewer_admins_lost_report_reaches_a_gate_through_the_service(
    setup: Setup, broker: Broker
) -> None:
    # The viewer writes the change into the authority database; the running service polls
    # it (data_version) and publishes the delta and the token, as for the CLI.
    node = gate_node(setup)
    desk = AuthorityDbLifecycle(setup.db, clock=setup.wall)
    async with listening(node, broker.port), serving(setup, broker.port) as running:
        async with asyncio.timeout(TIMEOUT):
            first = await running.service.sync_status()
            assert first is not None
            await node.wait_for("status_list", first.iat)
        setup.wall.advance(5)
        changed = await desk.lifecycle("lost", setup.kim_mobile, actor="guard-kim", reason="taxi")
        assert changed == 1
        async with asyncio.timeout(TIMEOUT):
            while node.status_of(setup.kim_index) is not StatusOutcome.INVALID:
                node.changed.clear()
                await node.changed.wait()
    assert not [e for _, e in node.arrived if e.kind == "security"]
    with pytest.raises(ActionError, match="already"):  # lost is final: a clear refusal
        await desk.lifecycle("lost", setup.kim_mobile, actor="guard-kim", reason="again")
