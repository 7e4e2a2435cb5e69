"""Two operators with real P-256 keys, a policy naming them, and a gate for node gate-6-01.

``soc-1`` may do anything at any door; ``guard-2`` may only relock ``b6-in``.
The node drives two doors (``b6-in``, ``b6-out``), so a door outside an
operator's list can be told apart from a door that is not the node's.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.central.commands import new_command, operator_entry, sign_command
from gateway.mqtt.payloads import Command, Relock, Resync, Unlock
from gateway.node.commands import CommandGate, ReplayMemory
from gateway.node.policy.document import PolicyDocument
from gateway.node.policy.signed import parse_document
from tests.node.policy.site import site

SITE, NODE = "sejong", "gate-6-01"
DOORS = ("b6-in", "b6-out")
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
SOC_KEY = ec.generate_private_key(ec.SECP256R1())
GUARD_KEY = ec.generate_private_key(ec.SECP256R1())
STRANGER_KEY = ec.generate_private_key(ec.SECP256R1())


def policy(*, version: int = 7, without: tuple[str, ...] = ()) -> PolicyDocument:
    operators: dict[str, Any] = {
        "soc-1": operator_entry(SOC_KEY.public_key(), ["unlock", "relock", "resync"]),
        "guard-2": operator_entry(GUARD_KEY.public_key(), ["relock"], ["b6-in"], name="경비"),
    }
    for gone in without:
        del operators[gone]
    return parse_document(json.dumps(site(version=version, operators=operators)).encode())


class Policies:
    """The policy in force, replaceable at run time as the node's sync would."""

    def __init__(self, doc: PolicyDocument | None) -> None:
        self.current = doc

    def __call__(self) -> PolicyDocument | None:
        return self.current


def gate(path: Path, policies: Policies | None = None) -> CommandGate:
    return CommandGate(
        SITE, NODE, DOORS, policies or Policies(policy()), ReplayMemory(path / "replay.sqlite3")
    )


def command(
    do: Unlock | Relock | Resync | None = None, *, site: str = SITE, node: str = NODE,
    issued: dt.datetime = NOW, lifetime_s: float = 60.0,
) -> Command:  # fmt: skip
    return new_command(site, node, do or Unlock(door="b6-in", seconds=7), now=issued,
                       lifetime_s=lifetime_s)  # fmt: skip


def signed(
    cmd: Command | None = None, key: ec.EllipticCurvePrivateKey = SOC_KEY, operator: str = "soc-1"
) -> bytes:
    return sign_command(cmd or command(), key, operator)
