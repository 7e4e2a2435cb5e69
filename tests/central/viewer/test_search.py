"""Search filters, keyset pages, CSV export, the SSE frames, who is inside, and labels."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import given
from hypothesis import strategies as st

from gateway.central.collector.model import EventFilter, WriteSet
from gateway.central.viewer.filters import BadFilter, event_filter
from gateway.central.viewer.routes.feed import event_frames
from tests.central.viewer.helpers import Env, event, login


async def holders(client: object, query: str) -> list[str]:
    answer = await client.get(f"/api/events?{query}")  # type: ignore[attr-defined]
    assert answer.status_code == 200, answer.text
    return [e["holder"] for e in answer.json()["events"]]


async def test_filters(env: Env) -> None:
    async with env.client() as client:
        await login(client, "watch")
        assert await holders(client, "holder=kim") == ["kim"]
        assert await holders(client, "result=denied") == ["lee"]
        assert await holders(client, "reason=revoked&door=d2") == ["lee"]
        assert await holders(client, "serial=SN-3") == ["park"]
        assert await holders(client, "building=b2") == ["park"]
        assert await holders(client, "org=1741000") == ["kim"]
        assert await holders(client, "site=elsewhere") == []
        # T0 is 17:50 KST; events are at T0 + seq minutes. [17:52, 17:54) holds seq 2 and 3.
        window = "since=2026-03-02T17:52:00&until=2026-03-02T17:54:00"
        assert await holders(client, window) == ["park", "lee"]
        assert await holders(
            client, "since=2026-03-02T08:52:00%2B00:00&until=2026-03-02T08:53:00Z"
        ) == ["lee"]


async def test_bad_filters_and_cursors_are_refused_not_crashed(env: Env) -> None:
    async with env.client() as client:
        await login(client, "watch")
        for query in ("since=yesterday", "result=maybe", "cursor=%00%ff", "holder=" + "x" * 200,
                      "since=2026-03-02T10:00&until=2026-03-02T09:00"):  # fmt: skip
            assert (await client.get(f"/api/events?{query}")).status_code == 400, query
            assert (await client.get(f"/search?{query}")).status_code == 400, query


async def test_keyset_pages_cover_everything_once(env: Env) -> None:
    await env.store.write(WriteSet(events=[event(10 + i, node="gate-2") for i in range(120)]))
    seen: list[int] = []
    async with env.client() as client:
        await login(client, "watch")
        cursor = ""
        while True:
            body = (await client.get(f"/api/events?node=gate-2&cursor={cursor}")).json()
            seen += [e["seq"] for e in body["events"]]
            if not body["cursor"]:
                break
            cursor = body["cursor"]
        page = await client.get("/search?node=gate-2")
        assert 'id="next"' in page.text
    assert seen == sorted(range(10, 130), reverse=True)


async def test_search_page_renders_results_in_korean_and_english(env: Env) -> None:
    async with env.client() as client:
        await login(client, "watch")
        ko = await client.get("/search?holder=lee")
        assert "거부" in ko.text
        assert "lee" in ko.text
        en = await client.get("/search?holder=lee&lang=en")
        assert "Denied" in en.text
        assert "lang=en" in en.headers["set-cookie"]
        assert "Live feed" in (await client.get("/feed")).text  # the cookie holds


async def test_csv_export_is_complete_escaped_and_audited(env: Env) -> None:
    async with env.client() as client:
        await login(client, "watch")
        answer = await client.get("/search.csv?site=sejong")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["seq"] for r in rows] == ["4", "3", "2", "1"]
    assert rows[0]["holder"] == "'=cmd|' /C calc'!A0"  # no formula for a spreadsheet
    assert rows[2]["result"] == "denied"
    assert rows[2]["reason"] == "revoked"
    assert "payload" not in rows[0]
    assert ("watch", "export_csv", "ok") in await env.accounts_audit()


async def test_who_is_inside_per_building(env: Env) -> None:
    async with env.client() as client:
        await login(client, "watch")
        everyone = await client.get("/inside")
        assert "kim" in everyone.text
        assert "choi" in everyone.text
        assert "6동" in everyone.text  # the building's name
        b1 = await client.get("/inside?building=b1")
        assert "kim" in b1.text
        assert "choi" not in b1.text
        assert 'id="total">1<' in b1.text


async def test_event_frames_follow_the_store_from_where_they_start(env: Env) -> None:
    start = await env.store.last_id()
    polls = 0

    async def wait() -> None:
        nonlocal polls
        polls += 1
        if polls == 1:  # the first empty poll: new events land before the next one
            await env.store.write(WriteSet(events=[event(50, holder_id="new"), event(51)]))

    async def gone() -> bool:
        return polls >= 2

    frames = [f async for f in event_frames(env.store, EventFilter(), start, wait=wait, gone=gone)]
    assert len(frames) == 2
    first = frames[0].splitlines()
    assert first[0] == f"id: {start + 1}"
    assert first[1] == "event: ev"
    assert json.loads(first[2].removeprefix("data: "))["holder"] == "new"


async def test_stream_refuses_a_bad_resume_id(env: Env) -> None:
    async with env.client() as client:
        await login(client, "watch")
        answer = await client.get("/events/stream", headers={"Last-Event-ID": "-1; drop"})
        assert answer.status_code == 400


@given(st.dictionaries(st.sampled_from(["site", "holder", "result", "since", "until", "serial",
                                        "reason", "x"]), st.text(max_size=200)))  # fmt: skip
def test_any_query_gives_a_filter_or_a_clear_refusal(query: dict[str, str]) -> None:
    try:
        parsed = event_filter(query)
    except BadFilter as exc:
        assert str(exc)
    else:
        assert isinstance(parsed, EventFilter)
