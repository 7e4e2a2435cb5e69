"""What a staff member can make happen beyond the store: remote unlock, posture, lifecycle.

The viewer calls these Protocols only after the role check and the CSRF check, and
audits every call. :class:`MqttActions` is the real one for unlock and posture: it
signs with the operator's and the posture signer's P-256 keys and publishes on the
registry's topics. Lifecycle actions belong to the authority service and are wired by
whoever runs it (:class:`LifecycleActions`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Literal, Protocol

import aiomqtt
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.central.commands import new_command, sign_command
from gateway.central.sync_publish import publish_posture, sign_posture
from gateway.mqtt import topics
from gateway.mqtt.payloads import PostureName, PostureState, Unlock

LifecycleAction = Literal["lost", "suspend", "resume", "retire"]
LIFECYCLE_ACTIONS: tuple[LifecycleAction, ...] = ("lost", "suspend", "resume", "retire")
POSTURES: tuple[PostureName, ...] = (
    "normal", "level4", "level3", "level2", "level1", "lockdown", "fire",
)  # fmt: skip


class ActionError(RuntimeError):
    """The action could not be carried out (broker down, refused upstream)."""


class StaffActions(Protocol):
    async def unlock(self, *, node: str, door: str, seconds: int, actor: str) -> str:
        """Publish a signed unlock for ``door`` at ``node``; return the command id."""

    async def set_posture(
        self,
        *,
        posture: PostureName,
        buildings: dict[str, PostureName],
        drill: bool,
        reason: str,
        actor: str,
    ) -> int:
        """Publish a signed retained posture for the site; return its version."""


class LifecycleActions(Protocol):
    async def lifecycle(
        self, action: LifecycleAction, subject: str, *, actor: str, reason: str
    ) -> int:
        """``lost``: ``subject`` is a credential serial; otherwise a holder id. Return how many
        credentials changed; the authority publishes the new status list itself."""


Clock = Callable[[], dt.datetime]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class MqttActions:
    """:class:`StaffActions` over MQTT: one short connection per action (actions are rare,
    and a held connection would need its own reconnect logic for no gain)."""

    def __init__(
        self,
        host: str,
        port: int,
        site: str,
        operator_key: ec.EllipticCurvePrivateKey,
        operator_id: str,
        *,
        posture_key: ec.EllipticCurvePrivateKey | None = None,
        clock: Clock = _utc_now,
        client_id: str = "viewer-actions",
        username: str | None = None,
        password: str | None = None,
        protocol: aiomqtt.ProtocolVersion = aiomqtt.ProtocolVersion.V5,
    ) -> None:
        self.host, self.port, self.site = host, port, site
        self._username, self._password, self._protocol = username, password, protocol
        self._operator_key, self._operator_id = operator_key, operator_id
        self._posture_key = posture_key
        self._clock = clock
        self._client_id = client_id
        self._last_posture_version = 0

    async def unlock(self, *, node: str, door: str, seconds: int, actor: str) -> str:
        command = new_command(
            self.site, node, Unlock(door=door, seconds=seconds), now=self._clock()
        )
        signed = sign_command(command, self._operator_key, self._operator_id)
        topic = topics.get("commands")
        await self._publish(
            topics.topic_for("commands", site=self.site, node=node), signed, topic.qos
        )
        return command.id

    async def set_posture(
        self,
        *,
        posture: PostureName,
        buildings: dict[str, PostureName],
        drill: bool,
        reason: str,
        actor: str,
    ) -> int:
        if self._posture_key is None:
            raise ActionError("no posture signing key configured")
        now = self._clock()
        # Versions only move forward at the nodes: the issue time in seconds, bumped past
        # the last one this process used so two changes in one second still both apply.
        version = max(int(now.timestamp()), self._last_posture_version + 1)
        state = PostureState(
            site=self.site,
            version=version,
            issued_at=now,
            posture=posture,
            buildings=buildings,
            drill=drill,
            reason=f"{reason} ({actor})"[:256],
        )
        signed = sign_posture(state, self._posture_key)
        try:
            async with self._client() as c:
                await publish_posture(c, self.site, signed)
        except aiomqtt.MqttError as exc:
            raise ActionError(f"posture not published: {exc}") from exc
        self._last_posture_version = version
        return version

    def _client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.host, self.port, identifier=self._client_id, protocol=self._protocol,
            username=self._username, password=self._password,
        )  # fmt: skip

    async def _publish(self, topic: str, payload: bytes, qos: int) -> None:
        try:
            async with self._client() as c:
                await c.publish(topic, payload, qos=qos, retain=False)
        except aiomqtt.MqttError as exc:
            raise ActionError(f"not published: {exc}") from exc
