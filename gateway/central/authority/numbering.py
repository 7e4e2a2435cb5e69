"""The numbers a new credential gets: a serial, a status-list index and an issue number.

None is ever given twice, so a number names one credential for good: a
gate's status lookup, an audit query or a printed issue number can never come
to mean a credential issued later.
"""

from __future__ import annotations

import secrets

from gateway.central.authority.context import AuthorityError, Context
from gateway.credentials.decision import CredentialKind

_SERIAL_PREFIX = {CredentialKind.MOBILE: "M", CredentialKind.CARD: "C"}
_RANDOM_INDEX_TRIES = 64


def new_serial(ctx: Context, kind: CredentialKind) -> str:
    while True:
        serial = f"{_SERIAL_PREFIX[kind]}-{secrets.token_hex(6).upper()}"
        if ctx.credential(serial) is None:
            return serial


def new_status_index(ctx: Context) -> int:
    """A random index never used before: the list's order then says nothing about who
    was issued when (draft-ietf-oauth-status-list, privacy considerations)."""
    capacity = ctx.settings.status_capacity
    (used,) = ctx.conn.execute("SELECT COUNT(*) FROM credentials").fetchone()
    if used >= capacity:
        raise AuthorityError(
            f"all {capacity} status-list indices are used (they are never reused); "
            "this authority cannot issue more credentials"
        )
    for _ in range(_RANDOM_INDEX_TRIES):
        idx = ctx.rng.randrange(capacity)
        if (
            ctx.conn.execute("SELECT 1 FROM credentials WHERE status_idx = ?", (idx,)).fetchone()
            is None
        ):
            return idx
    # Nearly full: stop guessing and pick among what is left.
    taken = {row[0] for row in ctx.conn.execute("SELECT status_idx FROM credentials")}
    return ctx.rng.choice([idx for idx in range(capacity) if idx not in taken])


def next_issue_number(ctx: Context, year: int) -> str:
    """발급번호 as printed: the year, then a sequence that runs across years."""
    (seq,) = ctx.conn.execute("SELECT next_issue_seq FROM authority").fetchone()
    ctx.conn.execute("UPDATE authority SET next_issue_seq = next_issue_seq + 1")
    return f"{year}-{seq:07d}"
