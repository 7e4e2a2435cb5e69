"""The centre's helpers: a fresh nonce each time, a policy entry the policy accepts, P-256 only."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from gateway.central.commands import new_command, operator_entry, public_key_text, sign_command
from gateway.mqtt.payloads import Resync
from gateway.node.commands import operator_key
from tests.node.commands.kit import NOW, SOC_KEY


def test_each_command_has_its_own_16_byte_nonce_and_expiry() -> None:
    resync = Resync(what=["policy"])
    commands = [new_command("sejong", "gate-1", resync, now=NOW) for _ in range(50)]
    assert len({c.id for c in commands}) == 50
    raw = base64.urlsafe_b64decode(commands[0].id + "==")
    assert len(raw) == 16
    assert commands[0].issued_at == NOW
    assert (commands[0].expires_at - NOW).total_seconds() == 60


def test_an_operator_entry_round_trips_to_the_same_key() -> None:
    entry = operator_entry(SOC_KEY.public_key(), ["unlock"], ["b6-in"], name="SOC")
    assert entry["doors"] == ["b6-in"]
    assert "=" not in entry["public_key"]
    assert operator_key(entry["public_key"]) == SOC_KEY.public_key()


def test_an_unknown_action_word_fails_at_the_centre() -> None:
    with pytest.raises(ValidationError):
        operator_entry(SOC_KEY.public_key(), ["open_everything"])


def test_only_p256_keys_sign_commands() -> None:
    other = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValueError, match="P-256"):
        sign_command(new_command("sejong", "gate-1", Resync(what=["policy"])), other, "soc-1")


def test_a_policy_key_that_is_not_p256_is_no_key() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    assert operator_key(public_key_text(p384)) is None
    assert operator_key("AAAA" * 20) is None
