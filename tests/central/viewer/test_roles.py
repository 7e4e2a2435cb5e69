"""Roles, CSRF refusals and the audit trail of every staff action."""

from __future__ import annotations

from tests.central.viewer.helpers import PASSWORD, Env, csrf_for, login

UNLOCK = {"node": "gate-1", "door": "d1", "seconds": "5"}


async def test_viewer_has_no_unlock_button_and_a_forged_post_is_refused(env: Env) -> None:
    async with env.client() as client:
        await login(client, "watch")
        board = await client.get("/board")
        assert board.status_code == 200
        assert "gate-1" in board.text
        assert 'action="/unlock"' not in board.text
        forged = await client.post("/unlock", data={**UNLOCK, "csrf": await csrf_for(client)})
        assert forged.status_code == 403
    assert env.actions.unlocks == []
    assert ("watch", "forbidden", "refused") in await env.accounts_audit()


async def test_operator_unlocks_and_it_is_audited(env: Env) -> None:
    async with env.client() as client:
        await login(client, "oper")
        board = await client.get("/board")
        assert 'action="/unlock"' in board.text
        done = await client.post("/unlock", data={**UNLOCK, "csrf": await csrf_for(client)})
        assert done.status_code == 303
    assert env.actions.unlocks == [{"node": "gate-1", "door": "d1", "seconds": 5, "actor": "oper"}]
    rows = await env.accounts.execute(
        "SELECT actor, target, detail FROM audit WHERE action='unlock'"
    )
    assert rows[0][0] == "oper"
    assert rows[0][1] == "gate-1/d1"
    assert '"command_id": "cmd-1"' in rows[0][2]


async def test_unlock_refuses_bad_input(env: Env) -> None:
    async with env.client() as client:
        await login(client, "oper")
        token = await csrf_for(client)
        for bad in ({"seconds": "301"}, {"seconds": "-1"}, {"door": "D1/../x"}, {"node": ""}):
            answer = await client.post("/unlock", data={**UNLOCK, **bad, "csrf": token})
            assert answer.status_code == 400, bad
    assert env.actions.unlocks == []


async def test_csrf_missing_wrong_or_cross_origin_is_refused(env: Env) -> None:
    async with env.client() as client:
        await login(client, "oper")
        token = await csrf_for(client)
        assert (await client.post("/unlock", data=UNLOCK)).status_code == 403
        assert (
            await client.post("/unlock", data={**UNLOCK, "csrf": token + "x"})
        ).status_code == 403
        cross = await client.post(
            "/unlock", data={**UNLOCK, "csrf": token}, headers={"Origin": "https://evil.example"}
        )
        assert cross.status_code == 403
        assert (await client.post("/alarms/1/ack", data={"comment": "x"})).status_code == 403
    assert env.actions.unlocks == []
    assert await env.store.alarms() != []


async def test_acknowledge_with_comment_by_operator_only(env: Env) -> None:
    [open_alarm] = await env.store.alarms()
    async with env.client() as client:
        await login(client, "watch")
        page = await client.get("/alarms")
        assert "forced_door" in page.text
        assert "/ack" not in page.text
        token = await csrf_for(client)
        refused = await client.post(f"/alarms/{open_alarm.id}/ack", data={"csrf": token})
        assert refused.status_code == 403
    async with env.client() as client:
        await login(client, "oper")
        token = await csrf_for(client)
        done = await client.post(
            f"/alarms/{open_alarm.id}/ack", data={"csrf": token, "comment": "순찰 확인"}
        )
        assert done.status_code == 303
        again = await client.post(f"/alarms/{open_alarm.id}/ack", data={"csrf": token})
        assert again.status_code == 409
    [acked] = await env.store.alarms(open_only=False)
    assert acked.acknowledged_by == "oper"
    assert acked.comment == "순찰 확인"
    audit = await env.accounts_audit()
    assert ("oper", "acknowledge", "ok") in audit
    assert ("oper", "acknowledge", "refused") in audit


