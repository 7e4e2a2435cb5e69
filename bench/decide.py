"""From a verified credential to the policy decision, on a site-sized policy.

The policy has 50 organizations in 10 buildings, 100 zones with an entry and
an exit door each (200 doors), a duty roster and 10,000 per-person grants
(of which 1,000 are separate passes keyed by their own serial). Each timed
call starts from the verifier's ``Decision`` (claims disclosed) and ends with
the ``PolicyDecision``: ``AccessRequest.from_verdict`` then ``decide``. The
mix is staff in and out of hours, grant and pass holders, duty officers and
strangers (the full deny path), under the normal posture and under 제1호
(where a denial also evaluates the normal rules to explain itself).

Policy only: the door's relay command is another module's. Set ``DOOR_HOOK``
to a callable taking the ``PolicyDecision`` and the timing includes it
(``scope`` in the output says which was measured).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from gateway.credentials.decision import CredentialKind, Decision
from gateway.node.policy import (
    AccessRequest,
    GateState,
    PolicyDecision,
    Posture,
    compile_policy,
    decide,
    parse_document,
)

NAME = "decide"
DESCRIPTION = "verified credential -> policy decision (50 orgs, 200 doors, 10k grants)"

DOOR_HOOK: Callable[[PolicyDecision], object] | None = None  # the lead's "plus door command"

SEED = 59
ORGS, BUILDINGS, ZONES_PER_BUILDING = 50, 10, 10
GRANTS, PASSES, GRANT_HOLDERS = 10_000, 1_000, 5_000
CALLS = 20_000
TARGET_P99_US = 200.0
KST = dt.timezone(dt.timedelta(hours=9))
START = dt.datetime(2026, 9, 1, tzinfo=KST)
EFFECTS = {
    "normal": {},
    "level4": {},
    "level3": {"org": "home_hours"},
    "level2": {"org": "home_hours"},
    "level1": {"org": "home_hours", "grants": False},
    "lockdown": {"org": "none", "duty": False, "grants": False, "roles": ["청사방호"]},
    "fire": {"entry": False},
}


def site_document(rng: random.Random) -> dict[str, Any]:
    weekdays = ["mon", "tue", "wed", "thu", "fri"]
    buildings = {f"b{i}": {"name": f"{i}동"} for i in range(BUILDINGS)}
    zones: dict[str, Any] = {}
    doors: dict[str, Any] = {}
    for b in buildings:
        for z in range(ZONES_PER_BUILDING):
            zid = f"{b}-z{z}"
            zones[zid] = {"building": b, "restricted": z == 9, "antipassback": "soft"}
            doors[f"{zid}-in"] = {"zone": zid, "direction": "entry"}
            doors[f"{zid}-out"] = {"zone": zid, "direction": "exit"}
    orgs = {
        f"{1000000 + i}": {
            "name": f"기관{i}",
            "home_buildings": [f"b{i % BUILDINGS}"],
            "buildings": [f"b{(i + 1) % BUILDINGS}"],
        }
        for i in range(ORGS)
    }
    zone_ids = list(zones)
    grants = []
    for i in range(GRANTS):
        start = START + dt.timedelta(days=rng.randrange(30))
        grant: dict[str, Any] = {
            "id": f"g{i}",
            "holder_id": f"h{i % GRANT_HOLDERS}",
            "zones": rng.sample(zone_ids, 3),
            "valid_from": start.isoformat(),
            "valid_until": (start + dt.timedelta(days=60)).isoformat(),
        }
        if i < PASSES:
            grant.update(kind="separate_pass", credential_serial=f"PASS-{i}")
        else:
            grant["schedule"] = "office"
        grants.append(grant)
    roster = [
        {
            "holder_id": f"d{i}",
            "date": (START + dt.timedelta(days=i % 60)).date().isoformat(),
            "kind": "숙직" if i % 2 else "일직",
            "building": f"b{i % BUILDINGS}",
        }
        for i in range(200)
    ]
    return {
        "version": 1,
        "site": "bench",
        "issued_at": START.isoformat(),
        "schedules": {
            "office": {"windows": [{"days": weekdays, "start": "09:00", "end": "18:00"}]}
        },
        "buildings": buildings,
        "zones": zones,
        "doors": doors,
        "organizations": orgs,
        "posture_defaults": EFFECTS,
        "duty_roster": roster,
        "grants": grants,
    }


def _verdict(claims: dict[str, str]) -> Decision:
    return Decision(granted=True, kind=CredentialKind.MOBILE, claims=claims)


def workload(rng: random.Random, doc: dict[str, Any]) -> list[tuple[Decision, str, dt.datetime]]:
    doors = list(doc["doors"])
    orgs = list(doc["organizations"])
    out = []
    for i in range(CALLS):
        now = START + dt.timedelta(days=rng.randrange(45), minutes=rng.randrange(24 * 60))
        kind = i % 10
        if kind < 4:  # staff
            claims = {"holder_id": f"s{i}", "organization_code": rng.choice(orgs)}
        elif kind < 7:  # grant holders (no organization known to the site)
            claims = {"holder_id": f"h{rng.randrange(GRANT_HOLDERS)}"}
        elif kind == 7:  # separate passes
            n = rng.randrange(PASSES)
            claims = {"holder_id": f"h{n % GRANT_HOLDERS}", "credential_serial": f"PASS-{n}"}
        elif kind == 8:  # duty officers
            claims = {"holder_id": f"d{rng.randrange(200)}"}
        else:  # strangers: every rule is consulted and none grants
            claims = {"holder_id": f"x{i}", "organization_code": "0000000", "position": "주무관"}
        claims.setdefault("credential_serial", f"S{i}")
        out.append((_verdict(claims), rng.choice(doors), now))
    return out


def _percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    return {
        "p50_us": round(ordered[len(ordered) // 2] / 1000, 2),
        "p99_us": round(ordered[int(len(ordered) * 0.99)] / 1000, 2),
        "max_us": round(ordered[-1] / 1000, 2),
        "mean_us": round(statistics.fmean(ordered) / 1000, 2),
    }


def _time(calls: list[tuple[Decision, str, dt.datetime]], policy: Any, state: GateState) -> Any:
    hook = DOOR_HOOK
    samples: list[int] = []
    granted = 0
    clock = time.perf_counter_ns
    for verdict, door, now in calls:
        t0 = clock()
        decision = decide(AccessRequest.from_verdict(verdict, door), policy, state, now)
        if hook is not None:
            hook(decision)
        samples.append(clock() - t0)
        granted += decision.granted
    return samples, granted


def run() -> dict[str, Any]:
    rng = random.Random(SEED)
    doc = site_document(rng)
    payload = json.dumps(doc, ensure_ascii=False).encode()
    t0 = time.perf_counter()
    policy = compile_policy(parse_document(payload))
    load_s = time.perf_counter() - t0
    calls = workload(rng, doc)
    occupancy = {f"s{i}": f"b{i % BUILDINGS}-z0" for i in range(0, CALLS, 7)}
    results: dict[str, Any] = {}
    for name, state in (
        ("normal", GateState(occupancy=occupancy)),
        ("level1", GateState(posture=Posture.LEVEL1, occupancy=occupancy)),
    ):
        _time(calls[:2000], policy, state)  # warm-up
        samples, granted = _time(calls, policy, state)
        results[name] = {**_percentiles(samples), "granted_share": round(granted / CALLS, 3)}
    p99 = max(r["p99_us"] for r in results.values())
    return {
        "scope": "policy only; door command not included (set bench.decide.DOOR_HOOK)"
        if DOOR_HOOK is None
        else "policy plus door command (DOOR_HOOK)",
        "policy": {
            "organizations": ORGS,
            "doors": len(doc["doors"]),
            "grants": GRANTS,
            "document_bytes": len(payload),
            "load_and_compile_ms": round(load_s * 1000, 1),
        },
        "calls": CALLS,
        **results,
        "target_p99_us": TARGET_P99_US,
        "p99_over_target": round(p99 / TARGET_P99_US, 4),
        "meets_target": p99 < TARGET_P99_US,
    }
