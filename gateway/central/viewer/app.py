"""``create_app``: the security staff's viewer as a FastAPI app over an :class:`EventStore`."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from gateway.central.collector.commits import CommitSignal
from gateway.central.collector.store import EventStore
from gateway.central.viewer.actions import LifecycleActions, StaffActions
from gateway.central.viewer.auth import AccountStore
from gateway.central.viewer.context import Clock, NotLoggedIn, Viewer
from gateway.central.viewer.routes import admin, board, feed, inside, login, search

HERE = Path(__file__).parent
log = structlog.get_logger("gateway.central.viewer")
API_PREFIXES = ("/api/", "/events/stream")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def announce_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
    log.warning("viewer_setup_link_printed")  # the token itself stays out of the log files


def create_app(
    store: EventStore,
    *,
    accounts: AccountStore,
    actions: StaffActions | None = None,
    lifecycle: LifecycleActions | None = None,
    site_names: Mapping[str, str] | None = None,
    building_names: Mapping[str, str] | None = None,
    clock: Clock = _utc_now,
    poll_interval_s: float = 0.5,
    commits: CommitSignal | None = None,
    public_url: str = "http://127.0.0.1:8080",
    secure_cookies: bool | None = None,
    session_idle: dt.timedelta = dt.timedelta(minutes=30),
    session_absolute: dt.timedelta = dt.timedelta(hours=12),
    announce: Callable[[str], None] = announce_to_stderr,
) -> FastAPI:
    """The viewer. The caller owns ``store`` (opened and migrated by the collector or by
    the caller); the app opens and closes ``accounts``. With no account at start-up it
    prints a one-time admin setup link through ``announce``."""
    viewer = Viewer(
        store=store,
        accounts=accounts,
        templates=Jinja2Templates(directory=HERE / "templates"),
        clock=clock,
        actions=actions,
        lifecycle=lifecycle,
        site_names=dict(site_names or {}),
        building_names=dict(building_names or {}),
        poll_interval_s=poll_interval_s,
        commits=commits,
        secure_cookies=secure_cookies,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await accounts.open()
        if await accounts.count() == 0:
            token = viewer.setup.issue()
            announce(
                f"No viewer accounts yet. Create the first admin within "
                f"{int(viewer.setup.lifetime.total_seconds() // 60)} minutes at "
                f"{public_url.rstrip('/')}/setup?token={token} (valid once)"
            )
        try:
            yield
        finally:
            await accounts.close()

    viewer.sessions.idle, viewer.sessions.absolute = session_idle, session_absolute

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.viewer = viewer
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (login, feed, search, board, inside, admin):
        app.include_router(module.router)

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, _: NotLoggedIn) -> Response:
        if request.url.path.startswith(API_PREFIXES) or request.url.path.endswith(".csv"):
            return JSONResponse({"error": "login required"}, status_code=401)
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[..., object]) -> Response:
        response: Response = await call_next(request)  # type: ignore[misc]
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # same-origin, not no-referrer: with no-referrer Chromium sends "Origin: null" on
        # our own form posts, which the CSRF origin check must refuse.
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        )
        return response

    return app
