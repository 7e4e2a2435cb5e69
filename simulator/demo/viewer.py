"""The viewer of ``gateway demo``: on 127.0.0.1, over the demo collector's store, with a login.

The viewer never ships a default password; the demo makes one account per role with
a random password and prints them once, at start, for the person at the keyboard.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.central.collector.commits import CommitSignal
from gateway.central.collector.store import EventStore
from gateway.central.viewer.actions import StaffActions
from gateway.central.viewer.app import create_app
from gateway.central.viewer.auth import AccountStore, Role
from gateway.central.viewer.serve import ViewerSection, serve_viewer

ROLES = ("admin", "operator", "viewer")


@dataclass(frozen=True)
class DemoViewer:
    url: str
    logins: dict[str, str]  # username -> password
    task: asyncio.Task[None]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def start_viewer(
    store: EventStore,
    root: Path,
    *,
    port: int = 0,
    building_names: Mapping[str, str] = {},
    commits: CommitSignal | None = None,
    actions: StaffActions | None = None,
) -> DemoViewer:
    port = port or free_port()
    accounts = AccountStore(root / "viewer.sqlite")
    await accounts.open()
    logins = {f"demo-{role}": secrets.token_urlsafe(12) for role in ROLES}
    now = dt.datetime.now(dt.UTC)
    for role in ROLES:
        await accounts.create(f"demo-{role}", logins[f"demo-{role}"], Role(role), now)
    await accounts.close()
    section = ViewerSection(listen="127.0.0.1", port=port)
    app = create_app(
        store,
        accounts=AccountStore(root / "viewer.sqlite"),
        building_names=dict(building_names),
        public_url=f"http://127.0.0.1:{port}",
        announce=lambda _line: None,  # accounts exist: no setup link is issued
        commits=commits,
        actions=actions,
    )
    task = asyncio.create_task(serve_viewer(app, section), name="viewer")
    return DemoViewer(f"http://127.0.0.1:{port}/", logins, task)
