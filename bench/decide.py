"""From a verified credential to the relay command, on a site-sized policy.

The policy has 50 organizations in 10 buildings, 100 zones with an entry and
an exit door each (200 doors), a duty roster and 10,000 per-person grants
(of which 1,000 are separate passes keyed by their own serial). Each timed
call starts from the verifier's ``Decision`` (claims disclosed): first
``AccessRequest.from_verdict`` then ``decide``, and for a grant
``DoorController.grant`` on a real door (gpiozero devices on ``MockFactory``
pins passed as ``pin_factory=``, an injected fake clock), which returns once
the lock relay has been driven and read back, and the LEDs set. The mix is
staff in and out of hours, grant and pass holders, duty officers and strangers
(the full deny path), under the normal posture and under 제1호 (where a denial
also evaluates the normal rules to explain itself).

Every grant is checked outside the timed region: the relay pin must have
changed state and the controller must say ``unlocked_for_grant``. The door is
then put back to ``locked`` with its own API, also untimed: alternately the
person walks through (door contact open, then closed: relock on close) or
never comes (the fake clock passes the unlock time and ``tick`` relocks).

Figures, per posture: ``policy_only`` (a run without the door, over every
call), ``policy_plus_door`` (every call; a denial touches no pin),
``to_relay`` (granted calls only: credential to relay command, the figure the
target is about) and ``door_grant`` (``grant`` alone). Setting ``DOOR_HOOK``
to a callable taking the ``PolicyDecision`` replaces the built-in door
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

from gpiozero.pins.mock import MockFactory

from gateway.credentials.decision import CredentialKind, Decision
from gateway.node.door import (
    DoorConfig,
    DoorController,
    DoorDevices,
    DoorEvent,
    DoorPins,
    DoorState,
    FakeClock,
    InputSpec,
    LockType,
    LockWiring,
)
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
DESCRIPTION = "verified credential -> policy decision -> relay (50 orgs, 200 doors, 10k grants)"

DOOR_HOOK: Callable[[PolicyDecision], object] | None = None  # replaces the built-in door if set

SEED = 59
ORGS, BUILDINGS, ZONES_PER_BUILDING = 50, 10, 10
GRANTS, PASSES, GRANT_HOLDERS = 10_000, 1_000, 5_000
CALLS = 20_000
WARMUP = 2_000
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


def workload(
    rng: random.Random, doc: dict[str, Any], calls: int = CALLS
) -> list[tuple[Decision, str, dt.datetime]]:
    doors = list(doc["doors"])
    orgs = list(doc["organizations"])
    out = []
    for i in range(calls):
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


# -- the door -------------------------------------------------------------------------
# The default wiring of the shipped firmware profiles (firmware_profiles/README.md):
# lock relay on the Waveshare relay board's CH1 (BCM 26, energised by a LOW output),
# a fail-secure strike on its NO contact, NC door contact, push-button REX.
RELAY, CONTACT, REX, TAMPER, FIRE, RED, GREEN, BUZZER = 26, 5, 6, 13, 19, 17, 27, 22
WIRING = LockWiring(LockType.FAIL_SECURE, relay_active_high=False, relay_contact="NO")
PINS = DoorPins(
    relay=RELAY,
    red_led=RED,
    green_led=GREEN,
    buzzer=BUZZER,
    contact=InputSpec(CONTACT, normally_closed=True),
    rex=InputSpec(REX, normally_closed=False),
    tamper=InputSpec(TAMPER, normally_closed=True),
    fire=InputSpec(FIRE, normally_closed=True),
)


class BenchDoor:
    """A real :class:`DoorController` on MockFactory pins, with a fake clock."""

    def __init__(self) -> None:
        self.factory = MockFactory()
        self.clock = FakeClock()
        self.events: list[DoorEvent] = []
        self.config = DoorConfig(door_id="bench-door", wiring=WIRING)
        self.devices = DoorDevices(PINS, WIRING, pin_factory=self.factory)
        for spec in PINS.inputs().values():  # idle: normally-closed switches closed
            if spec.normally_closed:
                self.factory.pin(spec.pin).drive_low()
        self.controller = DoorController(self.config, self.devices, self.clock, self.events.append)
        self.devices.subscribe(self.controller.handle_input)  # MockFactory: on this thread
        self.relay = self.factory.pin(RELAY)
        self.locked_state = self.relay.state
        self.grants = self.walk_throughs = self.timeouts = 0
        self._check(DoorState.LOCKED, self.locked_state, "at start")

    def _check(self, state: DoorState, relay: object, when: str) -> None:
        if self.controller.state is not state or self.relay.state != relay:
            raise RuntimeError(
                f"door {when}: state {self.controller.state}, relay pin {self.relay.state!r}; "
                f"expected {state}, relay {relay!r}"
            )

    def after_grant(self, accepted: bool) -> None:
        """Untimed: the grant must have moved the relay; then relock with the door's own API."""
        if not accepted:
            raise RuntimeError(f"the door refused a grant: {self.events[-1:]}")
        self._check(DoorState.UNLOCKED_FOR_GRANT, not self.locked_state, "after grant")
        self.grants += 1
        if self.grants % 2:  # the person walks through: relock on close
            contact = self.factory.pin(CONTACT)
            contact.drive_high()
            self._check(DoorState.OPEN, not self.locked_state, "with the door open")
            self.clock.advance(2.0)
            contact.drive_low()
            self.walk_throughs += 1
        else:  # nobody comes: the unlock time passes
            self.clock.advance(self.config.unlock_time_s)
            self.controller.tick()
            self.timeouts += 1
        self._check(DoorState.LOCKED, self.locked_state, "after relock")
        self.clock.advance(1.0)
        if len(self.events) > 10_000:
            self.events.clear()


