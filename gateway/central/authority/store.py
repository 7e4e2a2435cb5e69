"""The SQLite state of one issuing authority: schema, transactions and the audit log.

One database file is one authority: one IACA, its Document Signers (one
active, older ones kept so that what they signed can be traced), one
status-list signer, the enrolled holders, every credential ever issued, every
Status List Token ever published and an append-only audit log.

Keys are stored here as unencrypted PKCS#8 PEM. That is what makes this an
offline demo and admin tool, not a production issuer: a production
deployment keeps the IACA key offline (it only signs DS certificates, in a
key ceremony) and the DS and status-list keys in an HSM behind PKCS#11, and
this database would hold certificates and key labels only. The file is
created with mode 0600 so that at least other local users cannot read it.

Synchronous ``sqlite3`` is deliberate: this is not the tap path. Every
lifecycle action runs in one ``BEGIN IMMEDIATE`` transaction, so two admins
running the CLI at once serialise instead of interleaving.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.central.authority.records import (
    AUDIT_COLUMNS,
    AuditAction,
    AuditEntry,
    audit_from_row,
    json_text,
    ts,
)

SCHEMA_VERSION = 2
APPLICATION_ID = 0x43534944  # "CSID": marks the file as an authority database
BUSY_TIMEOUT_MS = 5000


class StoreError(Exception):
    """The file is missing, not an authority database, or from a newer version."""


_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE authority (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        name TEXT NOT NULL,
        organization TEXT NOT NULL,
        status_uri TEXT NOT NULL,
        status_bits INTEGER NOT NULL,
        status_capacity INTEGER NOT NULL CHECK (status_capacity > 0),
        status_ttl INTEGER NOT NULL CHECK (status_ttl > 0),
        status_lifetime INTEGER CHECK (status_lifetime IS NULL OR status_lifetime > 0),
        credential_days INTEGER NOT NULL CHECK (credential_days > 0),
        signer_days INTEGER NOT NULL CHECK (signer_days > 0),
        next_issue_seq INTEGER NOT NULL DEFAULT 1,
        status_epoch INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE signers (
        id INTEGER PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('iaca', 'document', 'status')),
        subject TEXT NOT NULL,
        fingerprint TEXT NOT NULL UNIQUE,
        key_pem BLOB NOT NULL,
        cert_pem BLOB NOT NULL,
        not_before TEXT NOT NULL,
        not_after TEXT NOT NULL,
        created_at TEXT NOT NULL,
        active INTEGER NOT NULL CHECK (active IN (0, 1))
    );
    CREATE UNIQUE INDEX one_active_signer_per_role ON signers (role) WHERE active = 1;
    CREATE TABLE holders (
        holder_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        foreign_national INTEGER NOT NULL CHECK (foreign_national IN (0, 1)),
        organization TEXT NOT NULL,
        organization_code TEXT NOT NULL CHECK (length(organization_code) = 7),
        position TEXT NOT NULL,
        external_title TEXT,
        office_phone TEXT NOT NULL,
        portrait BLOB,
        state TEXT NOT NULL CHECK (state IN ('active', 'suspended', 'retired')),
        enrolled_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        retired_at TEXT
    );
    CREATE TRIGGER retirement_is_final BEFORE UPDATE ON holders
        WHEN OLD.state = 'retired'
        BEGIN SELECT RAISE(ABORT, 'a retired holder cannot change'); END;
    CREATE TABLE credentials (
        serial TEXT PRIMARY KEY,
        holder_id TEXT NOT NULL REFERENCES holders (holder_id),
        kind TEXT NOT NULL CHECK (kind IN ('mobile', 'card')),
        status_idx INTEGER NOT NULL UNIQUE CHECK (status_idx >= 0),
        status TEXT NOT NULL CHECK (status IN ('valid', 'suspended', 'invalid')),
        invalid_cause TEXT CHECK (invalid_cause IN ('superseded', 'lost', 'retired')),
        issue_number TEXT NOT NULL UNIQUE,
        bound_key_pem BLOB NOT NULL,
        key_fingerprint TEXT NOT NULL,
        signer_id INTEGER NOT NULL REFERENCES signers (id),
        claims TEXT NOT NULL,
        document BLOB NOT NULL,
        issued_at TEXT NOT NULL,
        valid_from TEXT NOT NULL,
        valid_until TEXT NOT NULL,
        changed_at TEXT NOT NULL,
        supersedes TEXT REFERENCES credentials (serial),
        CHECK ((status = 'invalid') = (invalid_cause IS NOT NULL))
    );
    CREATE UNIQUE INDEX one_live_credential_per_kind ON credentials (holder_id, kind)
        WHERE status != 'invalid';
    CREATE INDEX credentials_by_key ON credentials (key_fingerprint);
    CREATE TRIGGER invalid_is_final BEFORE UPDATE ON credentials
        WHEN OLD.status = 'invalid'
        BEGIN SELECT RAISE(ABORT, 'an invalid credential cannot change'); END;
    CREATE TRIGGER status_index_is_fixed BEFORE UPDATE OF status_idx, serial ON credentials
        BEGIN SELECT RAISE(ABORT, 'serial and status index never change'); END;
    CREATE TRIGGER credentials_are_kept BEFORE DELETE ON credentials
        BEGIN SELECT RAISE(ABORT, 'credentials are never deleted: indices are never reused'); END;
    CREATE TABLE status_tokens (
        version INTEGER PRIMARY KEY,
        iat INTEGER NOT NULL UNIQUE,
        exp INTEGER,
        ttl INTEGER NOT NULL,
        epoch INTEGER NOT NULL,
        published_at TEXT NOT NULL,
        token BLOB NOT NULL
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        batch INTEGER NOT NULL,
        at TEXT NOT NULL,
        actor TEXT NOT NULL CHECK (actor != ''),
        action TEXT NOT NULL,
        reason TEXT NOT NULL,
        holder_id TEXT,
        serial TEXT,
        detail TEXT NOT NULL
    );
    CREATE INDEX audit_by_time ON audit (at);
    CREATE INDEX audit_by_holder ON audit (holder_id);
    CREATE INDEX audit_by_serial ON audit (serial);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    """,
    # 2: every change numbers its batch with MAX(batch); without an index that is a scan of
    # the whole audit log, and issuing a population of 20,000 turned quadratic.
    """
    CREATE INDEX audit_by_batch ON audit (batch);
    """,
)
assert len(_MIGRATIONS) == SCHEMA_VERSION


