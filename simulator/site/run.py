"""One simulated complex: the authority, the people, N gate nodes, and a discrete-event loop.

Nothing waits for wall time. The loop pops the next thing that happens (an
arrival, a tap's decision, a door closing, a door deadline, a scripted event),
moves the :class:`~simulator.site.clock.SimClock` there and does it; the nodes
read that clock for every decision and every door deadline.

At each gate people queue; the one in front taps (``tap_seconds_*`` of
simulated time, the card or phone conversation), the node decides, and if
the lock released they walk through (:mod:`.physics`); the next one steps up.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import random
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.central.authority.context import KST
from gateway.node.readers.memory import MemoryReader
from simulator.site import physics, scripted
from simulator.site.clock import MONOTONIC_ORIGIN, SimClock
from simulator.site.crowd import Visit, plan_visits
from simulator.site.gates import Listener, SimGate, build_gates, close_gates
from simulator.site.ground_truth import Truth
from simulator.site.population import Population, build_population
from simulator.site.scenario import Scenario
from simulator.site.site_files import write_site
from simulator.site.summary import Recorder, TapRecord, fill_link

if TYPE_CHECKING:
    from simulator.site.linked import LinkedSite

STEP_ASIDE_S = 1.0  # a refused person makes room for the next
QUEUE_SAMPLE_S = 60.0
PUBLISHER = "simulator/status-publisher"


class Site:
    def __init__(
        self,
        scenario: Scenario,
        root: Path,
        listeners_for: Callable[[str], tuple[Listener, ...]] = lambda gate: (),
    ) -> None:
        self.scenario = scenario
        self.root = root
        self.listeners_for = listeners_for
        meta = scenario.scenario
        self.clock = SimClock(dt.datetime.combine(meta.date, meta.start, tzinfo=KST))
        self.end = self.clock.at(meta.end)
        self.rng = random.Random(meta.seed)  # noqa: S311 (seeded, not keys)
        self.recorder = Recorder()
        self.truth = Truth(scenario)
        self.saved_postures: dict[str, str] = {}
        self.tailgate: set[str] = set()
        self.last_passage_end: dict[str, float] = {}
        self._heap: list[tuple[float, int, Callable[..., Awaitable[Any]], tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._armed: dict[str, float] = {}
        self.gates: list[SimGate] = []
        self.population: Population
        self.link: LinkedSite | None = None  # linked mode: the broker, collector, node services
        # Called with each next simulated time before the clock moves there; None: as fast
        # as the machine goes (a scenario run), else e.g. gateway demo's wall-clock pacing.
        self.pace: Callable[[float], Awaitable[None]] | None = None
        # The hook for a real deployment path: how a new status token reaches every gate.
        self.install_status: Callable[[bytes], None] = self._install_in_process

    # -- set-up --------------------------------------------------------------------------
    async def setup(self) -> None:
        day = self.clock.start
        self.population = build_population(self.scenario, self.root / "authority.db", day)
        for holder, kind, building in self.population.duty:
            self.truth.duty[holder] = (kind, building)
        files = write_site(
            self.root / "site", self.scenario, self.population.authority, self.population.duty
        )
        listeners = lambda gate: (self.recorder.listener_for(gate), *self.listeners_for(gate))  # noqa: E731
        if self.scenario.link.broker is not None:
            from simulator.site.linked import LinkedSite  # noqa: PLC0415 (MQTT only when linked)

            self.link = LinkedSite(self, listeners)
            self.gates = await self.link.start(files)
        elif self.scenario.faults:
            raise ValueError("fault events need linked mode: add [link] broker = ... or --broker")
        else:
            self.gates = await build_gates(
                self.scenario, self.root / "nodes", files, self.clock, listeners
            )
        self._by_id = {g.gate_id: g for g in self.gates}
        self.queues: dict[str, deque[tuple[Visit, float]]] = {
            g.gate_id: deque() for g in self.gates
        }
        self.jobs: dict[str, deque[Callable[[], Awaitable[float]]]] = {
            g.gate_id: deque() for g in self.gates
        }
        self.busy = dict.fromkeys(self._by_id, False)
        await self.publish_status()  # the morning's list: lost and suspended ones are in it
        for person in self.population.people:
            status = {"lost": "invalid", "suspended": "suspended"}.get(person.kind)
            if status:
                self.truth.installed(person.serial, status, -1.0)

    def gate(self, gate_id: str) -> SimGate:
        return self._by_id[gate_id]

    # -- the loop ----------------------------------------------------------------------
    def schedule(self, t: float, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        heapq.heappush(self._heap, (max(t, self.clock.t), next(self._seq), fn, args))

    async def run(self) -> None:
        for visit in plan_visits(self.scenario, self.population.people, self.clock):
            self.schedule(visit.at, self._arrive, visit)
        for event in self.scenario.events:
            self.schedule(self.clock.at(event.at), scripted.apply, self, event)
        interval = self.scenario.scenario.status_interval_s
        for n in range(1, int(self.end // interval) + 1):
            self.schedule(n * interval, self._republish)
        for n in range(int(self.end // QUEUE_SAMPLE_S) + 1):
            self.schedule(n * QUEUE_SAMPLE_S, self._sample_queues)
        while self._heap:
            t, _seq, fn, args = heapq.heappop(self._heap)
            if self.pace is not None:
                await self.pace(t)  # a watched run (gateway demo) keeps to the wall clock
            self.clock.advance_to(t)
            await fn(*args)
            if self.link is not None:
                await asyncio.sleep(0)  # the outbox writers, publishers and collector run too

    async def _republish(self) -> None:
        await self.publish_status()

    async def publish_status(self) -> dict[str, Any]:
        """The authority signs a new list and every gate installs it; how long that took."""
        token = self.population.authority.publish_status_list(self.clock.wall(), actor=PUBLISHER)
        if self.link is not None:
            self.recorder.status_installs += 1
            return await self.link.publish_status(token)
        started = time.perf_counter()
        self.install_status(token)
        self.recorder.status_installs += 1
        return {
            "gates_updated": len(self.gates),
            "propagation_sim_s": 0.0,  # in process: installed at the moment it is published
            "propagation_wall_ms": round((time.perf_counter() - started) * 1e3, 3),
        }

    def _install_in_process(self, token: bytes) -> None:
        now = int(self.clock.wall().timestamp())
        for gate in self.gates:
            gate.parts.verifier.status.apply(token, now)

    async def _sample_queues(self) -> None:
        for gate_id, queue in self.queues.items():
            load = len(queue) + int(self.busy[gate_id])
            self.recorder.queue.setdefault(gate_id, []).append((self.clock.t, load))

    # -- doors' own deadlines ---------------------------------------------------------------
    def arm(self, gate: SimGate) -> None:
        """Make the loop tick this gate's door at its next deadline (relock, held-open …)."""
        deadline = gate.controller.next_deadline()
        if deadline is None or self._armed.get(gate.gate_id) == deadline:
            return
        self._armed[gate.gate_id] = deadline
        self.schedule(deadline - MONOTONIC_ORIGIN, self._tick, gate)

    async def _tick(self, gate: SimGate) -> None:
        self._armed.pop(gate.gate_id, None)
        gate.controller.tick()
        self.arm(gate)

    # -- people ----------------------------------------------------------------------------
    async def _arrive(self, visit: Visit) -> None:
        self.recorder.arrivals.append(self.clock.t)
        choices = [
            g
            for g in self.gates
            if g.building == visit.person.building and g.direction == visit.direction
        ]
        if not choices:
            return
        gate = min(
            choices,
            key=lambda g: (len(self.queues[g.gate_id]) + self.busy[g.gate_id], self.rng.random()),
        )
        self.queues[gate.gate_id].append((visit, self.clock.t))
        self.kick(gate.gate_id)

    def kick(self, gate_id: str) -> None:
        if not self.busy[gate_id]:
            self.busy[gate_id] = True
            self.schedule(self.clock.t, self._serve, self.gate(gate_id))

    async def _serve(self, gate: SimGate) -> None:
        jobs, queue = self.jobs[gate.gate_id], self.queues[gate.gate_id]
        if jobs:
            free_at = await jobs.popleft()()
            self.schedule(free_at, self._serve, gate)
        elif queue:
            visit, arrived = queue.popleft()
            person = visit.person
            tap_s = (
                self.scenario.crowd.tap_seconds_mobile
                if person.credential == "mobile"
                else (self.scenario.crowd.tap_seconds_card)
            )
            self.schedule(self.clock.t + tap_s, self._decide, gate, visit, arrived)
        else:
            self.busy[gate.gate_id] = False

    async def _decide(self, gate: SimGate, visit: Visit, arrived: float) -> None:
        person, t = visit.person, self.clock.t
        device, serial = person.device, person.serial
        if visit.old_device and person.old_devices:
            device, serial = person.old_devices[-1]
        expected = self.truth.expect(
            person, serial, gate.building, gate.direction, t, self.clock.wall()
        )
        if expected.alarm:
            self.recorder.expect_alarm(gate.gate_id, expected.alarm)
        started = time.perf_counter()
        await self._tap(gate, device)
        latency = time.perf_counter() - started
        record = self.recorder.last_decision.pop(gate.gate_id, {})
        granted = bool(record.get("granted"))
        if granted and expected.undetectable:
            self.recorder.undetectable[expected.undetectable] += 1
        self.recorder.taps.append(
            TapRecord(
                t,
                gate.gate_id,
                person.person_id,
                person.holder_id,
                person.kind,
                expected,
                granted,
                record.get("rule"),
                record.get("reason"),
                latency,
                t - arrived - self._tap_s(person),
            )
        )
        self.arm(gate)
        if not (granted and physics.unlocked(gate)):
            self.schedule(t + STEP_ASIDE_S, self._serve, gate)
            return
        opens, closes = physics.passage_times(gate, self.scenario.crowd.walk_through_seconds)
        self.schedule(t + opens, scripted._move, self, gate, True)
        self.schedule(t + closes, self._passed, gate)
        self.schedule(t + closes + 0.2, self._serve, gate)

    def _tap_s(self, person: Any) -> float:
        crowd = self.scenario.crowd
        return crowd.tap_seconds_mobile if person.credential == "mobile" else crowd.tap_seconds_card

    async def _passed(self, gate: SimGate) -> None:
        await physics.door_closes(gate)
        self.last_passage_end[gate.gate_id] = self.clock.t
        self.arm(gate)
        if gate.gate_id in self.tailgate:
            self.tailgate.discard(gate.gate_id)
            if gate.mode == "speed-gate":  # the beam sees a second body with no grant
                self.recorder.expect_alarm(gate.gate_id, "tailgating_alarm")
                t = self.clock.t + physics.TAILGATER_AFTER_S
                self.schedule(t, scripted._move, self, gate, True)
                self.schedule(t + 0.6, scripted._move, self, gate, False)
            else:  # through the open door behind them: no sensor can tell
                self.recorder.undetectable["tailgate_through_door"] += 1

    async def _tap(self, gate: SimGate, device: Any) -> None:
        reader = gate.parts.reader
        if isinstance(reader, MemoryReader):
            reader.present(b"\x08" + self.rng.randbytes(3), device)  # it activates the device
            link = await reader.next_tap()
            await gate.node.handle_link(link)
            return
        gate.target.responder = device
        gate.target.present = True
        try:
            link = await reader.next_tap()
            await gate.node.handle_link(link)
        finally:
            gate.target.present = False

    async def close(self) -> None:
        try:
            if self.link is not None:
                await self.link.close()  # drains every node, stops it, counts the store
            else:
                await close_gates(self.gates)
        finally:
            self.population.authority.close()


