"""MqttActions against a real Mosquitto: what it publishes is what a node would accept."""

from __future__ import annotations

import asyncio
import datetime as dt

import aiomqtt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.central.viewer import MqttActions
from gateway.mqtt.payloads import Command, PostureState
from gateway.mqtt.signed import CT_COMMAND, CT_POSTURE, open_message
from gateway.mqtt.topics import topic_for
from gateway.node.sync.keys import key_id
from tests.mqtt.broker import mosquitto_path, running_mosquitto

pytestmark = pytest.mark.skipif(mosquitto_path() is None, reason="mosquitto not installed")
NOW = dt.datetime(2026, 3, 2, 8, 50, tzinfo=dt.UTC)


async def test_unlock_is_a_signed_unretained_command_and_posture_a_retained_document() -> None:
    operator, signer = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    with running_mosquitto() as broker:
        actions = MqttActions(
            broker.host, broker.port, "viewer-t1", operator, "op-kim",
            posture_key=signer, clock=lambda: NOW,
        )  # fmt: skip
        async with aiomqtt.Client(broker.host, broker.port, identifier="t1-node") as node:
            await node.subscribe(topic_for("commands", site="viewer-t1", node="gate-7"), qos=1)
            command_id = await actions.unlock(node="gate-7", door="d2", seconds=7, actor="kim")
            message = await asyncio.wait_for(anext(node.messages), 10)
        assert not message.retain
        assert isinstance(message.payload, bytes)
        command, kid = open_message(
            message.payload, {b"op-kim": operator.public_key()},
            content_type=CT_COMMAND, model=Command,
        )  # fmt: skip
        assert kid == b"op-kim"
        assert command.id == command_id
        assert (command.node, command.do.action) == ("gate-7", "unlock")
        assert command.do.model_dump() == {"action": "unlock", "door": "d2", "seconds": 7}

        first = await actions.set_posture(
            posture="level2", buildings={"b1": "fire"}, drill=True, reason="훈련", actor="kim"
        )
        second = await actions.set_posture(
            posture="normal", buildings={}, drill=False, reason="해제", actor="kim"
        )
        assert second > first  # the same second, still forward
        # A node connecting afterwards gets the latest posture, retained.
        async with aiomqtt.Client(broker.host, broker.port, identifier="t1-late") as late:
            await late.subscribe(topic_for("posture", site="viewer-t1"), qos=1)
            retained = await asyncio.wait_for(anext(late.messages), 10)
        assert retained.retain
        assert isinstance(retained.payload, bytes)
        state, _ = open_message(
            retained.payload, {key_id(signer.public_key()): signer.public_key()},
            content_type=CT_POSTURE, model=PostureState,
        )  # fmt: skip
        assert (state.version, state.posture, state.drill) == (second, "normal", False)
