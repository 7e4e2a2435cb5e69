"""The viewer's lifecycle actions, made in the authority's own database.

An admin's "lost", "suspend", "resume" or "retire" is written through the
:class:`~gateway.central.authority.service.Authority` facade (its rules, its
triggers, its append-only audit with the staff member as the actor), exactly
as ``gateway authority lost …`` would. The running authority service
(``gateway authority serve``) notices the change within its poll interval
(0.2 s, ``PRAGMA data_version``) and publishes the delta and the new token,
so the gates have it within a second (docs/authority-service.md). The viewer
never holds a signing key for status lists.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path

from gateway.central.authority.context import AuthorityError
from gateway.central.authority.service import Authority
from gateway.central.authority.store import StoreError
from gateway.central.viewer.actions import ActionError, LifecycleAction

Clock = Callable[[], dt.datetime]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AuthorityDbLifecycle:
    """:class:`~gateway.central.viewer.actions.LifecycleActions` on an authority database."""

    def __init__(self, path: Path, *, clock: Clock = _utc_now) -> None:
        self.path = path
        self.clock = clock

    async def lifecycle(
        self, action: LifecycleAction, subject: str, *, actor: str, reason: str
    ) -> int:
        try:
            return await asyncio.to_thread(self._change, action, subject, actor, reason)
        except (AuthorityError, StoreError) as exc:  # unknown serial, a final state, no DB …
            raise ActionError(str(exc)) from exc

    def _change(self, action: LifecycleAction, subject: str, actor: str, reason: str) -> int:
        # One short connection per action: actions are rare, and the service holds its own.
        with Authority.open(self.path) as authority:
            now = self.clock()
            if action == "lost":
                authority.report_lost(subject, now=now, actor=actor, reason=reason)
                return 1
            change = {
                "suspend": authority.suspend,
                "resume": authority.resume,
                "retire": authority.retire,
            }[action]
            return len(change(subject, now=now, actor=actor, reason=reason))