async def test_admin_pages_are_admin_only(env: Env) -> None:
    async with env.client() as client:
        await login(client, "oper")
        assert (await client.get("/admin")).status_code == 403
        assert (await client.get("/admin/audit")).status_code == 403
        token = await csrf_for(client)
        posture = {"csrf": token, "posture": "fire", "reason": "drill"}
        assert (await client.post("/admin/posture", data=posture)).status_code == 403
    assert env.actions.postures == []


async def test_admin_posture_lifecycle_and_accounts_are_audited(env: Env) -> None:
    async with env.client() as client:
        await login(client, "admin")
        token = await csrf_for(client, "/admin")
        posture = {
            "csrf": token, "posture": "level2", "building": "b1",
            "building_posture": "fire", "drill": "on", "reason": "화재 훈련",
        }  # fmt: skip
        assert (await client.post("/admin/posture", data=posture)).status_code == 303
        lost = {"csrf": token, "action": "lost", "subject": "SN-3", "reason": "분실 신고"}
        assert (await client.post("/admin/lifecycle", data=lost)).status_code == 303
        bad = {"csrf": token, "action": "explode", "subject": "SN-3", "reason": "x"}
        assert (await client.post("/admin/lifecycle", data=bad)).status_code == 400
        new = {"csrf": token, "op": "create", "username": "guard2", "password": PASSWORD}
        assert (
            await client.post("/admin/accounts", data={**new, "role": "viewer"})
        ).status_code == 303
        weak = {**new, "username": "guard3", "password": "123"}
        assert (await client.post("/admin/accounts", data=weak)).status_code == 400
        self_demote = {"csrf": token, "op": "role", "username": "admin", "role": "viewer"}
        assert (await client.post("/admin/accounts", data=self_demote)).status_code == 400
        audit_page = await client.get("/admin/audit")
        assert "lifecycle_lost" in audit_page.text
    assert env.actions.postures == [
        {"posture": "level2", "buildings": {"b1": "fire"}, "drill": True, "actor": "admin"}
    ]
    assert env.actions.lifecycles == [("lost", "SN-3", "admin", "분실 신고")]
    account = await env.accounts.get("guard2")
    assert account is not None
    assert account.role.value == "viewer"
    audit = await env.accounts_audit()
    for entry in (
        ("admin", "posture", "ok"),
        ("admin", "lifecycle_lost", "ok"),
        ("admin", "account_create", "ok"),
        ("admin", "account_create", "refused"),
        ("admin", "account_role", "refused"),
    ):
        assert entry in audit


async def test_role_change_ends_the_users_sessions(env: Env) -> None:
    async with env.client() as oper, env.client() as admin:
        await login(oper, "oper")
        assert (await oper.get("/board")).status_code == 200
        await login(admin, "admin")
        token = await csrf_for(admin, "/admin")
        change = {"csrf": token, "op": "role", "username": "oper", "role": "viewer"}
        assert (await admin.post("/admin/accounts", data=change)).status_code == 303
        assert (await oper.get("/board")).status_code == 303  # logged out
        await login(oper, "oper")
        assert 'action="/unlock"' not in (await oper.get("/board")).text


async def test_actions_not_configured_answer_503_and_are_audited(tmp_path: object) -> None:
    from pathlib import Path

    from tests.central.viewer.helpers import add_accounts, make_env

    env = await make_env(Path(str(tmp_path)), with_actions=False)
    async with env.app.router.lifespan_context(env.app):
        await add_accounts(env.accounts)
        async with env.client() as client:
            await login(client, "oper")
            assert 'action="/unlock"' not in (await client.get("/board")).text
            answer = await client.post("/unlock", data={**UNLOCK, "csrf": await csrf_for(client)})
            assert answer.status_code == 503
        assert ("oper", "unlock", "failed") in await env.accounts_audit()
    await env.store.close()
