"""The node's durable event outbox: every decision, door and system event, hash-chained and signed.

:class:`Outbox` appends rows to SQLite (WAL) through one writer thread that
commits whole groups per transaction; :func:`verify_chain` checks what a
node sent (seq continuity, the hash chain, the Ed25519 signatures).
See ``docs/reliability.md`` for the durability point.
"""

from gateway.node.outbox.chain import (
    GENESIS_HASH,
    ChainError,
    Event,
    canonical_json,
    event_hash,
    verify_chain,
)
from gateway.node.outbox.keys import load_or_create_node_key, public_key_bytes
from gateway.node.outbox.store import (
    ALARM_KIND,
    Limits,
    Outbox,
    OutboxClosed,
    OutboxKeyMismatch,
    Synchronous,
)

__all__ = [
    "ALARM_KIND",
    "GENESIS_HASH",
    "ChainError",
    "Event",
    "Limits",
    "Outbox",
    "OutboxClosed",
    "OutboxKeyMismatch",
    "Synchronous",
    "canonical_json",
    "event_hash",
    "load_or_create_node_key",
    "public_key_bytes",
    "verify_chain",
]
