"""The HTML report: one self-contained index.html, plots drawn as inline SVG, no JavaScript.

Plots: arrivals and decisions (granted, denied) per simulated minute; the
tap-to-decision latency histogram; the queue at each gate over time. Then the
summary's tables: decisions by rule, wrong decisions, alarms.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

W, H, PAD = 760, 220, 40
COLOURS = ("#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def _polyline(points: Sequence[tuple[float, float]], colour: str, width: float = 1.5) -> str:
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline fill="none" stroke="{colour}" stroke-width="{width}" points="{path}"/>'


def _frame(title: str, body: str, x_label: str, y_max: float, legend: list[tuple[str, str]]) -> str:
    keys = "".join(
        f'<rect x="{PAD + 10 + i * 130}" y="8" width="10" height="10" fill="{c}"/>'
        f'<text x="{PAD + 24 + i * 130}" y="17" font-size="11">{html.escape(n)}</text>'
        for i, (n, c) in enumerate(legend)
    )
    return (
        f"<h2>{html.escape(title)}</h2>"
        f'<svg width="{W}" height="{H + 30}" role="img" aria-label="{html.escape(title)}">'
        f'<line x1="{PAD}" y1="{H}" x2="{W - 10}" y2="{H}" stroke="#444"/>'
        f'<line x1="{PAD}" y1="20" x2="{PAD}" y2="{H}" stroke="#444"/>'
        f'<text x="4" y="28" font-size="11">{y_max:g}</text>'
        f'<text x="{PAD}" y="{H + 22}" font-size="11">{html.escape(x_label)}</text>'
        f"{keys}{body}</svg>"
    )


def _scale(n: int, y_max: float) -> tuple[float, float]:
    return (W - 10 - PAD) / max(n - 1, 1), (H - 30) / (y_max or 1)


def _per_minute(times: Sequence[float], minutes: int) -> list[int]:
    counts = Counter(int(t // 60) for t in times)
    return [counts.get(m, 0) for m in range(minutes)]


def arrivals_plot(series: dict[str, Any], minutes: int, start: str) -> str:
    lines = {
        "arrivals": _per_minute(series["arrivals"], minutes),
        "granted": _per_minute([t for t, ok in series["decisions"] if ok], minutes),
        "denied": _per_minute([t for t, ok in series["decisions"] if not ok], minutes),
    }
    y_max = max((max(v, default=0) for v in lines.values()), default=0) or 1
    dx, dy = _scale(minutes, y_max)
    body = "".join(
        _polyline([(PAD + i * dx, H - v * dy) for i, v in enumerate(values)], COLOURS[n])
        for n, values in enumerate(lines.values())
    )
    legend = [(name, COLOURS[n]) for n, name in enumerate(lines)]
    return _frame("Arrivals and decisions per minute", body, f"minutes from {start}", y_max, legend)


def latency_plot(latencies_ms: Sequence[float]) -> str:
    if not latencies_ms:
        return "<p>No taps.</p>"
    ordered = sorted(latencies_ms)
    top = ordered[int(0.995 * (len(ordered) - 1))] or 1.0  # the far tail would flatten the rest
    bins = 40
    counts = [0] * bins
    for value in ordered:
        counts[min(int(value / top * bins), bins - 1)] += 1
    y_max = max(counts) or 1
    bar = (W - 10 - PAD) / bins
    body = "".join(
        f'<rect x="{PAD + i * bar:.1f}" y="{H - c * (H - 30) / y_max:.1f}" '
        f'width="{bar - 1:.1f}" height="{c * (H - 30) / y_max:.1f}" fill="{COLOURS[0]}"/>'
        for i, c in enumerate(counts)
    )
    label = f"tap to decision, wall ms (0 to {top:.2f}; the top 0.5% in the last bin)"
    return _frame("Latency histogram", body, label, y_max, [])


def queue_plot(queues: dict[str, list[tuple[float, int]]], start: str) -> str:
    if not queues:
        return "<p>No gates.</p>"
    y_max = max((n for samples in queues.values() for _t, n in samples), default=0) or 1
    length = max(len(samples) for samples in queues.values())
    dx, dy = _scale(length, y_max)
    body = "".join(
        _polyline(
            [(PAD + i * dx, H - n * dy) for i, (_t, n) in enumerate(samples)],
            COLOURS[k % len(COLOURS)],
            1.0,
        )
        for k, samples in enumerate(queues.values())
    )
    busiest = sorted(queues, key=lambda g: -max(n for _t, n in queues[g]))[:5]
    legend = [(g, COLOURS[list(queues).index(g) % len(COLOURS)]) for g in busiest]
    return _frame(
        "Queue length at each gate (busiest named)", body, f"minutes from {start}", y_max, legend
    )


def _table(rows: list[tuple[Any, ...]], head: tuple[str, ...]) -> str:
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f"<table><tr>{header}</tr>{cells}</table>"


def render(summary: dict[str, Any], series: dict[str, Any]) -> str:
    start = dt.datetime.fromisoformat(series["start"]).strftime("%H:%M")
    last = max([*series["arrivals"], *(t for t, _ok in series["decisions"]), 60.0])
    minutes = int(last // 60) + 1
    wrong, alarms = summary["wrong"], summary["alarms"]
    verdict = (
        "no wrong decisions"
        if not (wrong["false_accepts"] or wrong["false_rejects"])
        else (f"{wrong['false_accepts']} false accepts, {wrong['false_rejects']} false rejects")
    )
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>{html.escape(summary['scenario'])}: simulation report</title>",
        "<style>body{font-family:sans-serif;max-width:820px;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}</style>",
        f"<h1>{html.escape(summary['scenario'])} · {html.escape(summary['complex'])}</h1>",
        f"<p>{summary['simulated']['people']} people, {summary['simulated']['gates']} gates, "
        f"{summary['taps']} taps, {summary['path']} path; <b>{verdict}</b>; "
        f"wall time {summary['wall_s']['total']} s.</p>",
        arrivals_plot(series, minutes, start),
        latency_plot(series["latency_ms"]),
        queue_plot(series["queue"], start),
        "<h2>Decisions by rule</h2>",
        _table(list(summary["decisions"]["by_rule"].items()), ("rule", "taps")),
        "<h2>Wrong decisions</h2>",
        _table(
            [(t["gate"], t["person"], t["expected"], t["rule"]) for t in wrong["listed"]],
            ("gate", "person", "expected", "node's rule"),
        ),
        "<h2>Alarms</h2>",
        _table(
            [
                (k, alarms["expected"].get(k, 0), alarms["raised"].get(k, 0))
                for k in sorted({*alarms["expected"], *alarms["raised"]})
            ],
            ("alarm", "expected", "raised"),
        ),
        "<h2>Summary (JSON)</h2>",
        f"<pre>{html.escape(json.dumps(summary, ensure_ascii=False, indent=1))}</pre>",
    ]
    return "\n".join(parts)


def write_report(directory: Path, summary: dict[str, Any], series: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    index = directory / "index.html"
    index.write_text(render(summary, series), encoding="utf-8")
    return index
