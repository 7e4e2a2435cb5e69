"""Log in, log out, and the first admin's one-time setup."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from gateway.central.viewer import csrf
from gateway.central.viewer.auth import AccountError, Role
from gateway.central.viewer.context import SESSION_COOKIE, Viewer, client_ip
from gateway.central.viewer.sessions import new_token

router = APIRouter()


def _viewer(request: Request) -> Viewer:
    viewer: Viewer = request.app.state.viewer
    return viewer


def _pre_login_page(request: Request, name: str, status_code: int = 200, **ctx: object) -> Response:
    """A form shown before login: its CSRF token is double-submitted through a cookie."""
    viewer = _viewer(request)
    token = new_token()
    response = viewer.render(request, name, None, status_code=status_code, csrf_token=token, **ctx)
    response.set_cookie(
        csrf.PRE_LOGIN_COOKIE, token, httponly=True, samesite="strict",
        secure=viewer.cookie_secure(request), max_age=3600,
    )  # fmt: skip
    return response


async def _pre_login_form(request: Request) -> dict[str, str]:
    data = await request.form()
    csrf.check(request, request.cookies.get(csrf.PRE_LOGIN_COOKIE), data.get(csrf.FIELD))
    return {k: v for k, v in data.items() if isinstance(v, str)}


def _start_session(request: Request, username: str, role: Role) -> Response:
    viewer = _viewer(request)
    response = RedirectResponse("/feed", status_code=303)
    response.set_cookie(
        SESSION_COOKIE, viewer.sessions.start(username, role), httponly=True,
        samesite="strict", secure=viewer.cookie_secure(request), path="/",
    )  # fmt: skip
    response.delete_cookie(csrf.PRE_LOGIN_COOKIE)
    return response


@router.get("/")
async def home(request: Request) -> Response:
    await _viewer(request).staff(request)
    return RedirectResponse("/feed", status_code=303)


@router.get("/login")
async def login_page(request: Request) -> Response:
    return _pre_login_page(request, "login.html")


@router.post("/login")
async def login(request: Request) -> Response:
    viewer = _viewer(request)
    form = await _pre_login_form(request)
    username = form.get("username", "").strip().lower()[:64]
    ip = client_ip(request)
    if viewer.throttle.blocked(username, ip):
        await viewer.record(request, username or "?", "login", "refused", why="throttled")
        return _pre_login_page(request, "login.html", 429, error="throttled")
    account = await viewer.accounts.verify(username, form.get("password", ""))
    if account is None:
        viewer.throttle.failed(username, ip)
        await viewer.record(request, username or "?", "login_failed", "refused")
        return _pre_login_page(request, "login.html", 401, error="bad_login")
    viewer.throttle.succeeded(username)
    await viewer.record(request, username, "login", role=account.role.value)
    return _start_session(request, username, account.role)


@router.post("/logout")
async def logout(request: Request) -> Response:
    viewer = _viewer(request)
    session = await viewer.staff(request)
    await viewer.form(request, session)
    viewer.sessions.end(request.cookies.get(SESSION_COOKIE))
    await viewer.record(request, session.username, "logout")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/setup")
async def setup_page(request: Request) -> Response:
    viewer = _viewer(request)
    token = request.query_params.get("token", "")
    if await viewer.accounts.count() or not viewer.setup.valid(token):
        raise HTTPException(404, "no setup pending, or the link is used or expired")
    return _pre_login_page(request, "setup.html", setup_token=token)


@router.post("/setup")
async def setup(request: Request) -> Response:
    viewer = _viewer(request)
    form = await _pre_login_form(request)
    token = form.get("token", "")
    if await viewer.accounts.count() or not viewer.setup.valid(token):
        await viewer.record(request, "?", "setup", "refused")
        raise HTTPException(404, "no setup pending, or the link is used or expired")
    username = form.get("username", "").strip().lower()
    try:
        await viewer.accounts.create(username, form.get("password", ""), Role.ADMIN, viewer.clock())
    except AccountError as exc:
        return _pre_login_page(request, "setup.html", 400, setup_token=token, error=str(exc))
    viewer.setup.consume(token)
    await viewer.record(request, username, "account_create", target=username, role="admin")
    return _start_session(request, username, Role.ADMIN)
