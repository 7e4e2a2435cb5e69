"""A viewer over a temporary SQLite store, with fake actions that record their calls."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher
from fastapi import FastAPI

from gateway.central.collector.model import (
    AlarmKind,
    NewAlarm,
    NodeHealth,
    Presence,
    PresenceChange,
    Severity,
    StoredEvent,
    WriteSet,
)
from gateway.central.collector.store import SqliteStore
from gateway.central.viewer import AccountStore, Role, create_app
from gateway.central.viewer.actions import LifecycleAction
from gateway.mqtt.payloads import PostureName

T0 = dt.datetime(2026, 3, 2, 8, 50, tzinfo=dt.UTC)
PASSWORD = "correct horse battery"  # 21 characters
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
# Cheap argon2 for tests: the parameters are not what is under test, the code paths are.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@dataclass
class FakeClock:
    now: dt.datetime = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class FakeActions:
    """StaffActions and LifecycleActions that record what they were asked."""

    unlocks: list[dict[str, Any]] = field(default_factory=list)
    postures: list[dict[str, Any]] = field(default_factory=list)
    lifecycles: list[tuple[str, str, str, str]] = field(default_factory=list)

    async def unlock(self, *, node: str, door: str, seconds: int, actor: str) -> str:
        self.unlocks.append({"node": node, "door": door, "seconds": seconds, "actor": actor})
        return f"cmd-{len(self.unlocks)}"

    async def set_posture(
        self,
        *,
        posture: PostureName,
        buildings: dict[str, PostureName],
        drill: bool,
        reason: str,
        actor: str,
    ) -> int:
        self.postures.append(
            {"posture": posture, "buildings": buildings, "drill": drill, "actor": actor}
        )
        return len(self.postures)

    async def lifecycle(
        self, action: LifecycleAction, subject: str, *, actor: str, reason: str
    ) -> int:
        self.lifecycles.append((action, subject, actor, reason))
        return 1


def event(seq: int, node: str = "gate-1", **kw: Any) -> StoredEvent:
    fields: dict[str, Any] = {
        "site": "sejong",
        "node": node,
        "seq": seq,
        "at": T0 + dt.timedelta(minutes=seq),
        "kind": "decision",
        "payload": {"n": seq},
        "hash": f"{seq:064x}",
        "prev_hash": f"{seq - 1:064x}",
        "sig": "ab" * 64,
        "received_at": T0 + dt.timedelta(minutes=seq, seconds=1),
        "door": "d1",
        "zone": "lobby",
        "building": "b1",
        "holder_id": "h1",
        "granted": True,
    }
    fields.update(kw)
    return StoredEvent(**fields)


def alarm(key: str = "forced:gate-1:d1", node: str = "gate-1") -> NewAlarm:
    return NewAlarm(
        AlarmKind.FORCED_DOOR, Severity.CRITICAL, key, T0, site="sejong", node=node, door="d1"
    )


def presence(holder: str, building: str = "b1", org: str | None = "1741000") -> PresenceChange:
    return PresenceChange(
        "enter", Presence(building, holder, "lobby", "d1", "gate-1", T0, organization_code=org)
    )


def node_health(node: str = "gate-1", doors: tuple[str, ...] = ("d1",)) -> NodeHealth:
    beat = {
        "software_version": "0.1.0",
        "status_lists": {"l1": {"version": 7, "age_s": 42.0, "stale": False}},
        "policy": {"version": 3, "age_s": 10.0, "stale": False},
        "posture": {"version": 2, "age_s": 10.0, "stale": False},
        "doors": [{"id": d, "ok": True, "state": "closed"} for d in doors],
    }
    return NodeHealth(node, "sejong", True, T0, T0, beat, T0, 1)


@dataclass
class Env:
    app: FastAPI
    store: SqliteStore
    accounts: AccountStore
    actions: FakeActions
    clock: FakeClock
    announced: list[str]

    async def accounts_audit(self) -> list[tuple[str, str, str]]:
        """(actor, action, outcome) of every audit entry, oldest first."""
        rows = await self.accounts.execute("SELECT actor, action, outcome FROM audit ORDER BY id")
        return [(r[0], r[1], r[2]) for r in rows]

    def client(self, base_url: str = "http://testserver") -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=base_url)


async def make_env(tmp: Path, *, with_actions: bool = True, poll: float = 0.05) -> Env:
    store = SqliteStore(tmp / "store.sqlite")
    await store.migrate()
    accounts = AccountStore(tmp / "viewer.sqlite", hasher=FAST_HASHER)
    actions, clock, announced = FakeActions(), FakeClock(), []
    app = create_app(
        store,
        accounts=accounts,
        actions=actions if with_actions else None,
        lifecycle=actions if with_actions else None,
        site_names={"sejong": "정부세종청사"},
        building_names={"b1": "6동"},
        clock=clock,
        poll_interval_s=poll,
        announce=announced.append,
    )
    return Env(app, store, accounts, actions, clock, announced)


async def add_accounts(accounts: AccountStore) -> None:
    for name, role in (("admin", Role.ADMIN), ("oper", Role.OPERATOR), ("watch", Role.VIEWER)):
        await accounts.create(name, PASSWORD, role, T0)


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


async def login(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> httpx.Response:
    page = await client.get("/login")
    return await client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "username": username, "password": password},
    )


async def csrf_for(client: httpx.AsyncClient, path: str = "/feed") -> str:
    """The session's CSRF token, as any logged-in page carries it."""
    return csrf_of((await client.get(path)).text)


async def seed(store: SqliteStore) -> None:
    await store.write(
        WriteSet(
            events=[
                event(1, holder_id="kim", organization_code="1741000"),
                event(2, holder_id="lee", granted=False, reason="revoked", door="d2"),
                event(3, holder_id="park", credential_serial="SN-3", building="b2"),
                event(4, holder_id="=cmd|' /C calc'!A0"),
            ],
            alarms=[alarm()],
            presence=[presence("kim"), presence("choi", "b2")],
            nodes={"gate-1": node_health()},
        )
    )
