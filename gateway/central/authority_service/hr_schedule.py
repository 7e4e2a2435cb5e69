"""HR exports on a schedule: every new file in a folder (or one file, when it changes) once.

A file is known by the SHA-256 of its bytes, remembered in the service state
whatever the outcome: an export enrolled is never enrolled twice, and one that
was refused (the authority names file, line and field) is not retried until
its bytes change. A file still being written is refused as incomplete and
enrolled once it is whole, since its digest changes. Each outcome is one
structured log line (``hr_import_enrolled`` / ``hr_import_refused``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from gateway.central.authority.context import AuthorityError
from gateway.central.authority.hr_import import HrImportError
from gateway.central.authority_service.service import AuthorityService

log = structlog.get_logger("gateway.central.authority_service")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class HrOutcome:
    path: Path
    digest: str
    outcome: str  # "enrolled" or "refused"
    detail: dict[str, Any]


class HrSchedule:
    def __init__(
        self,
        service: AuthorityService,
        path: Path,
        *,
        pattern: str = "*.csv",
        encoding: str | None = None,
    ) -> None:
        self._service = service
        self._path = path
        self._pattern = pattern
        self._encoding = encoding

    def _candidates(self) -> list[Path]:
        if self._path.is_dir():
            return sorted(p for p in self._path.glob(self._pattern) if p.is_file())
        return [self._path] if self._path.is_file() else []

    async def scan_once(self) -> list[HrOutcome]:
        """Enroll every export not seen before, oldest name first; returns what happened."""
        outcomes = []
        for path in self._candidates():
            try:
                data = path.read_bytes()
            except OSError as exc:  # gone or unreadable now: try again next time
                log.warning("hr_import_unreadable", file=str(path), error=exc.strerror)
                continue
            digest = hashlib.sha256(data).hexdigest()
            if self._service.state.hr_file_seen(digest):
                continue
            outcomes.append(await self._enroll(path, digest))
        return outcomes

    async def _enroll(self, path: Path, digest: str) -> HrOutcome:
        service = self._service
        authority = service.authority
        try:
            report, _release = await service.change(
                lambda: authority.enroll_file(
                    path,
                    now=service.wall(),
                    actor=service.actor,
                    reason=f"scheduled HR import of {path.name}",
                    encoding=self._encoding,
                )
            )
        except (HrImportError, AuthorityError) as exc:
            issues = [
                {"file": i.source, "line": i.line, "field": i.field, "message": i.message}
                for i in getattr(exc, "issues", [])
            ] or [{"file": str(path), "line": None, "field": None, "message": str(exc)}]
            detail: dict[str, Any] = {"issues": issues}
            outcome = "refused"
            log.error("hr_import_refused", file=str(path), digest=digest, issues=issues)
        else:
            detail = {
                "enrolled": len(report.enrolled),
                "changed": len(report.changed),
                "unchanged": len(report.unchanged),
                "ignored": len(report.ignored),
            }
            outcome = "enrolled"
            log.info("hr_import_enrolled", file=str(path), digest=digest, **detail)
        service.state.record_hr_file(digest, path, outcome, json.dumps(detail), service.wall())
        return HrOutcome(path, digest, outcome, detail)

    async def run(self, interval: float, sleep: Sleep = asyncio.sleep) -> None:
        while True:
            try:
                await self.scan_once()
            except Exception:  # e.g. the database was busy: the next round tries again
                log.exception("hr_import_failed")
            await sleep(interval)
