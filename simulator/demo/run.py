"""``gateway demo``: a living complex on a bare machine, in one process.

It plays ``simulator/scenarios/demo.toml`` in linked mode, which starts:

* the embedded MQTT broker (amqtt, 127.0.0.1, a random password per account);
* the authority, which issues the demo population (HR import, phones and cards,
  a lost phone, a suspended card) and signs every status list;
* one real node service per gate (outbox, publisher, sync), on MockFactory pins
  and the memory reader, judging the simulated crowd;
* the collector on SQLite, checking every node's chain;

and, on the collector's store, the viewer on 127.0.0.1 with one printed login per
role. The simulated morning is paced to the wall clock so that it lasts
``duration`` seconds (or ``minutes_per_second`` without a duration); a rich board
on stderr shows taps, grants, denials and alarms. The summary is the simulator's
(ground truth, events published/stored/lost/duplicated, alarms).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
from rich.console import Console

import simulator
from gateway.central.viewer.actions import MqttActions
from gateway.central.viewer.serve import load_p256
from simulator.demo.progress import Board, Tally
from simulator.demo.viewer import DemoViewer, start_viewer
from simulator.site.run import Site, summarize
from simulator.site.scenario import load_scenario
from simulator.site.site_files import DUTY_DESK, DUTY_DESK_KEY

DEMO_SCENARIO = Path(simulator.__file__).resolve().parent / "scenarios" / "demo.toml"
DEFAULT_SIM_S_PER_WALL_S = 60.0  # without --duration: a simulated minute a second


@dataclass(frozen=True)
class DemoOptions:
    workdir: Path
    duration_s: float | None = None
    viewer_port: int = 0
    keep_serving: bool = True  # after the morning: serve the viewer until Ctrl-C
    scenario: Path = DEMO_SCENARIO
    show: bool = True  # the live board (off with --json)


class Pacer:
    """Holds the simulation to the wall clock: ``sim_s_per_s`` simulated seconds a second."""

    def __init__(self, sim_s_per_s: float, on_step: Callable[[float], None]) -> None:
        self.rate = sim_s_per_s
        self.on_step = on_step
        self.started = time.monotonic()

    async def __call__(self, sim_t: float) -> None:
        self.on_step(sim_t)
        lead = self.started + sim_t / self.rate - time.monotonic()
        if lead > 0:
            await asyncio.sleep(lead)  # pacing for a person watching, not waiting on a result


def duty_desk(site: Site) -> MqttActions:
    """Remote unlock for the demo's operators, signed with the site's duty-desk key.

    Commands carry the *simulated* time: the gates judge their validity window by the
    simulation's clock, as they judge everything else.
    """
    link = site.link
    assert link is not None
    key = load_p256(site.root / "site" / DUTY_DESK_KEY)
    protocol = (
        aiomqtt.ProtocolVersion.V5 if link.broker.protocol == 5 else aiomqtt.ProtocolVersion.V311
    )
    return MqttActions(
        link.broker.host, link.broker.port, site.scenario.scenario.name, key, DUTY_DESK,
        clock=site.clock.wall, client_id="demo-duty-desk", username="authority",
        password=link.accounts.get("authority"), protocol=protocol,
    )  # fmt: skip


def _rate(site: Site, duration_s: float | None) -> float:
    if duration_s is None:
        return DEFAULT_SIM_S_PER_WALL_S
    # The morning in 70 % of the time: the rest is set-up's share, the drain and the summary.
    return max(1.0, site.end / max(1.0, 0.7 * duration_s))


async def run_demo(
    options: DemoOptions, say: Callable[[str], None], stop: asyncio.Event
) -> dict[str, Any]:
    """Play the demo until the morning is over, ``duration_s`` passed or ``stop`` is set."""
    scenario = load_scenario(options.scenario)
    tally = Tally()
    started = time.perf_counter()
    site = Site(scenario, options.workdir, tally.listener_for)
    await site.setup()
    ready = time.perf_counter()
    link = site.link
    assert link is not None, "the demo scenario runs linked"
    assert link.store is not None
    viewer: DemoViewer | None = None
    outcome = "over"
    board = Board(tally, site.end, Console(stderr=True)) if options.show else None
    try:
        names = {b.id: b.name for b in scenario.buildings}
        commits = None if link.collector is None else link.collector.commits
        viewer = await start_viewer(
            link.store, options.workdir, port=options.viewer_port, building_names=names,
            commits=commits, actions=duty_desk(site),
        )  # fmt: skip
        say(f"viewer: {viewer.url}")
        for user, password in viewer.logins.items():
            say(f"  login {user} / {password}")
        say(f"logs, databases and node state: {options.workdir}")

        def step(sim_t: float) -> None:
            if board is not None:
                at = site.clock.start + dt.timedelta(seconds=sim_t)
                board.advance(sim_t, at.strftime("%H:%M"))

        site.pace = Pacer(_rate(site, options.duration_s), step)
        with board if board is not None else contextlib.nullcontext():
            outcome = await _played(site, options.duration_s, stop)
        if viewer is not None and options.keep_serving and outcome == "over":
            say(f"the morning is over; the viewer stays at {viewer.url} until Ctrl-C")
            await stop.wait()
    finally:
        await site.close()
        if viewer is not None:
            viewer.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await viewer.task
    summary = summarize(site, started, ready)
    summary["demo"] = {
        "ended": outcome,
        "viewer": None if viewer is None else viewer.url,
        "workdir": str(options.workdir),
        "live": {"taps": tally.taps, "granted": tally.granted, "denied": tally.denied,
                 "alarms": tally.alarms, "events": tally.events},
    }  # fmt: skip
    return summary


async def _played(site: Site, duration_s: float | None, stop: asyncio.Event) -> str:
    """Play the morning until it is over, the duration is up or ``stop`` is set; say which."""
    play = asyncio.create_task(site.run(), name="site")
    stopped = asyncio.create_task(stop.wait())
    timeout = None if duration_s is None else duration_s * 0.85  # the rest: drain and summary
    done, _ = await asyncio.wait({play, stopped}, timeout=timeout, return_when="FIRST_COMPLETED")
    stopped.cancel()
    if play in done:
        play.result()
        return "over"
    play.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await play
    return "stopped" if stop.is_set() else "duration"
