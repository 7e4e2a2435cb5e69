"""Server-side sessions, the login throttle and the one-time setup token.

A session is a random 256-bit token in an HttpOnly cookie; the server keeps only its
SHA-256, so a memory dump or a log line never yields a usable cookie. Sessions live in
this process's memory: a restart logs everyone out, which is the safe failure.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.central.viewer.auth import Role

Clock = Callable[[], dt.datetime]
TOKEN_BYTES = 32  # 256 bits


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass
class Session:
    username: str
    role: Role
    csrf: str
    created: dt.datetime
    seen: dt.datetime


@dataclass
class SessionStore:
    clock: Clock
    idle: dt.timedelta = dt.timedelta(minutes=30)
    absolute: dt.timedelta = dt.timedelta(hours=12)
    _by_digest: dict[str, Session] = field(default_factory=dict)

    def start(self, username: str, role: Role) -> str:
        """A new session; returns the cookie value (never stored as such)."""
        now = self.clock()
        token = new_token()
        self._by_digest[_digest(token)] = Session(username, role, new_token(), now, now)
        return token

    def get(self, token: str | None) -> Session | None:
        """The live session for a cookie, touching it; expired ones are dropped."""
        if not token:
            return None
        key = _digest(token)
        session = self._by_digest.get(key)
        if session is None:
            return None
        now = self.clock()
        if now - session.seen > self.idle or now - session.created > self.absolute:
            del self._by_digest[key]
            return None
        session.seen = now
        return session

    def end(self, token: str | None) -> None:
        if token:
            self._by_digest.pop(_digest(token), None)

    def end_all(self, username: str) -> int:
        """Log a user out everywhere (role change, disable, password reset)."""
        keys = [k for k, s in self._by_digest.items() if s.username == username]
        for key in keys:
            del self._by_digest[key]
        return len(keys)


@dataclass
class LoginThrottle:
    """At most ``limit`` failed logins per ``window``, per username and per client address."""

    clock: Clock
    limit: int = 5
    window: dt.timedelta = dt.timedelta(minutes=5)
    _failures: dict[str, deque[dt.datetime]] = field(default_factory=lambda: defaultdict(deque))

    def _recent(self, key: str) -> deque[dt.datetime]:
        times = self._failures[key]
        cutoff = self.clock() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        return times

    def blocked(self, username: str, ip: str) -> bool:
        keys = (f"u:{username}", f"ip:{ip}")
        return any(len(self._recent(k)) >= self.limit for k in keys)

    def failed(self, username: str, ip: str) -> None:
        now = self.clock()
        for key in (f"u:{username}", f"ip:{ip}"):
            self._recent(key).append(now)

    def succeeded(self, username: str) -> None:
        self._failures.pop(f"u:{username}", None)


@dataclass
class SetupToken:
    """The first admin's one-time link: valid once, for ``lifetime``, only while no account
    exists. Only its digest is kept."""

    clock: Clock
    lifetime: dt.timedelta = dt.timedelta(minutes=30)
    _digest: str | None = None
    _expires: dt.datetime | None = None

    def issue(self) -> str:
        token = new_token()
        self._digest = _digest(token)
        self._expires = self.clock() + self.lifetime
        return token

    def valid(self, token: str | None) -> bool:
        if not token or self._digest is None or self._expires is None:
            return False
        if self.clock() >= self._expires:
            return False
        return hmac.compare_digest(self._digest, _digest(token))

    def consume(self, token: str | None) -> bool:
        """True once for the right token; afterwards nothing is valid."""
        if not self.valid(token):
            return False
        self._digest = None
        self._expires = None
        return True
