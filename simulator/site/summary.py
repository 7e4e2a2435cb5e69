"""What the simulation saw, against what it expected: the recorder and the summary it makes.

:class:`Recorder` is a node listener (one per gate) plus what the run loop
tells it (each tap's expectation, queue lengths, revocations); :meth:`summary`
turns it into the JSON-ready dict ``python -m simulator run --json`` prints.
Every figure is explained in docs/simulator.md.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from simulator.site.ground_truth import Expectation, rule_kind

LISTED = 50  # wrong decisions listed in full; beyond, only counted


@dataclass(frozen=True, slots=True)
class TapRecord:
    at: float
    gate: str
    person_id: str
    holder_id: str
    person_kind: str
    expected: Expectation
    granted: bool
    rule: str | None
    reason: str | None
    latency_s: float  # wall time from the link presented to the decision
    wait_s: float  # simulated time queueing at the gate

    def to_json(self) -> dict[str, Any]:
        return {
            "at_s": round(self.at, 1),
            "gate": self.gate,
            "person": self.person_id,
            "holder_id": self.holder_id,
            "person_kind": self.person_kind,
            "expected": "granted" if self.expected.granted else "denied",
            "expected_rule": self.expected.kind,
            "granted": self.granted,
            "rule": self.rule,
        }


@dataclass
class Recorder:
    taps: list[TapRecord] = field(default_factory=list)
    last_decision: dict[str, dict[str, Any]] = field(default_factory=dict)
    alarms_raised: Counter[tuple[str, str]] = field(default_factory=Counter)
    alarms_expected: Counter[tuple[str, str]] = field(default_factory=Counter)
    undetectable: Counter[str] = field(default_factory=Counter)
    arrivals: list[float] = field(default_factory=list)
    queue: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    revocations: list[dict[str, Any]] = field(default_factory=list)
    status_installs: int = 0
    faults: list[dict[str, Any]] = field(default_factory=list)

    def listener_for(self, gate: str) -> Any:
        def listen(record: dict[str, Any]) -> None:
            event = record["event"]
            if event == "decision":
                self.last_decision[gate] = record
                for alarm in record.get("alarms") or ():
                    self.alarms_raised[(gate, str(alarm))] += 1
            elif event == "door" and record.get("is_alarm"):
                self.alarms_raised[(gate, str(record["door_event"]))] += 1

        return listen

    def expect_alarm(self, gate: str, kind: str) -> None:
        self.alarms_expected[(gate, kind)] += 1

    # -- the summary --------------------------------------------------------------------
    def summary(self, *, gates: list[Any], meta: dict[str, Any]) -> dict[str, Any]:
        taps = self.taps
        false_accepts = [t for t in taps if t.granted and not t.expected.granted]
        false_rejects = [t for t in taps if not t.granted and t.expected.granted]
        reason_mismatch = [
            t
            for t in taps
            if t.granted == t.expected.granted and rule_kind(t.rule) != t.expected.kind
        ]
        by_rule = Counter(t.rule or f"read:{t.reason}" for t in taps)
        by_reason = Counter(t.reason for t in taps if t.reason)
        emitted = {g.gate_id: g.emitted for g in gates}
        by_event: Counter[str] = Counter()
        for gate in gates:
            by_event.update(gate.by_event)
        return {
            **meta,
            "taps": len(taps),
            "arrivals": len(self.arrivals),
            "decisions": {
                "granted": sum(t.granted for t in taps),
                "denied": sum(not t.granted for t in taps),
                "by_rule": dict(by_rule.most_common()),
                "by_credential_reason": dict(by_reason.most_common()),
            },
            "wrong": {
                "false_accepts": len(false_accepts),
                "false_rejects": len(false_rejects),
                "listed": [t.to_json() for t in (false_accepts + false_rejects)[:LISTED]],
                "rule_mismatches": len(reason_mismatch),
                "rule_mismatches_listed": [t.to_json() for t in reason_mismatch[:LISTED]],
            },
            "undetectable": dict(self.undetectable),
            "latency_ms": _percentiles([t.latency_s * 1e3 for t in taps]),
            "queue_wait_s": _percentiles([t.wait_s for t in taps]),
            "revocation": self.revocations,
            "status_installs": self.status_installs,
            "alarms": _alarms(self.alarms_expected, self.alarms_raised),
            "events": {
                "emitted": sum(emitted.values()),
                "emitted_per_node": emitted,
                "by_event": dict(by_event.most_common()),
                # Filled in once the nodes publish through their outboxes (the lead's part).
                "published": None,
                "stored": None,
                "lost": None,
                "duplicated": None,
            },
        }


def fill_link(summary: dict[str, Any], link: Any, recorder: Recorder) -> None:
    """Linked mode's figures: the event accounting, propagation times and the faults played."""
    summary["faults"] = recorder.faults
    if link is None:
        summary["link"] = None
        return
    accounting = dict(link.accounting)
    summary["link"] = {
        "broker": link.link.broker,
        "durability": link.link.durability,
        "settled": accounting.pop("settled", False),
        "problems": accounting.pop("problems", ["the run ended before the accounting"]),
    }
    summary["events"] |= accounting
    revocations = [
        r["propagation_wall_ms"]
        for r in recorder.revocations
        if r.get("propagation_wall_ms") is not None and not r.get("late") and not r.get("refused")
    ]
    summary["propagation_ms"] = {
        "revocations": _spread(revocations),
        "every_status_list": _spread(link.propagations_ms),
        "incomplete": link.incomplete,
    }


def _spread(values: list[float]) -> dict[str, float | int | None]:
    cut = _percentiles(values)
    return {"n": len(values), "p50": cut["p50"], "max": cut["max"]}


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(values)
    cut = (
        statistics.quantiles(ordered, n=100, method="inclusive")
        if len(ordered) > 1
        else ordered * 99
    )
    return {
        "p50": round(cut[49], 3),
        "p90": round(cut[89], 3),
        "p99": round(cut[98], 3),
        "max": round(ordered[-1], 3),
    }


def _alarms(expected: Counter[tuple[str, str]], raised: Counter[tuple[str, str]]) -> dict[str, Any]:
    missing = expected - raised
    unexpected = raised - expected
    return {
        "expected": _by_kind(expected),
        "raised": _by_kind(raised),
        "missing": [{"gate": g, "alarm": k, "count": n} for (g, k), n in sorted(missing.items())],
        "unexpected": [
            {"gate": g, "alarm": k, "count": n} for (g, k), n in sorted(unexpected.items())
        ],
    }


def _by_kind(counts: Counter[tuple[str, str]]) -> dict[str, int]:
    kinds: Counter[str] = Counter()
    for (_gate, kind), n in counts.items():
        kinds[kind] += n
    return dict(sorted(kinds.items()))
