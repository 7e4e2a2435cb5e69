"""``gateway node --config F``: build the gate node from its config and serve taps until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path

import click
import structlog

from gateway.config.findings import ConfigError
from gateway.config.loader import load_node_config
from gateway.logging_setup import configure_logging
from gateway.node.runtime import GateNode, NodeOptions, build_parts
from gateway.node.runtime.node import utc_now

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
    help="A Status List Token (CWT file) to start with; repeatable. Interim: the MQTT link "
    "will feed status lists; until then, without one every credential is unknown_status.",
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
def node(
    config_path: Path,
    simulated: bool,
    status_tokens: tuple[Path, ...],
    door_id: str | None,
    profiles_dir: Path | None,
    log_level: str,
) -> None:
    """Run a gate node: NFC reader, verifier, site policy and door, as the config says.

    Every tap, decision and door event is one JSON line on stderr. Ctrl-C or
    SIGTERM relocks the door as its lock type requires (a strike locked, a
    maglock released), closes the reader and the pins, and exits 0. A config
    error exits 2 naming the file, line and key.
    """
    configure_logging(log_level)
    options = NodeOptions(simulated=simulated, door_id=door_id, status_tokens=status_tokens)
    try:
        loaded = load_node_config(config_path, profiles_dir)
        parts = build_parts(loaded, options, now=utc_now())
    except ConfigError as exc:
        for finding in exc.findings:
            click.echo(str(finding), err=True)
        sys.exit(EXIT_CONFIG)
    sys.exit(asyncio.run(serve(GateNode(parts))))


async def serve(gate: GateNode) -> int:
    """Run ``gate`` until SIGTERM or SIGINT; 0 on a clean stop, 1 if the loop failed."""
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
        await gate.start()
        runner = asyncio.create_task(gate.run(), name="gate-node")
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if runner.done() and runner.exception() is not None:
            log.error("node_failed", exc_info=runner.exception())
            code = 1
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    finally:
        await gate.close(received[0] if received else "error")
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return code
