"""``gateway node --config F``: build the gate node from its config and serve taps until stopped."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import signal
import sys
from pathlib import Path

import click
import structlog

from gateway.config.findings import ConfigError
from gateway.config.loader import LoadedNode, load_node_config
from gateway.logging_setup import configure_logging
from gateway.node.outbox import load_or_create_node_key, public_key_bytes
from gateway.node.runtime import GateNode, NodeOptions, NodeParts, build_parts
from gateway.node.runtime.assemble import node_service, state_paths
from gateway.node.runtime.node import utc_now
from gateway.node.runtime.service import NodeService

EXIT_CONFIG = 2
log = structlog.get_logger("gateway.node")


@click.command("node")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The node config (TOML); check it first with `gateway check`.",
)
@click.option(
    "--simulated",
    is_flag=True,
    help="Mock GPIO pins and the simulator's NFC radio: [readers].nfc must be "
    "'udp:127.0.0.1:PORT', where a simulator process presents phones and cards.",
)
@click.option(
    "--status-token",
    "status_tokens",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A Status List Token (CWT file) to start with; repeatable. The centre's retained "
    "tokens replace it once received (and are kept in [state].dir across restarts).",
)
@click.option(
    "--door",
    "door_id",
    help="This door's id in the site policy (default: [node].node_id).",
)
@click.option(
    "--profiles",
    "profiles_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of firmware profiles (default: the installed firmware_profiles/).",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
)
@click.option(
    "--print-key",
    is_flag=True,
    help="Print this node's public key (base64url, 32 bytes, Ed25519) for the collector's "
    "[nodes] table, creating the key in [state].dir if needed, and exit.",
)
def node(
    config_path: Path,
    simulated: bool,
    status_tokens: tuple[Path, ...],
    door_id: str | None,
    profiles_dir: Path | None,
    log_level: str,
    print_key: bool,
) -> None:
    """Run a gate node: NFC reader, verifier, site policy and door, as the config says.

    Every tap, decision and door event goes to the node's outbox (a signed,
    hash-chained SQLite log under [state].dir) and, with an [mqtt] section, to
    the centre; each is also one JSON line on stderr. Ctrl-C or SIGTERM relocks
    the door as its lock type requires (a strike locked, a maglock released),
    delivers what it can, says offline, and exits 0. A config error exits 2
    naming the file, line and key.
    """
    configure_logging(log_level)
    options = NodeOptions(simulated=simulated, door_id=door_id, status_tokens=status_tokens)
    try:
        loaded = load_node_config(config_path, profiles_dir)
        if print_key:
            click.echo(node_public_key(loaded))
            return
        parts = build_parts(loaded, options, now=utc_now())
    except ConfigError as exc:
        for finding in exc.findings:
            click.echo(str(finding), err=True)
        sys.exit(EXIT_CONFIG)
    sys.exit(asyncio.run(run_node(loaded, parts)))


def node_public_key(loaded: LoadedNode) -> str:
    paths = state_paths(loaded)
    key = load_or_create_node_key(paths.node_key)
    return base64.urlsafe_b64encode(public_key_bytes(key)).rstrip(b"=").decode()


async def run_node(loaded: LoadedNode, parts: NodeParts) -> int:
    gate = GateNode(parts)
    try:
        service = node_service(loaded, gate)
    except ConfigError as exc:
        for finding in exc.findings:
            click.echo(str(finding), err=True)
        await gate.close("config error")
        return EXIT_CONFIG
    return await serve(service)


async def serve(service: NodeService) -> int:
    """Run ``service`` until SIGTERM or SIGINT; 0 on a clean stop, 1 if it failed."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[str] = []

    def on_signal(sig: signal.Signals) -> None:
        received.append(sig.name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    code = 0
    try:
        await service.start()
        running = asyncio.create_task(service.wait(), name="node")
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({running, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if running.done() and running.exception() is not None:
            log.error("node_failed", exc_info=running.exception())
            code = 1
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    finally:
        await service.shutdown(received[0] if received else "error")
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        for handler in logging.getLogger().handlers:
            handler.flush()
    return code
