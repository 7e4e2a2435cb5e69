"""The viewer in headless Chromium (Debian's), served by uvicorn on a free loopback port.

Skipped when /usr/bin/chromium is absent (``bash deploy/dev.sh test`` installs it).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn

from gateway.central.collector.model import WriteSet
from tests.central.viewer.helpers import PASSWORD, Env, add_accounts, event, make_env, seed

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium not installed")
playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Env, str]]:
    env = await make_env(tmp_path, poll=0.1)
    await seed(env.store)
    await add_accounts(env.accounts)
    # Bound and listening before uvicorn starts: the browser's first connection waits in
    # the backlog, so nothing has to poll for "server ready".
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        env.app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield env, f"http://127.0.0.1:{port}"
    finally:
        # The browser is closed by now (its fixture came later), so the SSE stream saw
        # the disconnect and the server stops gracefully.
        server.should_exit = True
        await task
        sock.close()
        await env.store.close()


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    async with playwright_api.async_playwright() as p:
        launched = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        await launched.close()


async def logged_in(browser: object, base: str, username: str) -> object:
    context = await browser.new_context(base_url=base)  # type: ignore[attr-defined]
    page = await context.new_page()
    await page.goto("/feed")  # the wall sends us to the login page
    await expect(page).to_have_url(f"{base}/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#login")
    await expect(page).to_have_url(f"{base}/feed")
    return page


async def test_operator_sees_live_events_searches_acknowledges_and_finds_people(
    served: tuple[Env, str], browser: object
) -> None:
    env, base = served
    page = await logged_in(browser, base, "oper")
    rows = page.locator("#rows tr")  # type: ignore[attr-defined]
    await expect(rows).to_have_count(4)
    # Written after the page loaded: it can only arrive through the live stream.
    await env.store.write(WriteSet(events=[event(60, holder_id="live-hong", granted=False)]))
    await expect(rows.first).to_contain_text("live-hong")
    await expect(rows.first).to_contain_text("거부")
    await expect(rows).to_have_count(5)

    await page.goto("/search")
    await page.fill("input[name=holder]", "lee")
    await page.click("#find")
    results = page.locator("#results tr")
    await expect(results).to_have_count(1)
    await expect(results.first).to_contain_text("revoked")

    await page.goto("/alarms")
    alarm_row = page.locator("#alarms tbody tr")
    await expect(alarm_row).to_have_count(1)
    await alarm_row.locator("input[name=comment]").fill("현장 확인, 이상 없음")
    await alarm_row.locator("button").click()
    await expect(page).to_have_url(f"{base}/alarms")
    await expect(alarm_row).to_have_count(0)
    [acked] = await env.store.alarms(open_only=False)
    assert acked.acknowledged_by == "oper"
    assert acked.comment == "현장 확인, 이상 없음"

    await page.goto("/inside")
    await page.select_option("select[name=building]", "b1")
    await page.click("form.filters button[type=submit]")
    await expect(page.locator("table.inside")).to_contain_text("kim")
    await expect(page.locator("table.inside")).not_to_contain_text("choi")
    await expect(page.locator("#total")).to_have_text("1")


async def test_viewer_role_cannot_remote_unlock(served: tuple[Env, str], browser: object) -> None:
    env, base = served
    page = await logged_in(browser, base, "watch")
    await page.goto("/board")  # type: ignore[attr-defined]
    await expect(page.locator("#nodes")).to_contain_text("gate-1")
    await expect(page.locator("form.unlock")).to_have_count(0)
    token = await page.locator("input[name=csrf]").first.get_attribute("value")
    forged = await page.request.post(
        f"{base}/unlock", form={"csrf": token, "node": "gate-1", "door": "d1", "seconds": "5"}
    )
    assert forged.status == 403
    assert env.actions.unlocks == []

    operator = await logged_in(browser, base, "oper")
    await operator.goto("/board")  # type: ignore[attr-defined]
    await expect(operator.locator("form.unlock")).to_have_count(1)
    await operator.locator("form.unlock button").click()
    await expect(operator).to_have_url(f"{base}/board?done=unlock")
    assert env.actions.unlocks == [{"node": "gate-1", "door": "d1", "seconds": 5, "actor": "oper"}]
