"""The live feed: the page, and server-sent events fed by ``store.follow``.

The stream polls the store every ``poll_interval_s`` (0.5 s by default): the store is the
only source of truth shared by every collector of a group, and a poll that finds
nothing costs one indexed query. Beside the collector, each of its commits wakes the
stream at once (:class:`~gateway.central.collector.commits.CommitSignal`).
``Last-Event-ID`` resumes a dropped stream without a gap.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response, StreamingResponse

from gateway.central.collector.model import EventFilter
from gateway.central.collector.store import EventStore
from gateway.central.viewer.filters import BadFilter, event_filter, event_row
from gateway.central.viewer.routes.login import _viewer

router = APIRouter()
FEED_ROWS = 50
KEEPALIVE_POLLS = 30  # a comment line now and then, so proxies keep the stream open


async def event_frames(
    store: EventStore,
    filters: EventFilter,
    after_id: int,
    *,
    wait: Callable[[], Awaitable[None]],
    gone: Callable[[], Awaitable[bool]],
) -> AsyncIterator[str]:
    """SSE frames for events after ``after_id``, until ``gone()``; ``wait`` paces the polls."""
    idle = 0
    while not await gone():
        events = await store.follow(filters, after_id, limit=500)
        for event in events:
            assert event.id is not None
            after_id = event.id
            data = json.dumps(event_row(event), ensure_ascii=False)
            yield f"id: {event.id}\nevent: ev\ndata: {data}\n\n"
        if events:
            idle = 0
            continue
        idle += 1
        if idle % KEEPALIVE_POLLS == 0:
            yield ": keepalive\n\n"
        await wait()


@router.get("/feed")
async def feed_page(request: Request) -> Response:
    viewer = _viewer(request)
    session = await viewer.staff(request)
    page = await viewer.store.search(EventFilter(), limit=FEED_ROWS)
    return viewer.render(
        request, "feed.html", session,
        rows=[event_row(e) for e in page.events],
        after=await viewer.store.last_id(),
    )  # fmt: skip


@router.get("/events/stream")
async def stream(request: Request) -> Response:
    viewer = _viewer(request)
    await viewer.staff(request)
    try:
        filters = event_filter(request.query_params)
    except BadFilter as exc:
        raise HTTPException(400, str(exc)) from exc
    resume = request.headers.get("last-event-id") or request.query_params.get("after")
    if resume is not None:
        if not resume.isdigit() or len(resume) > 18:
            raise HTTPException(400, "after: an event id")
        after = int(resume)
    else:
        after = await viewer.store.last_id()

    async def wait() -> None:
        if viewer.commits is not None:
            await viewer.commits.wait(viewer.poll_interval_s)
        else:
            await asyncio.sleep(viewer.poll_interval_s)

    frames = event_frames(viewer.store, filters, after, wait=wait, gone=request.is_disconnected)
    return StreamingResponse(
        frames,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
