"""Search with filters and keyset pages, its CSV export, and the same as JSON for scripts."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from gateway.central.collector.model import EventFilter
from gateway.central.collector.store import MAX_PAGE, BadCursor, EventStore
from gateway.central.viewer.filters import BadFilter, event_filter, event_row, query_of
from gateway.central.viewer.routes.login import _viewer

router = APIRouter()
PAGE = 50
CSV_MAX_ROWS = 200_000  # one export; a wider question is a job for `gateway logs --csv`
CSV_COLUMNS = [
    "id", "at", "site", "node", "seq", "building", "door", "zone", "kind",
    "holder", "serial", "org", "result", "reason", "alarm",
]  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """Text for a spreadsheet: a cell that would start a formula is quoted with ``'``."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _filters(request: Request) -> EventFilter:
    try:
        return event_filter(request.query_params)
    except BadFilter as exc:
        raise HTTPException(400, str(exc)) from exc


@router.get("/search")
async def search_page(request: Request) -> Response:
    viewer = _viewer(request)
    session = await viewer.staff(request)
    try:
        filters = event_filter(request.query_params)
        cursor = request.query_params.get("cursor") or None
        page = await viewer.store.search(filters, limit=PAGE, cursor=cursor)
    except (BadFilter, BadCursor) as exc:
        return viewer.render(
            request, "search.html", session, 400, q=dict(request.query_params), rows=[],
            error=str(exc), next_url=None, csv_url=None, first_url=None,
        )  # fmt: skip
    query = query_of(filters)
    next_url = f"/search?{urlencode({**query, 'cursor': page.cursor})}" if page.cursor else None
    return viewer.render(
        request, "search.html", session, q=query, rows=[event_row(e) for e in page.events],
        next_url=next_url, csv_url=f"/search.csv?{urlencode(query)}",
        first_url=f"/search?{urlencode(query)}" if cursor else None,
    )  # fmt: skip


async def csv_lines(store: EventStore, filters: EventFilter) -> AsyncIterator[str]:
    """The header and every matching row, newest first, page by page (bounded memory)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    cursor: str | None = None
    written = 0
    while True:
        page = await store.search(filters, limit=MAX_PAGE, cursor=cursor)
        for event in page.events:
            row = event_row(event)
            writer.writerow([csv_cell(row[c]) for c in CSV_COLUMNS])
            written += 1
            if written >= CSV_MAX_ROWS:
                break
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        cursor = page.cursor
        if cursor is None or written >= CSV_MAX_ROWS:
            return


@router.get("/search.csv")
async def search_csv(request: Request) -> Response:
    viewer = _viewer(request)
    session = await viewer.staff(request)
    filters = _filters(request)
    await viewer.record(request, session.username, "export_csv", **query_of(filters))
    return StreamingResponse(
        csv_lines(viewer.store, filters),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="events.csv"'},
    )


@router.get("/api/events")
async def api_events(request: Request) -> Response:
    viewer = _viewer(request)
    await viewer.staff(request)
    filters = _filters(request)
    try:
        page = await viewer.store.search(
            filters, limit=PAGE, cursor=request.query_params.get("cursor") or None
        )
    except BadCursor as exc:
        raise HTTPException(400, str(exc)) from exc
    return JSONResponse({"events": [event_row(e) for e in page.events], "cursor": page.cursor})
