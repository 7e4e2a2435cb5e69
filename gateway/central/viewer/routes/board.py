"""The board of nodes and doors (with remote unlock for operators) and the alarm list."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from gateway.central.collector.model import NodeHealth
from gateway.central.viewer.actions import ActionError
from gateway.central.viewer.auth import Role
from gateway.central.viewer.routes.login import _viewer
from gateway.mqtt.payloads import IDENT_PATTERN

router = APIRouter()
MAX_COMMENT = 500


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def node_view(node: NodeHealth, open_alarms: int) -> dict[str, Any]:
    """The board's row for a node, from its last heartbeat (which may be missing or odd:
    it was validated on the way in, but the board must not crash on an old format)."""
    beat = _mapping(node.heartbeat)
    lists = _mapping(beat.get("status_lists"))
    ages = [v.get("age_s") for v in lists.values() if isinstance(v, dict)]
    known = [a for a in ages if isinstance(a, int | float)]
    doors = [d for d in beat.get("doors", []) if isinstance(d, dict)]
    policy, posture = _mapping(beat.get("policy")), _mapping(beat.get("posture"))
    return {
        "node": node.node,
        "site": node.site,
        "online": node.online,
        "last_heartbeat_at": node.last_heartbeat_at,
        "last_event_at": node.last_event_at,
        "software": beat.get("software_version"),
        "status_age_s": max(known) if known else None,
        "status_stale": any(isinstance(v, dict) and v.get("stale") for v in lists.values()),
        "policy_version": policy.get("version"),
        "posture_version": posture.get("version"),
        "doors": [
            {"id": str(d.get("id")), "state": str(d.get("state")), "ok": bool(d.get("ok"))}
            for d in doors
        ],
        "open_alarms": open_alarms,
    }


@router.get("/board")
async def board(request: Request) -> Response:
    viewer = _viewer(request)
    session = await viewer.staff(request)
    per_node = Counter(a.node for a in await viewer.store.alarms(open_only=True))
    nodes = [node_view(n, per_node.get(n.node, 0)) for n in await viewer.store.nodes()]
    return viewer.render(
        request, "board.html", session, nodes=nodes, done=request.query_params.get("done")
    )


@router.post("/unlock")
async def unlock(request: Request) -> Response:
    viewer = _viewer(request)
    session = await viewer.staff(request, Role.OPERATOR)
    form = await viewer.form(request, session)
    node, door = form.get("node", ""), form.get("door", "")
    seconds = form.get("seconds", "5")
    if not (re.fullmatch(IDENT_PATTERN, node) and re.fullmatch(IDENT_PATTERN, door)):
        raise HTTPException(400, "node and door must be identifiers")
    if not seconds.isdigit() or not 1 <= int(seconds) <= 300:
        raise HTTPException(400, "seconds: 1 to 300")
    if viewer.actions is None:
        await viewer.record(request, session.username, "unlock", "failed", target=f"{node}/{door}")
        raise HTTPException(503, "remote unlock is not configured")
    try:
        command_id = await viewer.actions.unlock(
            node=node, door=door, seconds=int(seconds), actor=session.username
        )
    except ActionError as exc:
        await viewer.record(
            request, session.username, "unlock", "failed", target=f"{node}/{door}", error=str(exc)
        )
        raise HTTPException(502, str(exc)) from exc
    await viewer.record(
        request, session.username, "unlock", target=f"{node}/{door}",
        seconds=int(seconds), command_id=command_id,
    )  # fmt: skip
    return RedirectResponse("/board?done=unlock", status_code=303)


@router.get("/alarms")
async def alarms(request: Request) -> Response:
    viewer = _viewer(request)
    session = await viewer.staff(request)
    show_all = request.query_params.get("all") == "1"
    rows = await viewer.store.alarms(open_only=not show_all, limit=500)
    return viewer.render(request, "alarms.html", session, alarms=rows, show_all=show_all)


@router.post("/alarms/{alarm_id}/ack")
async def acknowledge(request: Request, alarm_id: int) -> Response:
    viewer = _viewer(request)
    session = await viewer.staff(request, Role.OPERATOR)
    form = await viewer.form(request, session)
    comment = form.get("comment", "").strip()[:MAX_COMMENT] or None
    done = await viewer.store.acknowledge(alarm_id, session.username, comment)
    await viewer.record(
        request, session.username, "acknowledge", "ok" if done else "refused",
        target=str(alarm_id), comment=comment,
    )  # fmt: skip
    if not done:
        raise HTTPException(409, "no such open alarm, or acknowledged already")
    return RedirectResponse("/alarms", status_code=303)
