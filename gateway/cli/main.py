"""The one ``gateway`` command. Each subcommand group lives in its own module."""

from __future__ import annotations

import click

from gateway.cli.authority import authority
from gateway.cli.check import check
from gateway.cli.credential import credential
from gateway.cli.node import node
from gateway.cli.tour import tour


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gateway")
def cli() -> None:
    """Access-control gateway for Korean government complexes.

    Gates verify the mobile civil-servant ID (ISO/IEC 18013-5) and the chip
    ID card offline; the central authority issues and revokes them.
    """


cli.add_command(authority)
cli.add_command(check)
cli.add_command(credential)
cli.add_command(node)
cli.add_command(tour)
