"""``gateway`` imports a subcommand only when it runs, and lists each with its own summary."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click
import pytest

from gateway.cli.main import COMMANDS


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_listed_summary_matches_the_commands_own_help(name: str) -> None:
    module, attribute, summary = COMMANDS[name]
    command = getattr(importlib.import_module(module), attribute)
    assert isinstance(command, click.Command)
    own = (command.help or "").split("\n\n")[0].replace("\n", " ").rstrip(".")
    words = set(summary.lower().rstrip(".").replace(",", "").split())
    assert len(words & set(own.lower().replace(",", "").split())) >= 3, (summary, own)


def test_gateway_help_imports_no_subcommand() -> None:
    code = (
        "import sys; from gateway.cli.main import cli\n"
        "try: cli(['--help'])\n"
        "except SystemExit: pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('gateway.c')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "['gateway.cli', 'gateway.cli.main']"
