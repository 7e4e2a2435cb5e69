"""The nonces of accepted commands, kept on disk until they can no longer be replayed.

A command carries its own expiry, and :class:`~gateway.node.commands.checks.CommandGate`
refuses one whose lifetime is over a cap, so a nonce only has to be remembered
until its command expires: the table stays as small as the command rate times
ten minutes. It is SQLite with ``synchronous=FULL``, so a nonce recorded before
a power cut is still there after it and a replay after a restart is refused.

The gate records the nonce *before* the door acts. A crash between the two loses
the command (the operator sees no result and sends a new one); the other order
could run it twice. For a door, "not done" is the safe failure.

Rows are kept ``keep_after_expiry_s`` past their expiry, so that the node's wall
clock stepping back by less than that (an NTP correction) cannot bring a pruned
command back to life.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path
from typing import Final

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS command_nonces (
    nonce TEXT PRIMARY KEY,
    operator TEXT NOT NULL,
    expires_at REAL NOT NULL,   -- POSIX seconds
    recorded_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS command_nonces_expiry ON command_nonces (expires_at);
"""


class ReplayStoreError(RuntimeError):
    """The memory could not be read or written: the command must not run."""


class ReplayMemory:
    """One row per accepted command, by nonce. Thread-safe; one instance per file."""

    def __init__(self, path: Path | str, *, keep_after_expiry_s: float = 600.0) -> None:
        if keep_after_expiry_s < 0:
            raise ValueError("keep_after_expiry_s must not be negative")
        self.path = Path(path)
        self.keep_after_expiry_s = keep_after_expiry_s
        self._lock = threading.Lock()
        # check_same_thread=False: the node may call from asyncio.to_thread; the lock serialises.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def record(
        self, nonce: str, *, operator: str, expires_at: dt.datetime, now: dt.datetime
    ) -> bool:
        """Remember ``nonce``; False if it was already remembered (a replay).

        Raises :class:`ReplayStoreError` if the disk refuses: then nothing may act.
        """
        try:
            with self._lock:
                self._prune(now)
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO command_nonces VALUES (?, ?, ?, ?)",
                    (nonce, operator, expires_at.timestamp(), now.timestamp()),
                )
                return cursor.rowcount == 1
        except sqlite3.Error as exc:
            raise ReplayStoreError(f"replay memory {self.path}: {exc}") from exc

    def seen(self, nonce: str) -> bool:
        try:
            with self._lock:
                row = self._db.execute(
                    "SELECT 1 FROM command_nonces WHERE nonce = ?", (nonce,)
                ).fetchone()
        except sqlite3.Error as exc:
            raise ReplayStoreError(f"replay memory {self.path}: {exc}") from exc
        return row is not None

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT count(*) FROM command_nonces").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _prune(self, now: dt.datetime) -> None:
        cutoff = now.timestamp() - self.keep_after_expiry_s
        self._db.execute("DELETE FROM command_nonces WHERE expires_at < ?", (cutoff,))
