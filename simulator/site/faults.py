"""Faults on the link, scheduled like scripted events, and the brokers they stop and start.

Each fault happens at its simulated time and is undone ``down_s`` simulated seconds
later (the wall time between the two is however long the simulation takes to get
there: milliseconds to seconds). Taps go on meanwhile, so outboxes fill.

``broker_restart``     the broker process stopped and started on the same port
                       (Mosquitto with persistence on; the embedded broker's stop/start)
``collector_restart``  the collector cancelled mid-batch, started again on its store
``node_crash``         a node's service abandoned in process (tasks cancelled, queued
                       events lost), rebuilt on the same state folder after ``down_s``;
                       the gate serves nobody meanwhile
``network_cut``        a node's MQTT session ended for ``down_s``: no events out, no sync in
``clock_skew``         a node's wall clock off by ``skew_s`` (for ``down_s``, or for good)
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from typing import TYPE_CHECKING, Any, Protocol

from gateway.mqtt.embedded import EmbeddedBroker
from simulator.mosquitto import Broker, running_mosquitto
from simulator.site.scenario import Event

if TYPE_CHECKING:
    from simulator.site.run import Site

RESTART_TIMEOUT_S = 10.0
PERSISTENT = "\npersistence true\n"  # queued QoS 1 messages and retained ones survive a restart


class Brokers(Protocol):
    host: str
    port: int
    protocol: int

    async def stop(self) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


async def start_broker(kind: str, accounts: dict[str, str]) -> Brokers:
    broker: Brokers = Mosquitto() if kind == "mosquitto" else Embedded(accounts)
    await broker.start()
    return broker


class Mosquitto:
    """Our own Mosquitto (anonymous, loopback, free port), restartable on the same port."""

    protocol = 5

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._first: Broker | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.host, self.port = "127.0.0.1", 0

    async def start(self) -> None:
        if self._first is None:
            self._first = self._stack.enter_context(running_mosquitto(extra=PERSISTENT))
            self.host, self.port, self._process = (
                self._first.host,
                self._first.port,
                self._first.process,
            )
            return
        assert self._process is not None
        args = self._process.args
        self._process = await asyncio.to_thread(_restart, args, self.host, self.port)

    async def stop(self) -> None:
        assert self._process is not None
        self._process.terminate()  # SIGTERM: it saves its persistence file first
        await asyncio.to_thread(self._process.wait, RESTART_TIMEOUT_S)

    async def close(self) -> None:
        process = self._process
        if process is not None and self._first is not None and process is not self._first.process:
            process.terminate()
            await asyncio.to_thread(process.wait, RESTART_TIMEOUT_S)
        self._stack.close()


def _restart(args: Any, host: str, port: int) -> subprocess.Popen[bytes]:
    """The same command (same config, same port) again; back once it accepts connections."""
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    deadline = time.monotonic() + RESTART_TIMEOUT_S
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.02)  # polling interval for the port, not a wait for an outcome
    process.kill()
    process.wait()
    raise RuntimeError(f"mosquitto did not restart on port {port}")


class Embedded:
    """The embedded broker (amqtt, MQTT 3.1.1, logins); a restart keeps its sessions."""

    protocol = 311

    def __init__(self, accounts: dict[str, str]) -> None:
        self._broker = EmbeddedBroker(accounts, host="127.0.0.1", port=0)
        self.host, self.port = "127.0.0.1", 0

    async def start(self) -> None:
        await self._broker.start()
        self.port = self._broker.port

    async def stop(self) -> None:
        await self._broker.stop()

    async def close(self) -> None:
        if self._broker.running:
            await self._broker.stop()


# -- the faults ---------------------------------------------------------------------------------
async def apply(site: Site, event: Event) -> None:
    link = site.link
    if link is None:
        raise ValueError(f"{event.kind} at {event.at} needs linked mode ([link] or --broker)")
    t, gate = site.clock.t, event.gate or ""
    record: dict[str, Any] = {"kind": event.kind, "at_s": t, "down_s": event.down_s}
    if event.kind == "broker_restart":
        await link.stop_broker()
        site.schedule(t + event.down_s, _undo, site, record, link.start_broker)
    elif event.kind == "collector_restart":
        await link.stop_collector()
        site.schedule(t + event.down_s, _undo, site, record, link.start_collector)
    elif event.kind == "network_cut":
        record["gate"] = gate
        await link.cut(gate)
        site.schedule(t + event.down_s, _undo, site, record, lambda: link.reconnect(gate))
    elif event.kind == "clock_skew":
        record |= {"gate": gate, "skew_s": event.skew_s}
        link.skew[gate] = event.skew_s
        if event.down_s:
            site.schedule(t + event.down_s, _unskew, site, record, gate)
    else:  # node_crash: between two people at that gate, as a door job
        record["gate"] = gate
        site.jobs[gate].append(lambda: _crash(site, record, gate, event.down_s))
        site.kick(gate)
        return
    site.recorder.faults.append(record)


async def _crash(site: Site, record: dict[str, Any], gate: str, down_s: float) -> float:
    assert site.link is not None
    record["at_s"] = site.clock.t  # when the gate was free to crash
    await site.link.crash(gate)
    back = site.clock.t + down_s
    site.schedule(back, _undo, site, record, lambda: site.link.restart(gate))
    site.recorder.faults.append(record)
    return back + 0.1  # the gate serves again once it is back


async def _undo(site: Site, record: dict[str, Any], undo: Any) -> None:
    started = time.perf_counter()
    outcome = await undo()
    record["undone_at_s"] = site.clock.t
    record["undo_wall_ms"] = round((time.perf_counter() - started) * 1e3, 1)
    if isinstance(outcome, dict):  # a status list held back while the broker was down
        record["deferred_status"] = outcome


async def _unskew(site: Site, record: dict[str, Any], gate: str) -> None:
    assert site.link is not None
    site.link.skew.pop(gate, None)
    record["undone_at_s"] = site.clock.t
