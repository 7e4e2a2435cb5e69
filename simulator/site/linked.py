"""Linked mode: the simulated site over a real MQTT broker, with the real collector counting.

Each gate runs the node's own service (:func:`~gateway.node.runtime.assemble.node_service`:
outbox, publisher, syncer, command gate) on its own ``[state]`` folder; the simulator
still hands it every tap at its simulated moment. Status lists go out as the centre
sends them (:func:`~gateway.central.sync_publish.publish_status_token`, retained), and a
publish returns once every reachable gate's syncer has installed it. At the end every
node drains its outbox, stops cleanly, and the collector's store is counted against
each node's head: published, stored, lost, duplicated (docs/simulator.md, "Linked mode").
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiomqtt

from gateway.central.collector.config import load_collector_config
from gateway.central.collector.model import EventFilter
from gateway.central.collector.service import Collector
from gateway.central.collector.store import EventStore, open_store
from gateway.central.sync_publish import publish_status_token
from gateway.config.loader import load_node_config
from gateway.mqtt.session import persistent_client
from gateway.node.outbox import Outbox, load_or_create_node_key, public_key_bytes
from gateway.node.policy import Posture
from gateway.node.readers.memory import MemoryReader
from gateway.node.runtime import GateNode, NodeOptions, build_parts
from gateway.node.runtime.assemble import node_service
from gateway.node.runtime.service import NodeService
from simulator.site import physics
from simulator.site.faults import Brokers, start_broker
from simulator.site.gates import Listener, SimGate
from simulator.site.scenario import Building, gate_ids
from simulator.site.site_files import node_config

if TYPE_CHECKING:
    from simulator.site.run import Site

CONNECT_TIMEOUT_S = 20.0
COLLECTOR_ID = "collector-1"
CENTRE_ID = "simulator-authority"
STATUS_WHAT = "status_list"


class LinkedSite:
    """The broker, the collector and every gate's node service of one :class:`Site`."""

    def __init__(self, site: Site, listeners_for: Callable[[str], tuple[Listener, ...]]) -> None:
        self.site = site
        self.link = site.scenario.link
        self.name = site.scenario.scenario.name
        self.root = site.root / "link"
        self.listeners_for = listeners_for
        self.broker: Brokers
        self.accounts: dict[str, str] = {}
        self.configs: dict[str, Path] = {}
        self.buildings: dict[str, Building] = {}
        self.services: dict[str, NodeService] = {}
        self.skew: dict[str, float] = {}
        self.down: set[str] = set()  # cut off or crashed: no status reaches them for now
        self.broker_up = False
        self.deferred: bytes | None = None  # the newest token, held while the broker is down
        self.store: EventStore | None = None
        self.collector: Collector | None = None
        self._collector_task: asyncio.Task[None] | None = None
        self._collector_clients: list[aiomqtt.Client] = []
        self._duplicates = 0  # seen by earlier collector incarnations
        self._quarantined = 0
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.propagations_ms: list[float] = []
        self.incomplete: list[dict[str, Any]] = []  # publications some gate refused or missed
        self.accounting: dict[str, Any] = {}

    # -- set-up --------------------------------------------------------------------------
    async def start(self, files: dict[str, Path]) -> list[SimGate]:
        scenario = self.site.scenario
        if scenario.scenario.path != "fast":
            raise ValueError('linked mode runs the fast path: set path = "fast"')
        gates = [(b, g) for b in scenario.buildings for g in gate_ids(b)]
        self.accounts = {g: secrets.token_urlsafe(18) for _b, g in gates}
        self.accounts |= {
            "collector": secrets.token_urlsafe(18),
            "authority": secrets.token_urlsafe(18),
        }
        self.broker = await start_broker(self.link.broker or "mosquitto", self.accounts)
        self.broker_up = True
        try:
            return await self._start_site(gates, files)
        except BaseException:
            for service in self.services.values():
                await service.shutdown("set-up failed", drain_s=0)
            await self.stop_collector()
            await self.broker.close()
            raise

    async def _start_site(
        self, gates: list[tuple[Building, str]], files: dict[str, Path]
    ) -> list[SimGate]:
        keys = {}
        for building, gate_id in gates:
            self.buildings[gate_id] = building
            keys[gate_id] = self._write_node(building, gate_id, files)
        self._write_collector(keys)
        await self.start_collector()
        assert self.collector is not None
        await _bounded(self.collector.subscribed.wait(), CONNECT_TIMEOUT_S, "collector subscribed")
        simgates = [await self._start_gate(g) for _b, g in gates]
        for gate_id, service in self.services.items():
            assert service.publisher is not None
            await _bounded(service.publisher.connected.wait(), CONNECT_TIMEOUT_S, gate_id)
        return simgates

    def _write_node(self, building: Building, gate_id: str, files: dict[str, Path]) -> str:
        """The gate's config plus ``[mqtt]`` and ``[state]``; returns its public key."""
        root = self.root / "nodes"
        root.mkdir(parents=True, exist_ok=True)
        path = node_config(root, self.name, building, gate_id, "udp:127.0.0.1:50000", files)
        state = root / f"{gate_id}-state"
        state.mkdir(mode=0o700, exist_ok=True)
        key = load_or_create_node_key(state / "node.key")  # made now: the collector needs it
        login = ""
        if self.broker.protocol == 311:
            secret = root / f"{gate_id}.password"
            secret.write_text(self.accounts[gate_id], encoding="utf-8")
            secret.chmod(0o600)
            login = f'password_file = "{secret.name}"\n'
        # normal, not full: a simulated power cut is not modelled (a crash here is a process
        # crash, which WAL with synchronous=NORMAL survives), and fsyncs would only slow it.
        with path.open("a", encoding="utf-8") as f:
            f.write(
                f'\n[mqtt]\nhost = "{self.broker.host}"\nport = {self.broker.port}\n'
                f"protocol = {self.broker.protocol}\nheartbeat_seconds = 3600\n{login}"
                f'\n[state]\ndir = "{state.name}"\ndurability = "{self.link.durability}"\n'
            )
        self.configs[gate_id] = path
        return base64.urlsafe_b64encode(public_key_bytes(key)).decode().rstrip("=")

    def _write_collector(self, keys: dict[str, str]) -> None:
        nodes = "".join(f'[nodes.{g}]\npublic_key = "{k}"\n' for g, k in keys.items())
        (self.root / "collector.toml").write_text(
            f'[mqtt]\nhost = "{self.broker.host}"\nport = {self.broker.port}\n'
            f'protocol = {self.broker.protocol}\nclient_id = "{COLLECTOR_ID}"\n'
            f'site = "{self.name}"\n\n[store]\nurl = "sqlite:collector.sqlite"\n\n{nodes}',
            encoding="utf-8",
        )

    def _clock_of(self, gate_id: str) -> Callable[[], dt.datetime]:
        clock = self.site.clock
        return lambda: clock.wall() + dt.timedelta(seconds=self.skew.get(gate_id, 0.0))

    async def _start_gate(self, gate_id: str, simgate: SimGate | None = None) -> SimGate:
        """Build the node from its config (as ``gateway node --simulated`` does) and start it."""
        building, clock = self.buildings[gate_id], self.site.clock
        loaded = load_node_config(self.configs[gate_id])
        options = NodeOptions(simulated=True, apdu_timeout=1.0)
        parts = build_parts(loaded, options, now=clock.wall(), clock=clock)
        await parts.reader.close()  # never opened: the in-memory backend replaces it
        parts = dataclasses.replace(parts, reader=MemoryReader())
        if simgate is None:
            direction = "entry" if "-in-" in gate_id else "exit"
            simgate = SimGate(gate_id, building.id, direction, building.mode, node=None)  # type: ignore[arg-type]
        now = self._clock_of(gate_id)
        listeners = (simgate.count, *self.listeners_for(gate_id), self._watch(gate_id))
        node = GateNode(parts, now=now, monotonic=clock.monotonic, listeners=listeners)
        # The simulator is this gate's tap loop (it hands each link to handle_link at its
        # simulated moment); the service's own reader loop would only compete for the taps.
        node.run = _taps_come_from_the_simulator  # type: ignore[method-assign]
        service = node_service(loaded, node, now=now)
        simgate.node = node
        self.services[gate_id] = service
        await service.start()
        return simgate

    # -- status lists ------------------------------------------------------------------------
    def _watch(self, gate_id: str) -> Listener:
        def listen(record: dict[str, Any]) -> None:
            if record.get("what") != STATUS_WHAT or record.get("restored"):
                return
            if record["event"] in ("sync", "security", "sync_error"):
                future = self._waiting.get(gate_id)
                if future is not None and not future.done():
                    future.set_result(record)

        return listen

    async def publish_status(self, token: bytes) -> dict[str, Any]:
        """Publish ``token`` retained; return once every reachable gate installed or refused it."""
        if not self.broker_up:
            self.deferred = token  # retained: only the newest matters when the broker is back
            return {"gates_updated": 0, "deferred": "broker down", "propagation_wall_ms": None}
        expected = [g.gate_id for g in self.site.gates if g.gate_id not in self.down]
        loop = asyncio.get_running_loop()
        self._waiting = {g: loop.create_future() for g in expected}
        started = time.perf_counter()
        async with self._client(CENTRE_ID, "authority") as client:
            await publish_status_token(client, self.name, token)
        if self._waiting:
            await asyncio.wait(self._waiting.values(), timeout=self.link.propagation_timeout_s)
        took_ms = (time.perf_counter() - started) * 1e3
        results = {g: f.result() for g, f in self._waiting.items() if f.done()}
        self._waiting = {}
        refused = {g: r.get("reason") for g, r in results.items() if r["event"] != "sync"}
        late = sorted(set(expected) - set(results))
        if not refused and not late:
            self.propagations_ms.append(took_ms)
        else:  # not in the figures, but never out of sight
            self.incomplete.append({"at_s": self.site.clock.t, "refused": refused, "late": late})
        return {
            "gates_updated": len(results) - len(refused),
            "gates_reachable": len(expected),
            "refused": refused,
            "late": late,
            "propagation_sim_s": 0.0,  # the simulated clock stands still while it propagates
            "propagation_wall_ms": round(took_ms, 3),
        }

    def _client(self, identifier: str, user: str) -> aiomqtt.Client:
        protocol = (
            aiomqtt.ProtocolVersion.V5
            if self.broker.protocol == 5
            else aiomqtt.ProtocolVersion.V311
        )
        return aiomqtt.Client(
            self.broker.host, self.broker.port, identifier=identifier, protocol=protocol,
            username=user, password=self.accounts[user],
        )  # fmt: skip

    # -- what faults act on -----------------------------------------------------------------
    async def stop_broker(self) -> None:
        self.broker_up = False
        await self.broker.stop()

    async def start_broker(self) -> dict[str, Any] | None:
        await self.broker.start()
        self.broker_up = True
        token, self.deferred = self.deferred, None
        return None if token is None else await self.publish_status(token)

    async def start_collector(self) -> None:
        loaded = load_collector_config(self.root / "collector.toml")
        self.store = open_store(loaded.store_url, base=loaded.path.parent)
        self.collector = Collector(loaded, self.store, client_factory=self._collector_client)
        self._collector_task = asyncio.create_task(self.collector.run(), name="collector")

    def _collector_client(self) -> aiomqtt.Client:
        versions = aiomqtt.ProtocolVersion
        client = persistent_client(
            self.broker.host, self.broker.port, COLLECTOR_ID,
            protocol=versions.V5 if self.broker.protocol == 5 else versions.V311,
            username="collector", password=self.accounts["collector"],
        )  # fmt: skip
        self._collector_clients.append(client)
        return client

    async def stop_collector(self) -> None:
        """Cancelled wherever it is: an uncommitted batch was never acknowledged, so the
        broker redelivers it to the next incarnation (which counts the copies it skips)."""
        if self.collector is not None:
            self._duplicates += self.collector.ingest.stats.duplicates
            self._quarantined += self.collector.ingest.stats.quarantined
        await _cancel(self._collector_task)
        # What the OS does for a dead process: its socket closes. A cancelled client may be
        # left mid-DISCONNECT with the socket open, and amqtt then waits on the old
        # connection for ever instead of letting the new one take the session over.
        for client in self._collector_clients:
            sock = client._client.socket()
            if sock is not None:
                sock.close()
        self._collector_clients.clear()
        if self.store is not None:
            await self.store.close()
        self.collector, self.store, self._collector_task = None, None, None

    async def crash(self, gate_id: str) -> None:
        """The node dies mid-stride, in process: its tasks cancelled, no clean shutdown, and the
        events still queued for the outbox's writer lost (as with kill -9)."""
        service = self.services.pop(gate_id)
        self.down.add(gate_id)
        gate = service.gate
        gate.listeners.clear()  # a dead process tells nobody anything more
        await _cancel(service._publisher_task)  # no public way to die
        await _cancel(service._gate_task)
        if gate.door is not None:
            gate.door.close()  # only to cancel its timers: nobody hears its relock
        _abandon(service.outbox)

    async def restart(self, gate_id: str) -> None:
        """A new node on the same state folder: it restores what it synced, resends what is
        pending, and takes the site's posture (the simulator sets postures directly)."""
        gate = await self._start_gate(gate_id, self.site.gate(gate_id))
        self.down.discard(gate_id)
        posture = self.site.truth.posture(gate.building)
        if posture != "normal":
            gate.set_posture(Posture(posture))
        if posture == "lockdown" and gate.direction == "entry":
            gate.door.set_lockdown(True, "lockdown, restored after a restart")
        if posture == "fire":
            await physics.fire_panel(gate, True)
        self.site._armed.pop(gate_id, None)  # a new door: its own deadlines
        self.site.arm(gate)

    async def cut(self, gate_id: str) -> None:
        """The node's link goes (its publisher and sync session end); its outbox keeps filling."""
        self.down.add(gate_id)
        await _cancel(self.services[gate_id]._publisher_task)

    async def reconnect(self, gate_id: str) -> None:
        service = self.services[gate_id]
        assert service.publisher is not None
        service._publisher_task = asyncio.create_task(service.publisher.run(), name="publisher")
        self.down.discard(gate_id)

    # -- the end: drain, stop, count ----------------------------------------------------------
    async def close(self) -> None:
        try:
            self.accounting = await self._settle()
        finally:
            await self.stop_collector()
            await self.broker.close()

    async def _settle(self) -> dict[str, Any]:
        problems: list[str] = []
        deadline = asyncio.get_running_loop().time() + self.link.settle_timeout_s
        for service in self.services.values():
            await service.outbox.flush()
        try:
            async with asyncio.timeout_at(deadline):
                for service in self.services.values():
                    assert service.publisher is not None
                    if service.outbox.depth[0] > 0:
                        await service.publisher.wait_delivered(service.outbox.head[0])
        except TimeoutError:
            behind = [g for g, s in self.services.items() if s.outbox.depth[0]]
            problems.append(
                f"after {self.link.settle_timeout_s} s these nodes still had events to "
                f"deliver: {', '.join(behind)}"
            )
        await asyncio.gather(*(s.shutdown("simulation over") for s in self.services.values()))
        heads = {g: s.outbox.head[0] for g, s in self.services.items()}
        try:
            async with asyncio.timeout_at(deadline):
                await self._stored(heads)
        except TimeoutError:
            problems.append(
                f"after {self.link.settle_timeout_s} s the collector had not stored every event"
            )
        return await self._count(heads, problems)

    async def _stored(self, heads: dict[str, int]) -> None:
        while True:
            assert self.collector is not None
            assert self.store is not None
            progress = self.collector.progress
            progress.clear()  # before looking: a commit from now on wakes us
            behind = []
            for gate_id, head in heads.items():
                chain = await self.store.chain(gate_id)
                if chain is None or chain.head_seq < head:
                    behind.append(gate_id)
            if not behind:
                return
            await progress.wait()

    async def _count(self, heads: dict[str, int], problems: list[str]) -> dict[str, Any]:
        assert self.collector is not None
        assert self.store is not None
        stored = {g: await self.store.count(EventFilter(node=g)) for g in heads}
        chains = {g: await self.store.chain(g) for g in heads}
        published = sum(heads.values())
        emitted = sum(g.emitted for g in self.site.gates)
        stats = self.collector.ingest.stats
        return {
            "published": published,
            "stored": sum(stored.values()),
            "lost": sum(max(0, heads[g] - stored[g]) for g in heads),
            "duplicated": self._duplicates + stats.duplicates,
            "published_per_node": heads,
            "stored_per_node": stored,
            "chain_gaps": {g: c.gaps for g, c in chains.items() if c is not None and c.gaps},
            "quarantined": self._quarantined + stats.quarantined,
            "lost_before_commit": emitted - published,  # emitted, never committed: node crashes
            "settled": not problems,
            "problems": problems,
        }


async def _taps_come_from_the_simulator() -> None:
    await asyncio.Future()


async def _bounded(waiting: Any, timeout: float, what: str) -> None:
    try:
        async with asyncio.timeout(timeout):
            await waiting
    except TimeoutError:
        raise TimeoutError(f"linked mode: {what} not ready within {timeout} s") from None


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _abandon(outbox: Outbox) -> None:
    """What kill -9 leaves of an outbox: the committed rows. A group already handed to the
    writer thread commits (SQLite would have it or not; here it does), the rest is gone."""
    writer = outbox._writer
    if writer is not None and not writer.done():
        writer.cancel()
    outbox._closed = True
    outbox._close_db()
