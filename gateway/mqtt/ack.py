"""Publish and learn the PUBACK's reason code, which aiomqtt 2.x does not tell its caller.

aiomqtt's ``publish`` returns once paho has the PUBACK, whatever its reason code, so
a broker's refusal (0x87 not authorized, 0x97 quota exceeded …) would look like a
delivery. :class:`AckTap` publishes through the paho client under an aiomqtt client
and reads the code in ``on_publish``. MQTT 3.1.1 has no reason codes: paho reports
success for every PUBACK there. The node's publisher and the authority service use it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt


class AckTap:
    """Reads PUBACK reason codes from the paho client under an aiomqtt client."""

    _inner: Any

    def __init__(self, client: aiomqtt.Client) -> None:
        self._client = client
        self._paho: mqtt.Client = client._client
        inner: Any = self._paho.on_publish
        earlier = getattr(inner, "__self__", None)
        if isinstance(earlier, AckTap):  # a reused client: wrap the original, not our tap
            inner = earlier._inner
        self._inner = inner
        self._waiting: dict[int, asyncio.Future[int]] = {}
        self._early: dict[int, int] = {}
        self._paho.on_publish = self._on_publish

    def _on_publish(self, c: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        code = int(getattr(rc, "value", rc or 0))
        future = self._waiting.pop(mid, None)
        if future is None:
            self._early[mid] = code
        elif not future.done():
            future.set_result(code)
        if self._inner is not None:
            self._inner(c, userdata, mid, rc, props)

    async def publish(
        self, topic: str, payload: bytes, qos: int, retain: bool, timeout: float
    ) -> int:
        """Publish and return the PUBACK reason code; :class:`aiomqtt.MqttError` if none comes."""
        info = self._paho.publish(topic, payload, qos, retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "could not publish")
        if info.mid in self._early:
            return self._early.pop(info.mid)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting[info.mid] = future
        disconnected: asyncio.Future[None] = self._client._disconnected
        waiters: set[asyncio.Future[Any]] = {future, disconnected}
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self._waiting.pop(info.mid, None)
        if future in done:
            return future.result()
        if disconnected.done() and not disconnected.cancelled():
            exc = disconnected.exception()
            raise aiomqtt.MqttError(f"disconnected before PUBACK: {exc}")
        raise aiomqtt.MqttError("no PUBACK in time")
