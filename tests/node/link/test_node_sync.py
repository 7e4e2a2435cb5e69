"""A running node against a real Mosquitto: revocation, rollback, forgery and commands.

The centre's side is played with its own helpers (``gateway.central.sync_publish``,
``gateway.central.commands``) on a second client; the node is the one
``gateway node`` runs, with the memory reader.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.central.commands import new_command, sign_command
from gateway.central.sync_publish import publish_status_token
from gateway.credentials.status_list import Status, sign_status_list_token
from gateway.mqtt import topics
from gateway.mqtt.payloads import CommandResult, Heartbeat, Unlock
from gateway.node.door import DoorState
from tests.credentials.conftest import STATUS_URI
from tests.mqtt.broker import Broker, mosquitto_path, running_mosquitto
from tests.node.link.site import NODE, OPERATOR, SITE, LinkedNode, linked_node, write_linked_site
from tests.node.test_node_app import NOW, WORLD

pytestmark = pytest.mark.skipif(mosquitto_path() is None, reason="mosquitto is not installed")
T0 = int(NOW.timestamp())


@pytest.fixture
def broker() -> Iterator[Broker]:
    with running_mosquitto() as running:
        yield running


@pytest.fixture
async def node(tmp_path: Path, broker: Broker) -> AsyncIterator[LinkedNode]:
    keys = write_linked_site(tmp_path, broker.host, broker.port)
    async with linked_node(tmp_path, keys) as running:
        yield running


@pytest.fixture
async def centre(broker: Broker) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(broker.host, broker.port, identifier="centre") as client:
        yield client


def _is(kind: str, **fields: object) -> object:
    return lambda r: r["event"] == kind and all(r.get(k) == v for k, v in fields.items())


async def test_a_status_list_making_a_card_invalid_denies_its_next_tap(
    node: LinkedNode, centre: aiomqtt.Client
) -> None:
    card = WORLD.issue_card(60)
    assert (await node.tap(card))["granted"] is True
    WORLD.set_status(card.index, Status.INVALID)
    mark = node.seen.mark()
    await publish_status_token(centre, SITE, WORLD.token(iat=T0 + 10))
    synced = await node.seen.next(_is("sync", what="status_list"), mark)
    assert synced["version"] == T0 + 10
    denied = await node.tap(card)
    assert denied["granted"] is False
    assert denied["reason"] == "revoked"


async def test_an_old_token_and_a_forged_one_change_nothing_and_raise_security_events(
    node: LinkedNode, centre: aiomqtt.Client
) -> None:
    card = WORLD.issue_card(61)
    WORLD.set_status(card.index, Status.INVALID)
    await publish_status_token(centre, SITE, WORLD.token(iat=T0 + 20))
    await node.seen.next(_is("sync", what="status_list", version=T0 + 20))
    WORLD.set_status(card.index, Status.VALID)  # what an attacker would like the gate to hold

    mark = node.seen.mark()
    await publish_status_token(centre, SITE, WORLD.token(iat=T0 - 30))
    rollback = await node.seen.next(_is("security", what="status_list"), mark)
    assert rollback["reason"] == "rollback"
    assert rollback["is_alarm"] is True

    mark = node.seen.mark()
    forger = ec.generate_private_key(ec.SECP256R1())
    forged = sign_status_list_token(
        WORLD.statuses, key=forger, uri=STATUS_URI, issued_at=T0 + 40, expires_at=None, ttl=3600
    )
    await publish_status_token(centre, SITE, forged)
    forgery = await node.seen.next(_is("security", what="status_list"), mark)
    assert forgery["reason"] == "bad_signature"

    assert (await node.tap(card))["reason"] == "revoked"  # still the list of T0 + 20


async def test_a_signed_unlock_opens_the_door_once_and_its_replay_and_a_forgery_do_not(
    node: LinkedNode, centre: aiomqtt.Client
) -> None:
    results = topics.topic_for("command_results", site=SITE, node=NODE)
    await centre.subscribe(results, qos=1)
    command = new_command(SITE, NODE, Unlock(door=NODE, seconds=7), now=NOW, lifetime_s=60)
    signed = sign_command(command, node.keys.operator, OPERATOR)
    commands = topics.topic_for("commands", site=SITE, node=NODE)

    mark = node.seen.mark()
    await centre.publish(commands, signed, qos=1)
    done = await node.seen.next(_is("command"), mark)
    assert done["outcome"] == "done"
    assert done["operator"] == OPERATOR
    kinds = [r["event"] for r in node.seen.events[mark:]]
    assert kinds.index("command_accepted") < kinds.index("door")  # logged before it acts
    controller = node.gate.controller
    assert controller is not None
    assert controller.state is DoorState.UNLOCKED_FOR_GRANT
    message = await anext(aiter(centre.messages))
    assert isinstance(message.payload, bytes)
    result = CommandResult.model_validate_json(message.payload)
    assert (result.command_id, result.outcome) == (command.id, "done")

    mark = node.seen.mark()
    await centre.publish(commands, signed, qos=1)  # the same bytes again
    replay = await node.seen.next(_is("command"), mark)
    assert (replay["outcome"], replay["reason"]) == ("refused", "replayed")
    assert replay["is_alarm"] is True

    mark = node.seen.mark()
    unsigned = base64.b64encode(command.model_dump_json().encode())
    await centre.publish(commands, unsigned, qos=1)
    forged = await node.seen.next(_is("command"), mark)
    assert (forged["outcome"], forged["reason"]) == ("refused", "malformed")
    assert forged["is_alarm"] is True  # unsigned: a security event, not just a refusal


async def test_a_retained_command_is_never_acted_on(
    tmp_path: Path, broker: Broker, centre: aiomqtt.Client
) -> None:
    keys = write_linked_site(tmp_path, broker.host, broker.port)
    command = new_command(SITE, NODE, Unlock(door=NODE, seconds=5), now=NOW)
    commands = topics.topic_for("commands", site=SITE, node=NODE)
    await centre.publish(
        commands, sign_command(command, keys.operator, OPERATOR), qos=1, retain=True
    )
    async with linked_node(tmp_path, keys) as node:  # subscribes after: delivered as retained
        refused = await node.seen.next(_is("command"))
        assert (refused["outcome"], refused["reason"]) == ("refused", "retained")
        controller = node.gate.controller
        assert controller is not None
        assert controller.state is DoorState.LOCKED


async def test_the_node_says_online_sends_a_heartbeat_and_says_offline_when_it_stops(
    tmp_path: Path, broker: Broker, centre: aiomqtt.Client
) -> None:
    keys = write_linked_site(tmp_path, broker.host, broker.port)
    availability = topics.topic_for("availability", site=SITE, node=NODE)
    await centre.subscribe(topics.topic_for("heartbeat", site=SITE, node=NODE), qos=0)
    await centre.subscribe(availability, qos=1)
    messages = aiter(centre.messages)

    async def next_on(topic: str) -> bytes:
        async with asyncio.timeout(15):
            while True:
                message = await anext(messages)
                if str(message.topic) == topic:
                    assert isinstance(message.payload, bytes)
                    return message.payload

    async with linked_node(tmp_path, keys):
        assert await next_on(availability) == b"online"
        beat = Heartbeat.model_validate_json(
            await next_on(topics.topic_for("heartbeat", site=SITE, node=NODE))
        )
        assert beat.node == NODE
        assert beat.policy.version == 3
        assert set(beat.status_lists) == {"1"}  # the list of tests.credentials' world
        assert beat.status_lists["1"].stale is False
        assert beat.outbox.limit == 200_000  # the default backlog alarm
        assert [d.id for d in beat.doors] == [NODE]
        assert beat.doors[0].state == "locked"
        assert beat.readers[0].ok is True
    assert await next_on(availability) == b"offline"  # said by the node, not its Will
