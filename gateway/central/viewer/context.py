"""What every route needs: the store, accounts, sessions, audit, actions and rendering.

Routes ask :meth:`Viewer.staff` for the session at the role they need; nothing is read
before that call, so a route cannot answer without a login by forgetting a decorator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from gateway.central.collector.commits import CommitSignal
from gateway.central.collector.store import EventStore
from gateway.central.viewer import csrf, i18n
from gateway.central.viewer.actions import LifecycleActions, StaffActions
from gateway.central.viewer.audit import AuditLog
from gateway.central.viewer.auth import AccountStore, Role
from gateway.central.viewer.sessions import LoginThrottle, Session, SessionStore, SetupToken

SESSION_COOKIE = "gw_session"
LANG_COOKIE = "lang"
KST = dt.timezone(dt.timedelta(hours=9), "KST")  # no daylight saving in Korea
Clock = Callable[[], dt.datetime]


class NotLoggedIn(Exception):
    """No live session: pages redirect to /login, the API answers 401."""


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "?"


@dataclass
class Viewer:
    store: EventStore
    accounts: AccountStore
    templates: Jinja2Templates
    clock: Clock
    actions: StaffActions | None = None
    lifecycle: LifecycleActions | None = None
    site_names: Mapping[str, str] = field(default_factory=dict)
    building_names: Mapping[str, str] = field(default_factory=dict)
    poll_interval_s: float = 0.5
    commits: CommitSignal | None = None  # beside the collector: its commits wake the feed
    secure_cookies: bool | None = None  # None: Secure exactly when the request is https
    sessions: SessionStore = field(init=False)
    throttle: LoginThrottle = field(init=False)
    setup: SetupToken = field(init=False)
    audit: AuditLog = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = SessionStore(self.clock)
        self.throttle = LoginThrottle(self.clock)
        self.setup = SetupToken(self.clock)
        self.audit = AuditLog(self.accounts)

    def cookie_secure(self, request: Request) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return request.url.scheme == "https"

    async def staff(self, request: Request, needed: Role = Role.VIEWER) -> Session:
        """The caller's session if it holds ``needed``; else 401/redirect, or 403 (audited)."""
        session = self.sessions.get(request.cookies.get(SESSION_COOKIE))
        if session is None:
            raise NotLoggedIn
        if not session.role.allows(needed):
            await self.record(
                request, session.username, "forbidden", "refused",
                path=request.url.path, method=request.method, needed=needed.value,
            )  # fmt: skip
            raise HTTPException(403, f"this needs the {needed.value} role")
        return session

    async def form(self, request: Request, session: Session) -> dict[str, str]:
        """The POSTed form after its CSRF check (403 on a missing or wrong token)."""
        data = await request.form()
        csrf.check(request, session.csrf, data.get(csrf.FIELD))
        return {k: v for k, v in data.items() if isinstance(v, str)}

    async def record(
        self,
        request: Request,
        actor: str,
        action: str,
        outcome: str = "ok",
        *,
        target: str | None = None,
        **detail: Any,
    ) -> None:
        await self.audit.append(
            self.clock(), actor, action, outcome, target=target, ip=client_ip(request), **detail
        )

    def lang(self, request: Request) -> str:
        return i18n.pick_lang(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))

    def render(
        self,
        request: Request,
        name: str,
        session: Session | None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        lang = self.lang(request)
        response = self.templates.TemplateResponse(
            request,
            name,
            {
                "t": i18n.translator(lang),
                "lang": lang,
                "staff": session,
                "csrf_token": session.csrf if session else "",
                "Role": Role,
                "local": to_local,
                "site_names": self.site_names,
                "building_names": self.building_names,
                "can_unlock": bool(session and session.role.allows(Role.OPERATOR))
                and self.actions is not None,
                **context,
            },
            status_code=status_code,
        )
        if request.query_params.get("lang") == lang:
            response.set_cookie(
                LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", httponly=True,
                secure=self.cookie_secure(request),
            )  # fmt: skip
        response.headers["Cache-Control"] = "no-store"
        return response


def to_local(when: dt.datetime | None) -> str:
    """Staff read Korean time; the store keeps UTC."""
    return "" if when is None else when.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S")