# --- Connection -----------------------------------------------------------------


def connect(path: Path, *, create: bool) -> sqlite3.Connection:
    """Open (or create) an authority database and bring its schema up to date."""
    if create:
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError as exc:
            raise StoreError(f"{path} already exists; open it instead of creating it") from exc
    elif not path.is_file():
        raise StoreError(f"no authority database at {path}; create one with `authority init`")
    conn = sqlite3.connect(path, isolation_level=None)  # we issue BEGIN/COMMIT ourselves
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        (app_id,) = conn.execute("PRAGMA application_id").fetchone()
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if not create and app_id != APPLICATION_ID:
            raise StoreError(f"{path} is not an authority database")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{path} has schema version {version}, newer than this program's "
                f"{SCHEMA_VERSION}; upgrade the gateway package"
            )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")  # an issued credential must survive a crash
        if create:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        _migrate(conn, version)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(f"{path}: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    for target in range(version + 1, SCHEMA_VERSION + 1):
        # executescript runs its own statements; BEGIN…COMMIT makes each step atomic,
        # and user_version lives in the database header, inside the transaction.
        conn.executescript(
            f"BEGIN IMMEDIATE;\n{_MIGRATIONS[target - 1]}\nPRAGMA user_version = {target};\nCOMMIT;"
        )


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One lifecycle action: all of it or nothing, serialised against other writers."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def insert(conn: sqlite3.Connection, table: str, row: dict[str, Any]) -> int:
    """Add ``row`` (column: value) to ``table``; returns its rowid. Naming each value's
    column beside it keeps a long INSERT from pairing a value with the wrong column."""
    columns, marks = ", ".join(row), ", ".join("?" * len(row))
    cursor = conn.execute(
        f"INSERT INTO {table} ({columns}) VALUES ({marks})",  # noqa: S608 - names are ours
        tuple(row.values()),
    )
    return int(cursor.lastrowid or 0)


# --- Audit ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One row to be written: what happened to whom, beyond who, when and why."""

    action: AuditAction
    holder_id: str | None = None
    serial: str | None = None
    detail: dict[str, Any] | None = None


def write_audit(
    conn: sqlite3.Connection,
    *,
    at: dt.datetime,
    actor: str,
    reason: str,
    events: Sequence[AuditEvent],
) -> int:
    """Append the rows of one action; returns the batch number they share."""
    (batch,) = conn.execute("SELECT COALESCE(MAX(batch), 0) + 1 FROM audit").fetchone()
    conn.executemany(
        "INSERT INTO audit (batch, at, actor, action, reason, holder_id, serial, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                batch,
                ts(at),
                actor,
                event.action.value,
                reason,
                event.holder_id,
                event.serial,
                json_text(event.detail or {}),
            )
            for event in events
        ],
    )
    return int(batch)


def read_audit(
    conn: sqlite3.Connection,
    *,
    since: dt.datetime | None,
    until: dt.datetime | None,
    holder_id: str | None,
    serial: str | None,
    action: AuditAction | None,
) -> list[AuditEntry]:
    clauses: list[str] = []
    args: list[Any] = []
    for clause, value in (
        ("at >= ?", None if since is None else ts(since)),
        ("at < ?", None if until is None else ts(until)),
        ("holder_id = ?", holder_id),
        ("serial = ?", serial),
        ("action = ?", None if action is None else action.value),
    ):
        if value is not None:
            clauses.append(clause)
            args.append(value)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(
        f"SELECT {AUDIT_COLUMNS} FROM audit {where} ORDER BY id",  # noqa: S608 - ours, not input
        args,
    ).fetchall()
    return [audit_from_row(row) for row in rows]
