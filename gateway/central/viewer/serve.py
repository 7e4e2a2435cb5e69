"""The ``[viewer]`` section of the collector config, and serving the viewer beside it.

``gateway collector`` mounts the viewer by adding ``viewer: ViewerSection | None = None``
to its config and running :func:`serve_viewer` next to ``Collector.run()`` on the same
event loop and the same store (docs/viewer.md, "Mounting").
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Annotated

import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from gateway.central.collector.commits import CommitSignal
from gateway.central.collector.store import EventStore
from gateway.central.viewer.actions import LifecycleActions, MqttActions
from gateway.central.viewer.app import create_app
from gateway.central.viewer.auth import AccountStore
from gateway.central.viewer.lifecycle import AuthorityDbLifecycle

Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class ViewerSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str = Field(default="127.0.0.1", description="put a TLS proxy in front for others")
    port: int = Field(default=8080, ge=1, le=65535)
    public_url: str | None = Field(default=None, description="for the setup link; default listen")
    accounts: str = Field(default="viewer.sqlite", description="accounts and audit (SQLite)")
    poll_interval_s: float = Field(default=0.5, gt=0, le=10)
    secure_cookies: bool | None = Field(default=None, description="None: when served as https")
    idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    absolute_hours: int = Field(default=12, ge=1, le=7 * 24)
    site: Ident | None = Field(default=None, description="the site remote actions address")
    operator_id: str | None = Field(default=None, min_length=1, max_length=64)
    operator_key: str | None = Field(default=None, description="PEM P-256 key file")
    posture_key: str | None = Field(default=None, description="PEM P-256 posture signer")
    authority_db: str | None = Field(
        default=None,
        description="the authority database: admins' lifecycle actions are made there and "
        "published by the running `gateway authority serve`",
    )


def load_p256(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"{path}: not a P-256 private key")
    return key


def viewer_app(
    section: ViewerSection,
    store: EventStore,
    *,
    base: Path,
    mqtt_host: str,
    mqtt_port: int,
    building_names: Mapping[str, str] | None = None,
    lifecycle: LifecycleActions | None = None,
    commits: CommitSignal | None = None,
) -> FastAPI:
    """The app for ``section``; remote actions only when site, operator id and key are set.

    Key files are read here, so a missing or wrong key fails at start-up, not at the
    first unlock."""
    actions = None
    if section.site and section.operator_id and section.operator_key:
        actions = MqttActions(
            mqtt_host, mqtt_port, section.site,
            load_p256(base / section.operator_key), section.operator_id,
            posture_key=load_p256(base / section.posture_key) if section.posture_key else None,
        )  # fmt: skip
    if lifecycle is None and section.authority_db:
        lifecycle = AuthorityDbLifecycle(base / section.authority_db)
    public = section.public_url or f"http://{section.listen}:{section.port}"
    return create_app(
        store,
        accounts=AccountStore(base / section.accounts),
        actions=actions,
        lifecycle=lifecycle,
        building_names=building_names,
        poll_interval_s=section.poll_interval_s,
        commits=commits,
        public_url=public,
        secure_cookies=section.secure_cookies,
        session_idle=dt.timedelta(minutes=section.idle_minutes),
        session_absolute=dt.timedelta(hours=section.absolute_hours),
    )


class _EmbeddedServer(uvicorn.Server):
    """Leaves the signals to the host process (the collector cancels us on SIGTERM)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve_viewer(app: FastAPI, section: ViewerSection) -> None:
    """Serve until cancelled, on the caller's event loop (and so the caller's store)."""
    config = uvicorn.Config(
        app, host=section.listen, port=section.port, lifespan="on", log_config=None,
        access_log=False, timeout_graceful_shutdown=5,
    )  # fmt: skip
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve())
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        # Shut down through uvicorn's own path (lifespan end, sockets closed), then go.
        server.should_exit = True
        await task
        raise
