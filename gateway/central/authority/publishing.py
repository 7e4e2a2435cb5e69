"""Publishing the status list: one signed token per call, every token kept.

The list has 2 bits per index (VALID 0, INVALID 1, SUSPENDED 2) and a fixed
size, the authority's capacity; an index no credential holds reads VALID,
which is harmless since nothing signed points at it. ``iat`` strictly
increases from token to token even when two are published within a second
or the clock steps back, because a gate refuses a token that is not newer
than the one it holds. The token carries the status-list signer's
certificate (``x5chain``) so that it can be checked against the IACA.
"""

from __future__ import annotations

import datetime as dt

from gateway.central.authority import store
from gateway.central.authority.context import STATUS_BITS, AuthorityError, Context
from gateway.central.authority.records import (
    PUBLISHED_COLUMNS,
    AuditAction,
    PublishedToken,
    published_from_row,
    ts,
)
from gateway.central.authority.signers import STATUS
from gateway.credentials.status_list import Status, StatusList, sign_status_list_token

_STATUS_VALUE = {"invalid": Status.INVALID, "suspended": Status.SUSPENDED}


def current_list(ctx: Context) -> StatusList:
    statuses = StatusList(ctx.settings.status_capacity, STATUS_BITS)
    for idx, status in ctx.conn.execute(
        "SELECT status_idx, status FROM credentials WHERE status != 'valid'"
    ):
        statuses.set(idx, _STATUS_VALUE[status])
    return statuses


def publish(ctx: Context, now: dt.datetime, *, actor: str, ttl: int | None) -> bytes:
    ttl = ctx.settings.status_ttl if ttl is None else ttl
    if ttl <= 0:
        raise AuthorityError("ttl must be a positive number of seconds")
    signer = ctx.keypair(STATUS)
    if now >= signer.certificate.not_valid_after_utc:
        raise AuthorityError("the status-list signer's certificate has expired")
    with store.transaction(ctx.conn):
        (last,) = ctx.conn.execute("SELECT MAX(iat) FROM status_tokens").fetchone()
        iat = int(now.timestamp())
        if last is not None and iat <= last:
            iat = last + 1
        lifetime = ctx.settings.status_lifetime
        exp = None if lifetime is None else iat + lifetime
        token = sign_status_list_token(
            current_list(ctx),
            key=signer.key,
            uri=ctx.status_uri,
            issued_at=iat,
            expires_at=exp,
            ttl=ttl,
            x5chain=[signer.der],
        )
        (epoch,) = ctx.conn.execute("SELECT status_epoch FROM authority").fetchone()
        version = store.insert(
            ctx.conn,
            "status_tokens",
            {
                "iat": iat,
                "exp": exp,
                "ttl": ttl,
                "epoch": epoch,
                "published_at": ts(now),
                "token": token,
            },
        )
        counts = dict(ctx.conn.execute("SELECT status, COUNT(*) FROM credentials GROUP BY status"))
        detail = {
            "version": version,
            "iat": iat,
            "exp": exp,
            "ttl": ttl,
            "bytes": len(token),
            **{name: counts.get(name, 0) for name in ("valid", "suspended", "invalid")},
        }
        store.write_audit(
            ctx.conn,
            at=now,
            actor=actor,
            reason="",
            events=[store.AuditEvent(AuditAction.PUBLISH, detail=detail)],
        )
    return token


def tokens(ctx: Context) -> list[PublishedToken]:
    rows = ctx.conn.execute(
        f"SELECT {PUBLISHED_COLUMNS} FROM status_tokens ORDER BY version"  # noqa: S608 - constant
    ).fetchall()
    return [published_from_row(row) for row in rows]


def latest(ctx: Context) -> bytes | None:
    row = ctx.conn.execute(
        "SELECT token FROM status_tokens ORDER BY version DESC LIMIT 1"
    ).fetchone()
    return None if row is None else bytes(row[0])


def token_at(ctx: Context, iat: int) -> bytes | None:
    row = ctx.conn.execute("SELECT token FROM status_tokens WHERE iat = ?", (iat,)).fetchone()
    return None if row is None else bytes(row[0])


def pending(ctx: Context) -> bool:
    row = ctx.conn.execute(
        "SELECT status_epoch, (SELECT epoch FROM status_tokens ORDER BY version DESC LIMIT 1) "
        "FROM authority"
    ).fetchone()
    return row[1] is None or bool(row[0] > row[1])
