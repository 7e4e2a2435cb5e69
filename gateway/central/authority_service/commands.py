"""What ``gateway authority serve | posture | publish-policy`` do, apart from click.

Kept out of ``gateway/cli/authority_serve.py`` so that the other ``gateway
authority`` commands do not load MQTT and the node's sync code on every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from collections.abc import Callable

import structlog

from gateway.central.authority.context import AuthorityError
from gateway.central.authority.store import StoreError
from gateway.central.authority_service.build import start_authority
from gateway.central.authority_service.config import LoadedService
from gateway.central.authority_service.posture import PostureDesk
from gateway.mqtt.payloads import PostureName

log = structlog.get_logger("gateway.central.authority_service")
# What opening the databases can raise for an operator to fix: one line, no traceback.
OPEN_ERRORS: tuple[type[Exception], ...] = (StoreError, AuthorityError, sqlite3.Error, OSError)


class NotAcknowledged(Exception):
    """Stored in the service's state, but the broker did not PUBACK in time."""


async def serve(loaded: LoadedService) -> int:
    """Run until SIGTERM or SIGINT."""
    running = await start_authority(loaded)
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, lambda: task.cancel() if task else None)
    try:
        await running.run()
    except asyncio.CancelledError:
        log.info("authority_service_stopping", pending=running.service.publisher.pending())
    finally:
        await running.close()
    return 0


async def check(loaded: LoadedService) -> None:
    """Open the authority and the state database, then close them."""
    running = await start_authority(loaded)
    await running.close()


async def _publish_one(
    loaded: LoadedService, act: Callable[[PostureDesk], str], timeout: float
) -> str:
    running = await start_authority(loaded)
    publisher = running.service.publisher
    task = asyncio.create_task(publisher.run())
    try:
        said = act(running.posture)
        try:
            async with asyncio.timeout(timeout):
                await publisher.drained()
        except TimeoutError:
            raise NotAcknowledged(
                f"stored, but the broker did not acknowledge within {timeout:g} s; "
                "the running service (or the next `serve`) publishes it"
            ) from None
        return said
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await running.close()


async def set_posture(
    loaded: LoadedService,
    posture: PostureName,
    buildings: dict[str, PostureName],
    *,
    drill: bool,
    reason: str | None,
    site: str | None,
    actor: str,
    timeout: float,
) -> str:
    def act(desk: PostureDesk) -> str:
        state = desk.set_posture(posture, buildings, drill, reason, actor=actor, site=site)
        return f"posture {state.posture} version {state.version} published to {state.site}"

    return await _publish_one(loaded, act, timeout)


async def publish_policy(
    loaded: LoadedService, signed: bytes, *, site: str | None, actor: str, timeout: float
) -> str:
    def act(desk: PostureDesk) -> str:
        version = desk.publish_policy(signed, actor=actor, site=site)
        return f"policy version {version} published"

    return await _publish_one(loaded, act, timeout)
