"""``gateway demo``: the one command a newcomer runs first (docs/demo.md)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from gateway.logging_setup import configure_logging
from simulator.demo.run import DEMO_SCENARIO, DemoOptions, run_demo


@click.command("demo")
@click.option(
    "--duration",
    "duration_s",
    type=click.FloatRange(min=5),
    help="End after this many seconds (the morning is paced to fit). Default: play the "
    "morning at a simulated minute a second, then keep the viewer up until Ctrl-C.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the authority DB, node state, collector store and logs here (default: a "
    "temporary folder, removed at the end).",
)
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Viewer port (0: any).")
@click.option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DEMO_SCENARIO,
    show_default="simulator/scenarios/demo.toml",
    help="A linked scenario to play instead.",
)
def demo(
    duration_s: float | None, as_json: bool, workdir: Path | None, port: int, scenario: Path
) -> None:
    """A living complex on this machine: broker, authority, gates, collector and viewer.

    Everything runs in this process on 127.0.0.1 (an embedded MQTT broker, SQLite
    stores, MockFactory pins): no system service is needed. Ctrl-C or --duration
    ends it with the summary: taps and decisions, wrong decisions against the
    simulation's ground truth, events published, stored, lost and duplicated,
    and the alarms raised against those expected. Exit status 1 if any decision
    was wrong or any event was lost.
    """
    with tempfile.TemporaryDirectory(prefix="gateway-demo-") as scratch:
        root = workdir or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        configure_logging("INFO", log_file=root / "demo.log")
        options = DemoOptions(
            workdir=root,
            duration_s=duration_s,
            viewer_port=port,
            keep_serving=duration_s is None,
            scenario=scenario,
            show=not as_json,
        )
        summary = asyncio.run(_main(options))
    summary.pop("_series", None)
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
    else:
        _print_summary(summary)
    sys.exit(0 if _healthy(summary) else 1)


async def _main(options: DemoOptions) -> dict[str, Any]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        return await run_demo(options, lambda line: click.echo(line, err=True), stop)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _healthy(summary: dict[str, Any]) -> bool:
    wrong = summary.get("wrong", {})
    events = summary.get("events", {})
    return (
        wrong.get("false_accepts", 0) == 0
        and wrong.get("false_rejects", 0) == 0
        and (events.get("lost") or 0) == 0
    )


def _print_summary(summary: dict[str, Any]) -> None:
    wrong, events, alarms = summary["wrong"], summary["events"], summary["alarms"]
    decisions = summary.get("decisions", {})
    lines = [
        "",
        f"taps {summary['taps']}: {decisions.get('granted')} granted, "
        f"{decisions.get('denied')} denied",
        f"wrong decisions: {wrong['false_accepts']} false accepts, "
        f"{wrong['false_rejects']} false rejects",
        f"events: {events.get('published')} published, {events.get('stored')} stored, "
        f"{events.get('lost')} lost, {events.get('duplicated')} duplicated",
        f"alarms raised {alarms['raised']} (expected {alarms['expected']})",
        f"ended: {summary['demo']['ended']}",
    ]
    for line in lines:
        click.echo(line, err=True)
