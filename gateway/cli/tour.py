"""`gateway tour`: the credential core at work, told as one Monday morning at a Sejong gate."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path

import click
from rich import box
from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.table import Table

from gateway.central.authority.context import KST, AuthorityError
from gateway.central.authority.hr_import import HrImportError
from gateway.logging_setup import configure_logging
from gateway.tour import (
    DEFAULT_READER,
    DEFAULT_START,
    Beat,
    TourError,
    TourResult,
    default_hr_file,
    run_tour,
)

EXIT_MISMATCH = 1
WIDE = 150
_COLUMNS: tuple[tuple[str, JustifyMethod], ...] = (
    ("#", "right"),
    ("time", "left"),
    ("beat", "left"),
    ("credential", "left"),
    ("expected", "left"),
    ("decision", "left"),
    ("reason", "left"),
    ("µs", "right"),
)
LOG_LEVELS = click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False)


def _parse_start(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.datetime:
    if value is None:
        return DEFAULT_START
    if value.lower() == "now":
        return dt.datetime.now(KST).replace(microsecond=0)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=KST)


@click.command(
    short_help="The main job for now: an authority issues, a gate verifies, attacks fail.",
    epilog=f"Default start: {DEFAULT_START:%A %Y-%m-%d %H:%M} KST.",
)
@click.option(
    "--now",
    "start",
    callback=_parse_start,
    metavar="TIME",
    help="When the story starts: ISO 8601 (no zone means KST), or 'now' for the real time.",
)
@click.option(
    "--dir",
    "keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the authority's DB, anchors, tokens and every tap here (default: a temp dir).",
)
@click.option(
    "--hr",
    "hr_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="HR export to enroll (default: config/examples/hr-export.csv).",
)
@click.option("--reader-id", default=DEFAULT_READER, show_default=True, help="The gate's id.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option(
    "--log-level", type=LOG_LEVELS, default="WARNING", show_default=True, help="Logs to stderr."
)
def tour(
    start: dt.datetime,
    keep: Path | None,
    hr_file: Path | None,
    reader_id: str,
    as_json: bool,
    log_level: str,
) -> None:
    """Show, offline and in a second or two, that the credential core works.

    A temporary issuing authority (인사혁신처장) enrolls an HR export, issues
    mobile IDs (ISO/IEC 18013-5 mdoc, each bound to its own phone's P-256
    key) and chip cards (each with its own card key), and publishes a signed
    IETF Token Status List. A gate (--reader-id) trusts only the exported
    IACA and the status lists it is sent. Every tap is a new session with a
    new reader key: the phone answers with a DeviceResponse disclosing only
    holder_id, credential_serial, organization_code and position; a card
    signs a fresh challenge. The gate's real verify() decides. Not simulated:
    the radio link and its session encryption.

    \b
    The story, on an injected clock that moves 15 s a beat (nothing sleeps):
      valid phones and cards            granted
      a lost phone                      revoked, from the next status list on
      reissue to a new phone            old revoked, new granted
      leave, then reinstatement         suspended, then granted
      a cloned card, a replayed session device_auth_failed
      a tampered organization_code      digest_mismatch
      an mdoc from an unknown IACA      untrusted_issuer
      no new list past its ttl          stale_status
      retirement                        revoked
      an older status list fed again    refused (rollback)

    Each row shows what was expected, what the gate decided and why, and the
    CPU time of verify() in µs (the first tap also walks the signer chain,
    which is cached after). The start is a fixed Monday morning so that every
    run tells the same story; keys and certificates are made at that moment,
    so any --now works. Exit status: 0 when every beat went as expected, 1
    when one did not, 2 on bad input.

    With --dir, inspect the authority with `gateway authority list|audit
    DIR/authority.db`, and check any saved tap again with `gateway credential
    verify DIR/taps/NN-….json --anchors DIR/iaca.pem --status-signer
    DIR/status-signer.pem --status-token DIR/status/vN.cwt` (the --json
    output names the token each tap was judged with).
    """
    configure_logging(log_level)
    hr_file = hr_file or default_hr_file()
    if hr_file is None:
        raise click.UsageError("config/examples/hr-export.csv not found: give --hr FILE")
    try:
        result = run_tour(hr_file=hr_file, start=start, reader_id=reader_id, keep=keep)
    except (HrImportError, TourError, AuthorityError, OSError) as exc:
        raise click.UsageError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        _print(result)
    if not result.ok:
        sys.exit(EXIT_MISMATCH)


def _print(result: TourResult) -> None:
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, width=WIDE)  # piped into a log: do not wrap at 80
    console.print(
        f"[bold]gateway tour[/]: {escape(result.authority)} enrolled {result.enrolled} people "
        f"from {escape(result.hr_file.name)}; gate {escape(result.reader_id)}; "
        f"{result.started_at.astimezone(KST):%a %Y-%m-%d %H:%M} KST"
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for header, justify in _COLUMNS:
        wraps = header in ("beat", "credential")
        table.add_column(
            header, justify=justify, no_wrap=not wraps, min_width=40 if header == "beat" else None
        )
    for beat in result.beats:
        for event in beat.events:
            table.add_row("", "", f"[dim]· {escape(event)}[/]")
        table.add_row(*_cells(beat))
    console.print(table)
    style = "green" if result.ok else "bold red"
    console.print(f"[{style}]{'OK' if result.ok else 'FAILED'}[/]: {escape(result.summary())}")
    if result.kept is not None:
        console.print(
            f"kept in {escape(str(result.kept))}: authority.db, iaca.pem, status-signer.pem, "
            "status/, taps/"
        )


def _cells(beat: Beat) -> tuple[str, ...]:
    colour = "green" if beat.decision in ("granted", "applied") else "red"
    decision = f"[{colour}]{beat.decision}[/]"
    if not beat.matched:
        decision += " [bold red]✗[/]"
    return (
        str(beat.number),
        f"{beat.at.astimezone(KST):%H:%M:%S}",
        escape(beat.title),
        escape(beat.credential),
        beat.expected,
        decision,
        beat.reason or "",
        "" if beat.cpu_us is None else f"{beat.cpu_us:.0f}",
    )
