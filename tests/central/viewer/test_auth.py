"""Login, sessions, the first-start setup link, the throttle and the login wall."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from gateway.central.viewer.routes import admin, board, feed, inside, search
from gateway.central.viewer.routes import login as login_routes
from tests.central.viewer.helpers import PASSWORD, Env, csrf_of, login

PUBLIC = {"/login", "/setup"}
MODULES = (admin, board, feed, inside, search, login_routes)


def routes(method: str) -> list[str]:
    return [
        r.path
        for m in MODULES
        for r in m.router.routes
        if isinstance(r, APIRoute) and method in r.methods and r.path not in PUBLIC
    ]


async def test_no_page_or_api_answers_without_login(env: Env) -> None:
    gets = routes("GET")
    assert {"/feed", "/search", "/search.csv", "/events/stream", "/api/events"} <= set(gets)
    async with env.client() as client:
        for path in gets:
            answer = await client.get(path)
            if path.startswith(("/api/", "/events/")) or path.endswith(".csv"):
                assert answer.status_code == 401, path
            else:
                assert answer.status_code == 303, path
                assert answer.headers["location"] == "/login"
        for path in routes("POST"):
            answer = await client.post(path.replace("{alarm_id}", "1"), data={"csrf": "x"})
            assert answer.status_code in (303, 401), path
    assert await env.store.alarms() != []  # nothing was acknowledged


async def test_login_sets_a_strict_httponly_session_and_audits(env: Env) -> None:
    async with env.client() as client:
        answer = await login(client, "oper")
        assert answer.status_code == 303
        cookie = answer.headers["set-cookie"]
        assert "gw_session=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
        assert "Secure" not in cookie  # plain http in this test
        token = re.search(r"gw_session=([^;]+)", cookie)
        assert token
        assert len(token.group(1)) >= 43
        assert (await client.get("/feed")).status_code == 200
    entries = await env.accounts_audit()
    assert ("oper", "login", "ok") in entries


async def test_secure_cookie_over_https(env: Env) -> None:
    async with env.client("https://testserver") as client:
        answer = await login(client, "oper")
        assert "Secure" in answer.headers["set-cookie"]


async def test_password_is_stored_as_argon2id(env: Env) -> None:
    rows = await env.accounts.execute("SELECT password_hash FROM accounts")
    assert rows
    assert all(r[0].startswith("$argon2id$") and PASSWORD not in r[0] for r in rows)


async def test_wrong_password_is_refused_audited_and_throttled(env: Env) -> None:
    async with env.client() as client:
        for _ in range(5):
            answer = await login(client, "oper", "wrong password!!")
            assert answer.status_code == 401
            assert "gw_session" not in answer.headers.get("set-cookie", "")
        # The right password is refused too while the throttle holds.
        assert (await login(client, "oper")).status_code == 429
        env.clock.advance(minutes=6)
        assert (await login(client, "oper")).status_code == 303
    entries = await env.accounts_audit()
    assert entries.count(("oper", "login_failed", "refused")) == 5
    assert ("oper", "login", "refused") in entries


async def test_unknown_user_and_disabled_account_cannot_log_in(env: Env) -> None:
    await env.accounts.set_disabled("watch", True)
    async with env.client() as client:
        assert (await login(client, "nobody")).status_code == 401
        assert (await login(client, "watch")).status_code == 401


async def test_idle_and_absolute_timeouts(env: Env) -> None:
    async with env.client() as client:
        await login(client, "watch")
        env.clock.advance(minutes=29)
        assert (await client.get("/feed")).status_code == 200
        env.clock.advance(minutes=31)
        assert (await client.get("/feed")).status_code == 303
        await login(client, "watch")
        for _ in range(25):  # active all along, but 12 h is the limit
            env.clock.advance(minutes=29)
            answer = await client.get("/feed")
        assert answer.status_code == 303


async def test_logout_ends_the_session_server_side(env: Env) -> None:
    async with env.client() as client:
        await login(client, "watch")
        stolen = client.cookies["gw_session"]
        page = await client.get("/feed")
        assert (await client.post("/logout", data={"csrf": csrf_of(page.text)})).status_code == 303
    async with env.client() as thief:
        thief.cookies.set("gw_session", stolen)
        assert (await thief.get("/feed")).status_code == 303
    assert ("watch", "logout", "ok") in await env.accounts_audit()


async def test_login_form_needs_its_csrf_token(env: Env) -> None:
    async with env.client() as client:
        await client.get("/login")
        answer = await client.post("/login", data={"username": "oper", "password": PASSWORD})
        assert answer.status_code == 403


async def test_setup_link_creates_the_first_admin_once(empty_env: Env) -> None:
    env = empty_env
    assert len(env.announced) == 1
    assert "password" not in env.announced[0].lower()
    link = re.search(r"/setup\?token=([A-Za-z0-9_-]{43,})", env.announced[0])
    assert link
    token = link.group(1)
    async with env.client() as client:
        assert (await client.get("/setup?token=wrong")).status_code == 404
        page = await client.get(f"/setup?token={token}")
        assert page.status_code == 200
        form = {"csrf": csrf_of(page.text), "token": token, "username": "chief"}
        weak = await client.post("/setup", data={**form, "password": "short"})
        assert weak.status_code == 400  # refused, and the token still stands
        form["csrf"] = csrf_of(weak.text)  # each rendered form carries a fresh token
        done = await client.post("/setup", data={**form, "password": PASSWORD})
        assert done.status_code == 303
        assert (await client.get("/admin")).status_code == 200  # logged in as admin
    async with env.client() as other:
        assert (await other.get(f"/setup?token={token}")).status_code == 404
        page = await other.get("/login")
        again = {"csrf": csrf_of(page.text), "token": token, "username": "evil"}
        assert (await other.post("/setup", data={**again, "password": PASSWORD})).status_code == 404
    assert [a.username for a in await env.accounts.list()] == ["chief"]
    assert ("chief", "account_create", "ok") in await env.accounts_audit()


async def test_setup_link_expires(empty_env: Env) -> None:
    link = re.search(r"token=([A-Za-z0-9_-]+)", empty_env.announced[0])
    assert link
    empty_env.clock.advance(minutes=31)
    async with empty_env.client() as client:
        assert (await client.get(f"/setup?token={link.group(1)}")).status_code == 404