async def run_scenario(
    scenario: Scenario,
    *,
    workdir: Path | None = None,
    listeners_for: Callable[[str], tuple[Listener, ...]] = lambda gate: (),
) -> dict[str, Any]:
    """Play ``scenario`` and return its summary (see :mod:`.summary`)."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gateway-sim-") as scratch:
        site = Site(scenario, workdir or Path(scratch), listeners_for)
        await site.setup()
        ready = time.perf_counter()
        try:
            await site.run()
        finally:
            await site.close()
        return summarize(site, started, ready)


def summarize(site: Site, started: float, ready: float) -> dict[str, Any]:
    """The summary of a played (or interrupted) site; ``started``/``ready``: perf_counter."""
    meta = site.scenario.scenario
    summary = site.recorder.summary(
        gates=site.gates,
        meta={
            "scenario": meta.name,
            "complex": meta.complex,
            "path": meta.path,
            "simulated": {
                "from": site.clock.start.isoformat(),
                "until": site.clock.wall().isoformat(),
                "people": len(site.population.people),
                "gates": len(site.gates),
            },
            "wall_s": {
                "setup": round(ready - started, 2),
                "run": round(time.perf_counter() - ready, 2),
                "total": round(time.perf_counter() - started, 2),
            },
        },
    )
    fill_link(summary, site.link, site.recorder)
    summary["_series"] = _series(site)
    return summary


def _series(site: Site) -> dict[str, Any]:
    """The raw time series the HTML report plots (dropped from --json)."""
    return {
        "arrivals": site.recorder.arrivals,
        "decisions": [(t.at, t.granted) for t in site.recorder.taps],
        "latency_ms": [t.latency_s * 1e3 for t in site.recorder.taps],
        "queue": site.recorder.queue,
        "start": site.clock.start.isoformat(),
    }


def run(scenario: Scenario, **kwargs: Any) -> dict[str, Any]:
    return asyncio.run(run_scenario(scenario, **kwargs))
