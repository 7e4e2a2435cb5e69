"""Who is inside now, per building: the fire muster list and the recall report (rule 42)."""

from __future__ import annotations

from collections import defaultdict

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.central.collector.model import Presence
from gateway.central.viewer.routes.login import _viewer

router = APIRouter()


@router.get("/inside")
async def inside(request: Request) -> Response:
    viewer = _viewer(request)
    session = await viewer.staff(request)
    building = (request.query_params.get("building") or "").strip()[:128] or None
    people = await viewer.store.inside(building)
    by_building: dict[str, list[Presence]] = defaultdict(list)
    for person in people:
        by_building[person.building].append(person)
    everyone = await viewer.store.inside(None) if building else people
    return viewer.render(
        request, "inside.html", session,
        building=building, groups=sorted(by_building.items()),
        buildings=sorted({p.building for p in everyone} | set(viewer.building_names)),
        total=len(people), printed_at=viewer.clock(),
    )  # fmt: skip
