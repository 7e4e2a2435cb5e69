"""`gateway authority serve | posture | publish-policy --config F`: the authority as a service.

``serve`` runs until stopped (SIGTERM/SIGINT): lifecycle changes made by the
CLI on the same database reach the gates within a second, HR exports are
imported on schedule. ``posture`` and ``publish-policy`` sign or check one
document, store it in the service's state (so versions only move forward and
the running service republishes it) and publish it themselves, waiting for the
broker's PUBACK. Config problems are listed on stderr with exit status 2.

The service's modules are imported only when one of these commands runs, so
the other ``gateway authority`` commands stay quick to start.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any, Literal

import click

EXIT_CONFIG = 2
# gateway.mqtt.payloads.PostureName, spelt out so that --help needs no pydantic;
# tests/central/authority_service/test_cli.py keeps the two in step.
POSTURES = ("normal", "level4", "level3", "level2", "level1", "lockdown", "fire")
Posture = Literal["normal", "level4", "level3", "level2", "level1", "lockdown", "fire"]

config_option = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The service config (TOML): authority_db, sites, [mqtt], [keys], [hr_import].",
)


def _load(path: Path) -> Any:
    from gateway.central.authority_service.config import load_service_config  # noqa: PLC0415
    from gateway.config.findings import ConfigError  # noqa: PLC0415

    try:
        return load_service_config(path)
    except ConfigError as exc:
        for finding in exc.findings:
            click.echo(str(finding), err=True)
        sys.exit(EXIT_CONFIG)


@click.command("serve")
@config_option
@click.option("--check", is_flag=True, help="Check the config and open the databases, then exit.")
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
)
def serve(config_path: Path, check: bool, log_level: str) -> None:
    """Publish status-list tokens and deltas, policy and posture to the gates over MQTT."""
    from gateway.central.authority_service import commands  # noqa: PLC0415 - when it runs
    from gateway.logging_setup import configure_logging  # noqa: PLC0415

    loaded = _load(config_path)
    configure_logging(log_level)
    try:
        if check:
            asyncio.run(commands.check(loaded))
            click.echo(f"{config_path}: ok")
            return
        sys.exit(asyncio.run(commands.serve(loaded)))
    except commands.OPEN_ERRORS as exc:
        raise click.ClickException(str(exc)) from exc


def _buildings(values: tuple[str, ...]) -> dict[str, Posture]:
    out: dict[str, Posture] = {}
    for value in values:
        building, _, posture = value.partition("=")
        if not building or posture not in POSTURES:
            raise click.BadParameter(f"{value!r}: give BUILDING=POSTURE, one of {POSTURES}")
        out[building] = posture  # type: ignore[assignment]  # checked against POSTURES
    return out


def _publish(run: Any) -> None:
    from gateway.central.authority_service import commands  # noqa: PLC0415

    # PolicyError is a ValueError
    errors: tuple[type[Exception], ...] = (
        ValueError,
        commands.NotAcknowledged,
        *commands.OPEN_ERRORS,
    )
    try:
        click.echo(asyncio.run(run))
    except errors as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("posture")
@config_option
@click.argument("posture", type=click.Choice(POSTURES))
@click.option("--building", "buildings", multiple=True, help="BUILDING=POSTURE; repeatable.")
@click.option("--drill", is_flag=True, help="A fire drill: nodes act as 'fire', log a drill.")
@click.option("--reason", default=None, help="Shown to the nodes and logged.")
@click.option("--site", default=None, help="Required when the config lists several sites.")
@click.option("--actor", required=True, help="Who sets it, for the log.")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for PUBACK.")
def posture(
    config_path: Path,
    posture: Posture,
    buildings: tuple[str, ...],
    drill: bool,
    reason: str | None,
    site: str | None,
    actor: str,
    timeout: float,
) -> None:
    """Sign and publish the site POSTURE (retained) with the next version."""
    from gateway.central.authority_service import commands  # noqa: PLC0415 - when it runs

    loaded = _load(config_path)
    by_building = _buildings(buildings)
    _publish(
        commands.set_posture(
            loaded,
            posture,
            by_building,
            drill=drill,
            reason=reason,
            site=site,
            actor=actor,
            timeout=timeout,
        )
    )


@click.command("publish-policy")
@config_option
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--site", default=None, help="Required when the config lists several sites.")
@click.option("--actor", required=True, help="Who publishes it, for the log.")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for PUBACK.")
def publish_policy(
    config_path: Path, file: Path, site: str | None, actor: str, timeout: float
) -> None:
    """Check a signed policy FILE (signature, newer version) and publish it retained."""
    from gateway.central.authority_service import commands  # noqa: PLC0415 - when it runs

    loaded = _load(config_path)
    _publish(
        commands.publish_policy(loaded, file.read_bytes(), site=site, actor=actor, timeout=timeout)
    )