def _percentiles(samples_ns: list[int]) -> dict[str, float]:
    if not samples_ns:
        return {"p50_us": 0.0, "p99_us": 0.0, "max_us": 0.0, "mean_us": 0.0, "n": 0}
    ordered = sorted(samples_ns)
    return {
        "p50_us": round(ordered[len(ordered) // 2] / 1000, 2),
        "p99_us": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000, 2),
        "max_us": round(ordered[-1] / 1000, 2),
        "mean_us": round(statistics.fmean(ordered) / 1000, 2),
        "n": len(ordered),
    }


Calls = list[tuple[Decision, str, dt.datetime]]


def _time_policy(calls: Calls, policy: Any, state: GateState) -> tuple[list[int], int]:
    samples: list[int] = []
    granted = 0
    clock = time.perf_counter_ns
    for verdict, door, now in calls:
        t0 = clock()
        decision = decide(AccessRequest.from_verdict(verdict, door), policy, state, now)
        samples.append(clock() - t0)
        granted += decision.granted
    return samples, granted


def _time_with_door(
    calls: Calls, policy: Any, state: GateState, door: BenchDoor | None
) -> dict[str, list[int]]:
    """Per call: policy, then for a grant the door (or ``DOOR_HOOK``) up to the relay."""
    hook = DOOR_HOOK
    total: list[int] = []
    to_relay: list[int] = []
    door_only: list[int] = []
    clock = time.perf_counter_ns
    for verdict, door_id, now in calls:
        t0 = clock()
        decision = decide(AccessRequest.from_verdict(verdict, door_id), policy, state, now)
        if hook is not None:
            t1 = clock()
            hook(decision)
            t2 = clock()
        elif decision.granted and door is not None:
            t1 = clock()
            accepted = door.controller.grant(decision.holder_id or "")
            t2 = clock()
            door.after_grant(accepted)  # untimed: relay changed, then relock
        else:
            total.append(clock() - t0)
            continue
        total.append(t2 - t0)
        if decision.granted:
            to_relay.append(t2 - t0)
            door_only.append(t2 - t1)
    return {"total": total, "to_relay": to_relay, "door": door_only}


def run(calls: int = CALLS, warmup: int = WARMUP) -> dict[str, Any]:
    rng = random.Random(SEED)
    doc = site_document(rng)
    payload = json.dumps(doc, ensure_ascii=False).encode()
    t0 = time.perf_counter()
    policy = compile_policy(parse_document(payload))
    load_s = time.perf_counter() - t0
    work = workload(rng, doc, calls)
    occupancy = {f"s{i}": f"b{i % BUILDINGS}-z0" for i in range(0, calls, 7)}
    door = BenchDoor() if DOOR_HOOK is None else None
    results: dict[str, Any] = {}
    for name, state in (
        ("normal", GateState(occupancy=occupancy)),
        ("level1", GateState(posture=Posture.LEVEL1, occupancy=occupancy)),
    ):
        _time_policy(work[:warmup], policy, state)
        policy_samples, granted = _time_policy(work, policy, state)
        _time_with_door(work[:warmup], policy, state, door)
        timed = _time_with_door(work, policy, state, door)
        results[name] = {
            "granted_share": round(granted / len(work), 3),
            "policy_only": _percentiles(policy_samples),
            "policy_plus_door": _percentiles(timed["total"]),
            "to_relay": _percentiles(timed["to_relay"]),
            "door_grant": _percentiles(timed["door"]),
        }
    worst = {
        figure: max(r[figure]["p99_us"] for r in results.values())
        for figure in ("policy_only", "policy_plus_door", "to_relay")
    }
    scope = (
        "policy plus door: decide() then DoorController.grant() to the relay pin change "
        "(MockFactory pins, fake clock)"
        if DOOR_HOOK is None
        else "policy plus DOOR_HOOK (the built-in door is not used)"
    )
    door_figures: dict[str, Any] = {"hook": "DOOR_HOOK"}
    if door is not None:
        door_figures = {
            "wiring": WIRING.describe(),
            "relay_pin": RELAY,
            "pin_factory": "gpiozero MockFactory (pin_factory=, not the global)",
            "grants_driven": door.grants,
            "relocked_on_close": door.walk_throughs,
            "relocked_on_unlock_time": door.timeouts,
        }
    return {
        "scope": scope,
        "policy": {
            "organizations": ORGS,
            "doors": len(doc["doors"]),
            "grants": GRANTS,
            "document_bytes": len(payload),
            "load_and_compile_ms": round(load_s * 1000, 1),
        },
        "door": door_figures,
        "calls": len(work),
        **results,
        "target_p99_us": TARGET_P99_US,
        "p99_over_target": {k: round(v / TARGET_P99_US, 4) for k, v in worst.items()},
        "targets": {f"{k}_p99_under_200us": v < TARGET_P99_US for k, v in worst.items()},
        "meets_target": worst["to_relay"] < TARGET_P99_US
        and worst["policy_plus_door"] < TARGET_P99_US,
    }
