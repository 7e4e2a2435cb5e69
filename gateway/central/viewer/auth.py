"""Staff accounts: argon2 password hashes and roles, kept in a SQLite file of the viewer's own.

The viewer keeps its accounts and audit log in a separate SQLite file (not the event
store) so the same code serves an SQLite or a PostgreSQL event store, and so a store
purge can never touch who may log in or what they did. See docs/viewer.md.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import aiosqlite
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 256  # argon2 hashes anything, but a megabyte "password" is an attack

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
  username TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  outcome TEXT NOT NULL,
  target TEXT,
  detail TEXT NOT NULL DEFAULT '{}',
  ip TEXT
);
"""


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


class AccountError(ValueError):
    """A refused account change; the message is safe to show to the admin."""


@dataclass(frozen=True)
class Account:
    username: str
    role: Role
    disabled: bool
    created_at: str


def check_new_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def check_username(username: str) -> None:
    if not USERNAME.fullmatch(username):
        raise AccountError("username: 2-32 of a-z 0-9 . _ -, starting with a letter or digit")


class AccountStore:
    """Accounts and the audit log in one SQLite file (one connection, one lock)."""

    def __init__(self, path: Path, *, hasher: PasswordHasher | None = None) -> None:
        self.path = path
        self.hasher = hasher or PasswordHasher()
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        # A hash to verify against when the username is unknown, so a wrong name costs
        # as long as a wrong password and timing does not reveal which accounts exist.
        self._decoy = self.hasher.hash("decoy password, never valid")

    async def open(self) -> None:
        async with self._lock:
            if self._db is None:
                db = await aiosqlite.connect(self.path, isolation_level=None)
                await db.execute("PRAGMA journal_mode=WAL")
                await db.executescript(_SCHEMA)
                self._db = db

    async def close(self) -> None:
        async with self._lock:
            if self._db is not None:
                await self._db.close()
                self._db = None

    async def execute(self, query: str, args: tuple[Any, ...] = ()) -> list[Any]:
        """One statement under the lock (autocommit); the audit log writes through this too."""
        if self._db is None:
            await self.open()
        assert self._db is not None
        async with self._lock:
            cursor = await self._db.execute(query, args)
            rows = list(await cursor.fetchall())
            await cursor.close()
            return rows

    async def count(self) -> int:
        rows = await self.execute("SELECT COUNT(*) FROM accounts")
        return int(rows[0][0])

    async def get(self, username: str) -> Account | None:
        rows = await self.execute(
            "SELECT username, role, disabled, created_at FROM accounts WHERE username = ?",
            (username,),
        )
        return _account(rows[0]) if rows else None

    async def list(self) -> list[Account]:
        rows = await self.execute(
            "SELECT username, role, disabled, created_at FROM accounts ORDER BY username"
        )
        return [_account(r) for r in rows]

    async def create(self, username: str, password: str, role: Role, now: dt.datetime) -> None:
        check_username(username)
        check_new_password(password)
        digest = await asyncio.to_thread(self.hasher.hash, password)
        try:
            await self.execute(
                "INSERT INTO accounts (username, password_hash, role, created_at) "
                "VALUES (?, ?, ?, ?)",
                (username, digest, role.value, now.isoformat()),
            )
        except aiosqlite.IntegrityError as exc:
            raise AccountError(f"account {username!r} exists already") from exc

    async def set_password(self, username: str, password: str) -> None:
        check_new_password(password)
        digest = await asyncio.to_thread(self.hasher.hash, password)
        await self._update(username, "password_hash = ?", digest)

    async def set_role(self, username: str, role: Role) -> None:
        await self._update(username, "role = ?", role.value)

    async def set_disabled(self, username: str, disabled: bool) -> None:
        await self._update(username, "disabled = ?", int(disabled))

    async def _update(self, username: str, assignment: str, value: object) -> None:
        if await self.get(username) is None:
            raise AccountError(f"no account {username!r}")
        await self.execute(
            f"UPDATE accounts SET {assignment} WHERE username = ?",  # noqa: S608 - constant
            (value, username),
        )

    async def verify(self, username: str, password: str) -> Account | None:
        """The account if the password is right and it is enabled; None otherwise."""
        if len(password) > MAX_PASSWORD:
            return None
        rows = await self.execute(
            "SELECT password_hash, username, role, disabled, created_at FROM accounts "
            "WHERE username = ?",
            (username,),
        )
        digest = rows[0][0] if rows else self._decoy
        try:
            await asyncio.to_thread(self.hasher.verify, digest, password)
        except (VerificationError, InvalidHashError):
            return None
        if not rows:
            return None
        account = _account(rows[0][1:])
        if account.disabled:
            return None
        if self.hasher.check_needs_rehash(digest):
            await self.set_password(username, password)
        return account


def _account(row: Any) -> Account:
    return Account(row[0], Role(row[1]), bool(row[2]), str(row[3]))
