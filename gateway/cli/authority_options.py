"""What the `gateway authority` commands share: their options, and how they print."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import click

from gateway.central.authority.context import KST
from gateway.central.authority.service import Authority

F = TypeVar("F", bound=Callable[..., Any])
KINDS = click.Choice(["mobile", "card"])


# --- Parsing ------------------------------------------------------------------------


def parse_now(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from exc
    if moment.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2026-03-02T08:50:00+09:00")
    return moment


def parse_time(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.datetime | None:
    return None if value is None else parse_now(ctx, param, value)


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def read_key(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


# --- Options ------------------------------------------------------------------------


def db_argument(func: F) -> F:
    return click.argument("db", type=click.Path(dir_okay=False, path_type=Path))(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


def out_option(help_text: str) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        return click.option(
            "--out", "-o", required=True, metavar="FILE", help=f"{help_text} ('-' for stdout)."
        )(func)

    return decorate


def valid_days_option(func: F) -> F:
    return click.option(
        "--valid-days", type=click.IntRange(1), help="Validity (default: the DB's)."
    )(func)


def change_options(*, reason: Literal["required", "optional"] | None) -> Callable[[F], F]:
    """--now, --actor, --reason (unless None) and --json: what every command that changes
    something takes, for the audit log, in the order its help lists them."""

    def decorate(func: F) -> F:
        func = json_option(func)
        if reason is not None:
            func = _reason_option(required=reason == "required")(func)
        func = click.option(
            "--actor",
            default=_default_actor,
            show_default="your login name",
            help="Who does this, for the audit log.",
        )(func)
        return click.option(
            "--now",
            callback=parse_now,
            metavar="TIME",
            help="Act as of this ISO 8601 time with zone (default: now).",
        )(func)

    return decorate


def _reason_option(*, required: bool) -> Callable[[F], F]:
    extra: dict[str, Any] = {"required": True} if required else {"default": ""}
    return click.option(
        "--reason",
        **extra,
        help="Why, for the audit log (rule 62 ③ checks)." + (" Required." if required else ""),
    )


# --- Output -------------------------------------------------------------------------


def write(out: str, data: bytes) -> None:
    if out == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        Path(out).write_bytes(data)


def say(out: str, message: str) -> None:
    """A human summary; on stderr when the data itself goes to stdout."""
    click.echo(message, err=out == "-")


def where(out: str) -> str:
    return "stdout" if out == "-" else out


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def kst(moment: dt.datetime | None) -> str:
    """A time as operators read it in tables and summaries: KST, to the minute."""
    return "" if moment is None else moment.astimezone(KST).strftime("%Y-%m-%d %H:%M")


def publish_hint(authority: Authority) -> str:
    if authority.latest_status_list_token() is None:
        return "\nno status list published yet: gates answer unknown_status until `publish`"
    if authority.pending_status_changes:
        return "\nstatus changed: run `gateway authority publish` so gates learn of it"
    return ""
