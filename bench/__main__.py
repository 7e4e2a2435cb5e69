"""Run benchmarks: ``python -m bench [NAME ...] [--json]``.

Every module in the ``bench`` package with a ``run() -> dict`` is a benchmark,
named by its optional ``NAME`` (default: the module name) and described by its
optional ``DESCRIPTION``. If ``run`` takes a ``progress`` keyword, it is told
whether it may draw progress on stderr (never with ``--json``).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import pkgutil
import sys
from types import ModuleType
from typing import Any

from rich.console import Console
from rich.table import Table

import bench


def discover() -> dict[str, ModuleType]:
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(bench.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        if callable(getattr(module, "run", None)):
            found[getattr(module, "NAME", info.name)] = module
    return found


def _flatten(figures: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in figures.items():
        if isinstance(value, dict):
            rows.extend(_flatten(value, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "[green]yes[/]" if value else "[red]NO[/]"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default all)")
    parser.add_argument("--json", action="store_true", help="print one JSON object {name: figures}")
    args = parser.parse_args(argv)

    known = discover()
    unknown = [name for name in args.names if name not in known]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}", file=sys.stderr)
        print(f"known: {', '.join(sorted(known)) or '(none)'}", file=sys.stderr)
        return 2

    results: dict[str, Any] = {}
    console = Console()
    for name in args.names or sorted(known):
        run = known[name].run
        takes_progress = "progress" in inspect.signature(run).parameters
        figures = run(progress=not args.json) if takes_progress else run()
        results[name] = figures
        if not args.json:
            table = Table(title=f"{name}: {getattr(known[name], 'DESCRIPTION', '')}".rstrip(": "))
            table.add_column("figure")
            table.add_column("value", justify="right")
            for key, value in _flatten(figures):
                table.add_row(key, _show(value))
            console.print(table)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
