"""What the viewer's admin pages call: lifecycle actions that reach the gates within a second.

Each method changes the authority (one audited transaction, as the CLI does),
then releases the new token and its delta to the publisher before returning.
:meth:`LifecycleActions.wait_published` waits for the delta's (else the
token's) PUBACK at every site, for a page that wants to say "the gates know".
Errors are the authority's own: ``NotFound``, ``IllegalTransition`` and
``AuthorityError`` with a message fit to show.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from gateway.central.authority.records import CredentialRecord
from gateway.central.authority_service.service import AuthorityService
from gateway.central.authority_service.status import StatusRelease
from gateway.credentials.decision import CredentialKind


@dataclass(frozen=True, slots=True)
class LifecycleResult:
    action: str  # "lost", "suspend", "resume" or "retire"
    changed: tuple[CredentialRecord, ...]  # the credentials whose status changed
    release: StatusRelease | None  # None: nothing new for the gates (e.g. nothing changed)


class LifecycleActions:
    def __init__(self, service: AuthorityService) -> None:
        self._service = service

    async def report_lost(
        self,
        holder_or_serial: str,
        actor: str,
        reason: str,
        kind: CredentialKind | str | None = None,
    ) -> LifecycleResult:
        """A serial, or a holder id meaning their live credential (of ``kind`` if they have
        both a mobile ID and a card): INVALID at once (rule 60 ③④)."""
        service = self._service
        authority = service.authority

        def lost() -> list[CredentialRecord]:
            credential = authority.find_credential(holder_or_serial, kind)
            now = service.wall()
            return [authority.report_lost(credential.serial, now=now, actor=actor, reason=reason)]

        changed, release = await service.change(lost)
        return LifecycleResult("lost", tuple(changed), release)

    async def suspend(self, holder_id: str, actor: str, reason: str) -> LifecycleResult:
        """Rule 61 ②: the holder's VALID credentials SUSPENDED."""
        return await self._holder("suspend", holder_id, actor, reason)

    async def resume(self, holder_id: str, actor: str, reason: str) -> LifecycleResult:
        """SUSPENDED credentials VALID again."""
        return await self._holder("resume", holder_id, actor, reason)

    async def retire(self, holder_id: str, actor: str, reason: str) -> LifecycleResult:
        """Rule 61 ①: every live credential INVALID for good."""
        return await self._holder("retire", holder_id, actor, reason)

    async def _holder(
        self, action: str, holder_id: str, actor: str, reason: str
    ) -> LifecycleResult:
        service = self._service
        method = getattr(service.authority, action)
        changed, release = await service.change(
            lambda: method(holder_id, now=service.wall(), actor=actor, reason=reason)
        )
        return LifecycleResult(action, tuple(changed), release)

    async def wait_published(self, result: LifecycleResult) -> float:
        """The clock reading of the last PUBACK that told every site (wrap in a timeout)."""
        release = result.release
        if release is None:
            return self._service.publisher.clock()
        service = self._service
        messages = [
            service.delta_message(release, site)
            if release.delta is not None
            else service.token_message(release, site)
            for site in service.sites
        ]
        times = await asyncio.gather(*(service.publisher.wait_acked(m) for m in messages))
        return max(times)
