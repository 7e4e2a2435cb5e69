"""The service's own small SQLite file: what it must remember across a restart.

* ``published``: per topic, the version and digest of the last payload the broker
  acknowledged (PUBACK). The status-list row is the base of the next delta.
* ``documents``: the current signed policy and posture per site, kept so that a
  restart (or a broker that lost its retained store) gets them again, and so
  that a posture version is only ever one more than the last.
* ``hr_files``: the SHA-256 of every HR export seen, so each is enrolled once.

Separate from the authority's database on purpose: that one is the issuer's
record (and the CLI's), this one is a publisher's bookkeeping.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS published (
    topic TEXT PRIMARY KEY, kind TEXT NOT NULL, version INTEGER NOT NULL,
    digest TEXT NOT NULL, acked_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    topic TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('policy', 'posture')),
    site TEXT NOT NULL, version INTEGER NOT NULL, payload BLOB NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS hr_files (
    digest TEXT PRIMARY KEY, path TEXT NOT NULL, seen_at TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('enrolled', 'refused')), detail TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Document:
    topic: str
    kind: str
    site: str
    version: int
    payload: bytes


class ServiceState:
    """One connection, used from the event loop's thread and the authority worker alike,
    hence the lock; every write commits at once (synchronous=FULL)."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    # --- published -----------------------------------------------------------------

    def mark_published(
        self, topic: str, kind: str, version: int, digest: str, at: dt.datetime
    ) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO published (topic, kind, version, digest, acked_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (topic) DO UPDATE SET kind = excluded.kind, "
                "version = excluded.version, digest = excluded.digest, "
                "acked_at = excluded.acked_at WHERE excluded.version >= published.version",
                (topic, kind, version, digest, at.isoformat()),
            )

    def published_version(self, topic: str) -> int | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT version FROM published WHERE topic = ?", (topic,)
            ).fetchone()
        return None if row is None else int(row[0])

    # --- documents -----------------------------------------------------------------

    def documents(self) -> list[Document]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT topic, kind, site, version, payload FROM documents ORDER BY topic"
            ).fetchall()
        return [Document(t, k, s, int(v), bytes(p)) for t, k, s, v, p in rows]

    def document(self, topic: str) -> Document | None:
        return next((d for d in self.documents() if d.topic == topic), None)

    def put_document(self, document: Document, at: dt.datetime) -> None:
        """Store the new current document; refuses one that does not move its version up."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._conn.execute(
                    "SELECT version FROM documents WHERE topic = ?", (document.topic,)
                ).fetchone()
                if row is not None and document.version <= row[0]:
                    raise ValueError(
                        f"{document.kind} version {document.version} is not above the "
                        f"current {row[0]} for site {document.site}"
                    )
                self._conn.execute(
                    "INSERT OR REPLACE INTO documents "
                    "(topic, kind, site, version, payload, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        document.topic,
                        document.kind,
                        document.site,
                        document.version,
                        document.payload,
                        at.isoformat(),
                    ),
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # --- HR files --------------------------------------------------------------------

    def hr_file_seen(self, digest: str) -> bool:
        with self._lock:
            row = self._conn.execute("SELECT 1 FROM hr_files WHERE digest = ?", (digest,))
            return row.fetchone() is not None

    def record_hr_file(
        self, digest: str, path: Path, outcome: str, detail: str, at: dt.datetime
    ) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO hr_files (digest, path, seen_at, outcome, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                (digest, str(path), at.isoformat(), outcome, detail),
            )
