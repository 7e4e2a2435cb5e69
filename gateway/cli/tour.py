"""`gateway tour`."""

from __future__ import annotations

import click


@click.group()
def tour() -> None:
    """(being written)"""
