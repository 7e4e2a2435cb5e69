"""Admin pages: accounts, posture, credential lifecycle actions and the audit log."""

from __future__ import annotations

import re
from typing import Any, cast

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from gateway.central.viewer.actions import (
    LIFECYCLE_ACTIONS,
    POSTURES,
    ActionError,
)
from gateway.central.viewer.auth import AccountError, Role
from gateway.central.viewer.context import Viewer
from gateway.central.viewer.routes.login import _viewer
from gateway.central.viewer.sessions import Session
from gateway.mqtt.payloads import IDENT_PATTERN, PostureName

router = APIRouter(prefix="/admin")
MAX_REASON = 256


async def _page(
    request: Request, viewer: Viewer, session: Session, status: int = 200, **ctx: Any
) -> Response:
    return viewer.render(
        request, "admin.html", session, status,
        accounts=await viewer.accounts.list(), roles=list(Role), postures=POSTURES,
        lifecycle_actions=LIFECYCLE_ACTIONS, has_actions=viewer.actions is not None,
        has_lifecycle=viewer.lifecycle is not None, **ctx,
    )  # fmt: skip


@router.get("")
async def admin_page(request: Request) -> Response:
    viewer = _viewer(request)
    session = await viewer.staff(request, Role.ADMIN)
    return await _page(request, viewer, session, done=request.query_params.get("done"))


@router.get("/audit")
async def audit_page(request: Request) -> Response:
    viewer = _viewer(request)
    session = await viewer.staff(request, Role.ADMIN)
    entries = await viewer.audit.recent(500)
    return viewer.render(request, "audit.html", session, entries=entries)


@router.post("/accounts")
async def account_change(request: Request) -> Response:
    """One form for create (``op=create``), role, disable/enable and password reset."""
    viewer = _viewer(request)
    session = await viewer.staff(request, Role.ADMIN)
    form = await viewer.form(request, session)
    op, username = form.get("op", ""), form.get("username", "").strip().lower()
    try:
        role = Role(form["role"]) if form.get("role") else None
        if op == "create":
            await viewer.accounts.create(
                username, form.get("password", ""), role or Role.VIEWER, viewer.clock()
            )
        elif op == "role" and role is not None:
            if username == session.username:
                raise AccountError("an admin cannot change their own role")
            await viewer.accounts.set_role(username, role)
        elif op in ("disable", "enable"):
            if username == session.username:
                raise AccountError("an admin cannot disable their own account")
            await viewer.accounts.set_disabled(username, op == "disable")
        elif op == "password":
            await viewer.accounts.set_password(username, form.get("password", ""))
        else:
            raise AccountError("unknown account operation")
    except (AccountError, ValueError) as exc:
        await viewer.record(
            request, session.username, f"account_{op or '?'}", "refused",
            target=username, error=str(exc),
        )  # fmt: skip
        return await _page(request, viewer, session, 400, error=str(exc))
    if op != "create":
        viewer.sessions.end_all(username)  # the old rights must not outlive the change
    await viewer.record(
        request, session.username, f"account_{op}", target=username,
        role=role.value if role else None,
    )  # fmt: skip
    return RedirectResponse("/admin?done=account", status_code=303)


@router.post("/posture")
async def posture(request: Request) -> Response:
    viewer = _viewer(request)
    session = await viewer.staff(request, Role.ADMIN)
    form = await viewer.form(request, session)
    name, reason = form.get("posture", ""), form.get("reason", "").strip()[:MAX_REASON]
    building, drill = form.get("building", "").strip(), form.get("drill") == "on"
    building_posture = form.get("building_posture", "")
    if name not in POSTURES or not reason:
        raise HTTPException(400, f"posture: one of {', '.join(POSTURES)}, with a reason")
    if building and not (re.fullmatch(IDENT_PATTERN, building) and building_posture in POSTURES):
        raise HTTPException(400, "building: an identifier, with a posture of its own")
    # The document replaces the one in force: the site posture and every override at once.
    buildings = {building: cast(PostureName, building_posture)} if building else {}
    detail: dict[str, Any] = {
        "posture": name,
        "buildings": buildings,
        "drill": drill,
        "reason": reason,
    }
    if viewer.actions is None:
        await viewer.record(request, session.username, "posture", "failed", **detail)
        raise HTTPException(503, "posture publishing is not configured")
    try:
        version = await viewer.actions.set_posture(
            posture=name, buildings=buildings, drill=drill, reason=reason,
            actor=session.username,
        )  # fmt: skip
    except ActionError as exc:
        await viewer.record(
            request, session.username, "posture", "failed", error=str(exc), **detail
        )
        raise HTTPException(502, str(exc)) from exc
    await viewer.record(request, session.username, "posture", version=version, **detail)
    return RedirectResponse("/admin?done=posture", status_code=303)


@router.post("/lifecycle")
async def lifecycle(request: Request) -> Response:
    viewer = _viewer(request)
    session = await viewer.staff(request, Role.ADMIN)
    form = await viewer.form(request, session)
    action, subject = form.get("action", ""), form.get("subject", "").strip()[:128]
    reason = form.get("reason", "").strip()[:MAX_REASON]
    if action not in LIFECYCLE_ACTIONS or not subject or not reason:
        raise HTTPException(400, "lifecycle: an action, a subject and a reason")
    if viewer.lifecycle is None:
        await viewer.record(request, session.username, f"lifecycle_{action}", "failed",
                            target=subject, reason=reason)  # fmt: skip
        raise HTTPException(503, "lifecycle actions are not configured")
    try:
        changed = await viewer.lifecycle.lifecycle(
            action, subject, actor=session.username, reason=reason
        )
    except (ActionError, ValueError, LookupError) as exc:
        await viewer.record(request, session.username, f"lifecycle_{action}", "failed",
                            target=subject, reason=reason, error=str(exc))  # fmt: skip
        raise HTTPException(400, str(exc)) from exc
    await viewer.record(request, session.username, f"lifecycle_{action}", target=subject,
                        reason=reason, changed=changed)  # fmt: skip
    return RedirectResponse("/admin?done=lifecycle", status_code=303)
