"""`gateway authority`."""

from __future__ import annotations

import click


@click.group()
def authority() -> None:
    """(being written)"""
