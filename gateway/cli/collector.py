"""``gateway collector --config F``: every node's events into the store, checked and alarmed."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path

import click
import structlog

from gateway.central.collector.config import LoadedCollector, load_collector_config
from gateway.central.collector.service import Collector
from gateway.central.collector.store import open_store
from gateway.central.viewer.serve import serve_viewer, viewer_app
from gateway.config.findings import ConfigError
from gateway.logging_setup import configure_logging

EXIT_CONFIG = 2
log = structlog.get_logger("gateway.central.collector")


def load_or_exit(path: Path) -> LoadedCollector:
    """The collector config, or every finding on stderr and exit status 2."""
    try:
        return load_collector_config(path)
    except ConfigError as exc:
        for finding in exc.findings:
            click.echo(str(finding), err=True)
        sys.exit(EXIT_CONFIG)


async def run_collector(loaded: LoadedCollector) -> int:
    store = open_store(loaded.store_url, base=loaded.path.parent)
    collector = Collector(loaded, store)
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, lambda: task.cancel() if task else None)
    try:
        section = loaded.config.viewer
        if section is None:
            await collector.run()
        else:
            app = viewer_app(
                section, store, base=loaded.path.parent,
                mqtt_host=loaded.config.mqtt.host, mqtt_port=loaded.config.mqtt.port,
                building_names={b: s.name for b, s in loaded.config.buildings.items() if s.name},
                commits=collector.commits,
            )  # fmt: skip
            await asyncio.gather(collector.run(), serve_viewer(app, section))
    except asyncio.CancelledError:
        log.info("collector_stopping", **vars(collector.ingest.stats))
    finally:
        await store.close()
    return 0


@click.command("collector")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The collector config (TOML): [mqtt], [store], [alarms], [retention], [nodes.<id>].",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
)
@click.option("--check", is_flag=True, help="Check the config and the store schema, then exit.")
def collector(config_path: Path, log_level: str, check: bool) -> None:
    """Subscribe to every node's events, verify their chains, store them, raise alarms.

    Messages are acknowledged to the broker only after the store committed them.
    """
    loaded = load_or_exit(config_path)
    configure_logging(log_level)
    if check:
        sys.exit(asyncio.run(_check(loaded)))
    sys.exit(asyncio.run(run_collector(loaded)))


async def _check(loaded: LoadedCollector) -> int:
    store = open_store(loaded.store_url, base=loaded.path.parent)
    try:
        version = await store.migrate()
    finally:
        await store.close()
    click.echo(f"{loaded.path}: ok, {len(loaded.keys)} node key(s), schema version {version}")
    return 0
