"""Signed operator commands at the node: check (:mod:`.checks`), remember (:mod:`.replay`), act.

The node's MQTT link hands each message on the ``commands`` topic to
:meth:`CommandGate.check` with its retain flag, runs an :class:`Accepted` one with
:func:`run_command`, turns a :class:`Refused` one into :func:`refused_outcome`, and
publishes the :class:`CommandOutcome`'s result and logs its event. docs/commands.md.
"""

from gateway.node.commands.checks import (
    Accepted,
    CommandGate,
    RefusalReason,
    Refused,
    Verdict,
    operator_key,
)
from gateway.node.commands.execute import (
    EVENT_KIND,
    CommandOutcome,
    RemoteDoor,
    refused_outcome,
    run_command,
)
from gateway.node.commands.replay import ReplayMemory, ReplayStoreError

__all__ = [
    "EVENT_KIND",
    "Accepted",
    "CommandGate",
    "CommandOutcome",
    "RefusalReason",
    "Refused",
    "RemoteDoor",
    "ReplayMemory",
    "ReplayStoreError",
    "Verdict",
    "operator_key",
    "refused_outcome",
    "run_command",
]
