"""A node stand-in run as a subprocess: connects with the `offline` Last Will,
publishes `online` retained, says "ready" and waits to be killed.

Usage: python -m tests.mqtt.will_client HOST PORT SITE NODE
"""

from __future__ import annotations

import asyncio
import sys

import aiomqtt

from gateway.mqtt.session import availability_will, persistent_client
from gateway.mqtt.topics import AVAILABILITY_ONLINE, TOPICS, topic_for


async def main(host: str, port: int, site: str, node: str) -> None:
    t = TOPICS["availability"]
    async with persistent_client(
        host, port, node, expiry_s=0, will=availability_will(site, node), keepalive=5
    ) as client:
        await client.publish(
            topic_for("availability", site=site, node=node),
            AVAILABILITY_ONLINE,
            qos=t.qos,
            retain=t.retain,
        )
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await asyncio.Event().wait()


if __name__ == "__main__":
    _, host, port, site, node = sys.argv
    try:
        asyncio.run(main(host, int(port), site, node))
    except aiomqtt.MqttError as exc:
        sys.stderr.write(f"{exc}\n")
        raise SystemExit(1) from exc
