"""One running authority service from its config: service, publisher, actions, posture, HR."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import aiomqtt

from gateway.central.authority_service.actions import LifecycleActions
from gateway.central.authority_service.config import LoadedService
from gateway.central.authority_service.hr_schedule import HrSchedule
from gateway.central.authority_service.posture import PostureDesk
from gateway.central.authority_service.publisher import Publisher
from gateway.central.authority_service.service import AuthorityService, utc_now
from gateway.central.authority_service.state import ServiceState
from gateway.mqtt.session import persistent_client


@dataclass
class RunningAuthority:
    """What the viewer holds: ``actions`` for lifecycle steps, ``posture`` for the site."""

    loaded: LoadedService
    service: AuthorityService
    actions: LifecycleActions
    posture: PostureDesk
    hr: HrSchedule | None

    async def run(self) -> None:
        """Until cancelled: publish, poll the authority DB, import HR exports."""
        config = self.loaded.config
        extra = [lambda: self._refresh_documents(config.poll_interval_s)]
        if self.hr is not None and config.hr_import is not None:
            hr, interval = self.hr, config.hr_import.interval_s
            extra.append(lambda: hr.run(interval))
        await self.service.run(poll_interval=config.poll_interval_s, extra=extra)

    async def _refresh_documents(self, interval: float) -> None:
        while True:
            self.posture.refresh()
            await asyncio.sleep(interval)

    async def close(self) -> None:
        await self.service.close()
        self.service.state.close()


def mqtt_factory(loaded: LoadedService) -> Callable[[], aiomqtt.Client]:
    mqtt = loaded.config.mqtt
    protocol = aiomqtt.ProtocolVersion.V5 if mqtt.protocol == 5 else aiomqtt.ProtocolVersion.V311
    return lambda: persistent_client(
        mqtt.host,
        mqtt.port,
        mqtt.client_id,
        protocol=protocol,
        keepalive=mqtt.keepalive_s,
        username=mqtt.username,
        password=mqtt.password,
    )


async def start_authority(
    loaded: LoadedService,
    *,
    client_factory: Callable[[], aiomqtt.Client] | None = None,
    wall: Callable[[], dt.datetime] = utc_now,
) -> RunningAuthority:
    """Open everything and queue the current documents; call :meth:`RunningAuthority.run`."""
    config = loaded.config
    state = ServiceState(loaded.resolve(config.state_db))
    publisher = Publisher(
        state,
        client_factory or mqtt_factory(loaded),
        ack_timeout=config.mqtt.ack_timeout_s,
        backoff_initial=config.mqtt.reconnect_initial_s,
        backoff_max=config.mqtt.reconnect_max_s,
        wall=wall,
    )
    service = AuthorityService(
        loaded.resolve(config.authority_db),
        state,
        publisher,
        sites=list(config.sites),
        actor=config.actor,
        wall=wall,
    )
    try:
        await service.start()
    except BaseException:
        await service.close()
        state.close()
        raise
    posture = PostureDesk(state, publisher, loaded.policy_key, list(config.sites), wall)
    posture.refresh()
    hr = None
    if config.hr_import is not None:
        section = config.hr_import
        hr = HrSchedule(
            service,
            loaded.resolve(section.path),
            pattern=section.pattern,
            encoding=section.encoding,
        )
    return RunningAuthority(loaded, service, LifecycleActions(service), posture, hr)
