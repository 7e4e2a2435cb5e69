"""Creating an authority's database with its first keys, and opening one that exists."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from pathlib import Path
from typing import Any

from gateway.central.authority import signers, store
from gateway.central.authority.context import (
    STATUS_BITS,
    AuthorityError,
    AuthoritySettings,
    Context,
    aware,
    fingerprint,
    required,
)
from gateway.central.authority.records import AuditAction, ts
from gateway.central.authority.store import AuditEvent, transaction


def create(
    path: Path,
    *,
    name: str,
    organization: str,
    now: dt.datetime,
    actor: str,
    status_uri: str | None,
    settings: AuthoritySettings,
    rng: random.Random | None,
) -> Context:
    """A new database with a fresh IACA, Document Signer and status-list signer."""
    aware(now)
    actor = required(actor, "actor")
    name, organization = name.strip(), organization.strip()
    if not name or not organization:
        raise AuthorityError("name and organization must not be empty")
    conn = _connect(path, create=True)
    try:
        keys = signers.initial_keys(
            name,
            organization,
            now=now,
            iaca_days=settings.iaca_days,
            signer_days=settings.signer_days,
        )
        status_uri = status_uri or signers.default_status_uri(keys.iaca)
        with transaction(conn):
            store.insert(
                conn,
                "authority",
                {
                    "id": 1,
                    "name": name,
                    "organization": organization,
                    "status_uri": status_uri,
                    "status_bits": STATUS_BITS,
                    "status_capacity": settings.status_capacity,
                    "status_ttl": settings.status_ttl,
                    "status_lifetime": settings.status_lifetime,
                    "credential_days": settings.credential_days,
                    "signer_days": settings.signer_days,
                    "created_at": ts(now),
                },
            )
            detail: dict[str, Any] = {"status_uri": status_uri}
            for role, pair in keys.by_role():
                signers.insert_signer(conn, role, pair, now)
                detail[role] = fingerprint(pair.certificate)
            events = [AuditEvent(AuditAction.CREATE, detail=detail)]
            store.write_audit(conn, at=now, actor=actor, reason="authority created", events=events)
    except BaseException:
        # A half-made authority must not be mistaken for one later: remove every trace.
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        raise
    return _load(conn, path, rng)


def open_existing(path: Path, rng: random.Random | None) -> Context:
    return _load(_connect(path, create=False), path, rng)


def _connect(path: Path, *, create: bool) -> sqlite3.Connection:
    try:
        return store.connect(path, create=create)
    except store.StoreError as exc:
        raise AuthorityError(str(exc)) from exc


def _load(conn: sqlite3.Connection, path: Path, rng: random.Random | None) -> Context:
    row = conn.execute(
        "SELECT name, organization, status_uri, status_capacity, status_ttl, "
        "status_lifetime, credential_days, signer_days FROM authority"
    ).fetchone()
    if row is None:
        conn.close()
        raise AuthorityError(f"{path} holds no authority (its creation did not finish)")
    name, organization, status_uri, capacity, ttl, lifetime, credential_days, signer_days = row
    settings = AuthoritySettings(
        status_capacity=capacity,
        status_ttl=ttl,
        status_lifetime=lifetime,
        credential_days=credential_days,
        signer_days=signer_days,
    )
    rng = rng or random.SystemRandom()
    return Context(conn, path, name, organization, status_uri, settings, rng)
