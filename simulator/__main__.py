"""``python -m simulator run SCENARIO``: play a simulated complex and print its summary."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import click
import structlog

from gateway.config.findings import ConfigError


@click.group()
def main() -> None:
    """The site simulator: real gate nodes, simulated people, doors and clock."""


@main.command()
@click.argument("scenario", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON on stdout")
@click.option(
    "--report",
    type=click.Path(file_okay=False, path_type=Path),
    help="write an HTML report (index.html, with plots) into this directory",
)
@click.option(
    "--log-level",
    default="ERROR",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="the nodes' JSON log lines on stderr at this level and above",
)
def run(scenario: Path, as_json: bool, report: Path | None, log_level: str) -> None:
    """Run SCENARIO (a TOML file, see docs/simulator.md) and print what happened."""
    # Imported here so that --help does not wait for the node's whole stack to load.
    from gateway.logging_setup import configure_logging  # noqa: PLC0415
    from simulator.site.report import write_report  # noqa: PLC0415
    from simulator.site.run import run_scenario  # noqa: PLC0415
    from simulator.site.scenario import load_scenario  # noqa: PLC0415

    configure_logging(log_level)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, log_level.upper()))
    )
    try:
        loaded = load_scenario(scenario)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    summary = asyncio.run(run_scenario(loaded))
    series = summary.pop("_series")
    if report is not None:
        index = write_report(report, summary, series)
        click.echo(f"report: {index}", err=True)
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        click.echo(_text(summary))
    wrong = summary["wrong"]
    sys.exit(1 if wrong["false_accepts"] or wrong["false_rejects"] else 0)


def _text(s: dict[str, Any]) -> str:
    sim, wrong, alarms, lat = s["simulated"], s["wrong"], s["alarms"], s["latency_ms"]
    lines = [
        f"{s['scenario']} ({s['complex']}), {s['path']} path: {sim['people']} people, "
        f"{sim['gates']} gates, {sim['from']} → {sim['until']}",
        f"wall time: {s['wall_s']['total']} s (set-up {s['wall_s']['setup']} s)",
        f"taps {s['taps']}: granted {s['decisions']['granted']}, denied {s['decisions']['denied']}",
    ]
    lines += [f"  {rule}: {n}" for rule, n in s["decisions"]["by_rule"].items()]
    lines.append(
        f"wrong decisions: {wrong['false_accepts']} false accepts, "
        f"{wrong['false_rejects']} false rejects"
    )
    lines += [f"  {t['expected']} expected, got {t['rule']}: {t}" for t in wrong["listed"]]
    if s["undetectable"]:
        lines.append(f"undetectable by any gate: {s['undetectable']}")
    lines.append(
        f"tap to decision (wall ms): p50 {lat['p50']}, p90 {lat['p90']}, p99 {lat['p99']}, "
        f"max {lat['max']}"
    )
    for rev in s["revocation"]:
        lines.append(
            f"{rev['event']} {rev['serial']} at +{rev['at_s']:.0f} s: {rev['gates_updated']} gates "
            f"updated in {rev['propagation_wall_ms']} ms"
        )
    lines.append(f"alarms expected {alarms['expected']}, raised {alarms['raised']}")
    for gap in alarms["missing"]:
        lines.append(f"  MISSING {gap}")
    for extra in alarms["unexpected"]:
        lines.append(f"  UNEXPECTED {extra}")
    lines.append(f"node events emitted: {s['events']['emitted']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
