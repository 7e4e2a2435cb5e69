"""The one ``gateway`` command. Each subcommand lives in its own module, imported when it runs.

Imports are lazy because a gate is a Pi Zero 2 W with 512 MB: ``gateway node``
must not carry the authority's, the collector's or the viewer's modules in
its memory, and ``gateway --help`` should answer at once.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# name -> (module, attribute, the one line `gateway --help` shows without importing it);
# tests/test_cli_lazy.py holds each line to the command's own help.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "authority": (
        "gateway.cli.authority",
        "authority",
        "The issuing authority: enroll, issue, revoke and publish credentials.",
    ),
    "check": (
        "gateway.cli.check",
        "check",
        "Validate node configs, firmware profiles and policy documents.",
    ),
    "collector": (
        "gateway.cli.collector",
        "collector",
        "Subscribe to every node's events, verify their chains, store them, raise alarms.",
    ),
    "demo": (
        # The one command that runs the simulator: named here, never imported by gateway code
        # (tests/test_layering.py); a gate installed without the simulator has no demo.
        "simulator.demo.cli",
        "demo",
        "A living complex on this machine: broker, authority, gates, collector and viewer.",
    ),
    "credential": (
        "gateway.cli.credential",
        "credential",
        "Work with presented credentials offline.",
    ),
    "logs": (
        "gateway.cli.logs",
        "logs",
        "Search stored events, newest page first, printed oldest first.",
    ),
    "node": (
        "gateway.cli.node",
        "node",
        "Run a gate node: reader, verifier, policy, door, outbox, link.",
    ),
    "tour": (
        "gateway.cli.tour",
        "tour",
        "Show, offline, in a second or two, that the credential core works.",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attribute, _help = entry
        try:
            loaded = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise
            raise click.UsageError(
                f"'gateway {cmd_name}' is not installed here ({module} is missing)"
            ) from exc
        command: Any = getattr(loaded, attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gateway")
def cli() -> None:
    """Access-control gateway for Korean government complexes.

    Gates verify the mobile civil-servant ID (ISO/IEC 18013-5) and the chip
    ID card offline; the central authority issues and revokes them.
    """
