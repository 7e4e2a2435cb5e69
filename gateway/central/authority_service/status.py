"""From the authority's database to what the gates need: a new token, and a delta to it.

:class:`StatusTracker` remembers the list the gates hold (the last token this
service released, ``base``). :meth:`StatusTracker.release` publishes a token
when a status changed since the last one (or takes a token the CLI published),
and signs a delta of exactly the entries that differ between the base list and
the new one, with ``base`` = the held token's ``iat`` and ``iat`` = the new
token's, so a gate that applies the delta reaches the very list of the token
that follows it. The tracker lives on the authority worker's thread, as the
authority does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gateway.central.authority.service import Authority
from gateway.credentials.status_list import (
    StatusList,
    StatusListToken,
    verify_status_list_token,
)
from gateway.node.sync.deltas import make_delta

# Past this many changed entries the token alone is sent: a delta that large saves nothing.
MAX_DELTA_CHANGES = 4096
_BLOCK = 4096  # bytes compared at C speed before looking at single entries


@dataclass(frozen=True, slots=True)
class StatusRelease:
    """One new token for the gates, and the delta that leads to it (None: token only)."""

    uri: str
    iat: int
    token: bytes
    delta: bytes | None
    changes: tuple[tuple[int, int], ...]


def changed_entries(old: StatusList, new: StatusList) -> list[tuple[int, int]]:
    """``[index, status]`` of every entry of ``new`` that differs from ``old`` (same size)."""
    if old.size != new.size or old.bits != new.bits:
        raise ValueError("lists of different shape cannot be compared")
    a, b = old.to_bytes(), new.to_bytes()
    per_byte = 8 // new.bits
    changes: list[tuple[int, int]] = []
    for start in range(0, len(b), _BLOCK):
        if a[start : start + _BLOCK] == b[start : start + _BLOCK]:
            continue
        for offset in range(start, min(start + _BLOCK, len(b))):
            if a[offset] == b[offset]:
                continue
            for idx in range(offset * per_byte, min((offset + 1) * per_byte, new.size)):
                if (status := new.get(idx)) != old.get(idx):
                    changes.append((idx, int(status)))
    return changes


class StatusTracker:
    def __init__(self, authority: Authority, base_iat: int | None) -> None:
        """``base_iat``: the token the gates were last given (the durable record), if any."""
        self._authority = authority
        self._key = authority.status_signer_key()
        self._base: tuple[int, StatusList] | None = None
        if base_iat is not None and (token := authority.status_list_token_at(base_iat)):
            self._base = (base_iat, self._open(token).list)

    @property
    def base_iat(self) -> int | None:
        return None if self._base is None else self._base[0]

    def _open(self, token: bytes) -> StatusListToken:
        return verify_status_list_token(
            token,
            key=self._key.public_key(),
            expected_uri=self._authority.status_uri,
            max_size=self._authority.settings.status_capacity,
        )

    def current(self) -> StatusRelease | None:
        """The latest token as it stands, without a delta: what a restart republishes."""
        token = self._authority.latest_status_list_token()
        if token is None:
            return None
        opened = self._open(token)
        if self._base is None:
            self._base = (opened.issued_at, opened.list)
        return StatusRelease(self._authority.status_uri, opened.issued_at, token, None, ())

    def release(self, now: dt.datetime, actor: str) -> StatusRelease | None:
        """A token newer than the base (publishing one if a status changed), or None."""
        if self._authority.pending_status_changes:
            self._authority.publish_status_list(now, actor=actor)
        token = self._authority.latest_status_list_token()
        if token is None:
            return None
        opened = self._open(token)
        if self._base is not None and opened.issued_at <= self._base[0]:
            return None
        changes: list[tuple[int, int]] = []
        delta = None
        if self._base is not None:
            base_iat, base_list = self._base
            changes = changed_entries(base_list, opened.list)
            if 0 < len(changes) <= MAX_DELTA_CHANGES:
                delta = make_delta(
                    uri=opened.uri,
                    base=base_iat,
                    iat=opened.issued_at,
                    changes=changes,
                    key=self._key,
                )
        self._base = (opened.issued_at, opened.list)
        return StatusRelease(opened.uri, opened.issued_at, token, delta, tuple(changes))
