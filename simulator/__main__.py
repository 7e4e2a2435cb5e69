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
@click.option(
    "--broker",
    type=click.Choice(["mosquitto", "embedded"]),
    help="linked mode: the nodes' real services over this MQTT broker, the collector counting "
    "every event (overrides the scenario's [link] broker)",
)
def run(
    scenario: Path, as_json: bool, report: Path | None, log_level: str, broker: str | None
) -> None:
    """Run SCENARIO (a TOML file, see docs/simulator.md) and print what happened."""
    # Imported here so that --help does not wait for the node's whole stack to load.
    from gateway.logging_setup import configure_logging  # noqa: PLC0415
    from simulator.site.report import write_report  # noqa: PLC0415
    from simulator.site.run import run_scenario  # noqa: PLC0415
    from simulator.site.scenario import Link, load_scenario  # noqa: PLC0415

    configure_logging(log_level)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, log_level.upper()))
    )
    try:
        loaded = load_scenario(scenario)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    if broker is not None:
        link = loaded.link.model_copy(update={"broker": broker})
        loaded = loaded.model_copy(update={"link": Link.model_validate(link.model_dump())})
    try:
        summary = asyncio.run(run_scenario(loaded))
    except ValueError as exc:  # a scenario the run refuses (faults without a link, radio linked)
        click.echo(f"{scenario}: {exc}", err=True)
        sys.exit(2)
    series = summary.pop("_series")
    if report is not None:
        index = write_report(report, summary, series)
        click.echo(f"report: {index}", err=True)
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        click.echo(_text(summary))
    wrong, events = summary["wrong"], summary["events"]
    bad_link = summary["link"] is not None and (events["lost"] or not summary["link"]["settled"])
    sys.exit(1 if wrong["false_accepts"] or wrong["false_rejects"] or bad_link else 0)


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
    if s["link"] is not None:
        lines += _link_text(s)
    return "\n".join(lines)


def _link_text(s: dict[str, Any]) -> list[str]:
    events, link, spread = s["events"], s["link"], s["propagation_ms"]
    lines = [
        f"over {link['broker']}: events published {events['published']}, stored "
        f"{events['stored']}, lost {events['lost']}, duplicated {events['duplicated']} "
        f"(each stored once), lost before commit (node crashes) {events['lost_before_commit']}",
        f"status propagation (wall ms): revocations p50 {spread['revocations']['p50']} "
        f"max {spread['revocations']['max']}; every list p50 {spread['every_status_list']['p50']} "
        f"max {spread['every_status_list']['max']}",
    ]
    lines += [f"  fault {f}" for f in s["faults"]]
    lines += [f"  PROBLEM {p}" for p in link["problems"]]
    if events["chain_gaps"]:
        lines.append(f"  the collector saw chain gaps: {events['chain_gaps']}")
    return lines


if __name__ == "__main__":
    main()
