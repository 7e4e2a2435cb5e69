"""Property tests: default deny holds under every posture, schedule and state."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from gateway.node.policy import GateState, Posture, decide
from gateway.node.policy.document import Direction, DutyKind, ZoneEffect
from tests.node.policy.site import KST, SITE, compiled, person, site

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday"]
BUILDINGS = list(SITE["buildings"])
ZONES = list(SITE["zones"])
DOORS = list(SITE["doors"])
ROLES = ["청사방호", "소방"]


@st.composite
def times(draw: st.DrawFn) -> str:
    hour, minute = draw(st.integers(0, 23)), draw(st.integers(0, 59))
    return f"{hour:02d}:{minute:02d}"


@st.composite
def windows(draw: st.DrawFn) -> dict[str, Any]:
    start, end = draw(times()), draw(times())
    if start == end:
        end = "24:00"
    days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=8, unique=True))
    return {"days": days, "start": start, "end": end}


@st.composite
def effects(draw: st.DrawFn) -> dict[str, Any]:
    likely = st.sampled_from([True, True, True, False])
    passes = draw(likely)
    return {
        "entry": draw(likely),
        "org": draw(st.sampled_from(["hours", "home_hours", "home_anytime", "none"])),
        "duty": draw(likely),
        "grants": draw(likely),
        "separate_passes": passes,
        "separate_pass_required": passes and not draw(likely),
        "roles": draw(st.lists(st.sampled_from(ROLES), unique=True)),
        "exit": draw(st.sampled_from(["free", "rules"])),
    }


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    doc = site()
    for name in doc["schedules"]:
        always = {"days": DAYS, "start": "00:00", "end": "24:00"}
        extra = [always] if draw(st.booleans()) else []
        doc["schedules"][name] = {"windows": draw(st.lists(windows(), max_size=3)) + extra}
    doc["posture_defaults"] = {p.value: draw(effects()) for p in Posture}
    for zone in doc["zones"].values():
        zone["postures"] = draw(
            st.dictionaries(st.sampled_from([p.value for p in Posture]), effects(), max_size=3)
        )
    return doc


states = st.builds(
    GateState,
    posture=st.sampled_from(list(Posture)),
    building_postures=st.dictionaries(st.sampled_from(BUILDINGS), st.sampled_from(list(Posture))),
    occupancy=st.dictionaries(st.sampled_from(["h-stranger", "duty-a"]), st.sampled_from(ZONES)),
)
moments = st.datetimes(
    min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2030, 12, 31, 23, 59)
).map(lambda d: d.replace(second=0, microsecond=0, tzinfo=KST))
EGRESS = {"exit:free", "posture:fire"}


@settings(max_examples=200, deadline=None)
@given(
    doc=policies(),
    state=states,
    now=moments,
    door=st.sampled_from(DOORS),
    org=st.sampled_from([None, "0000000"]),
    position=st.sampled_from([None, "주무관"]),
)
def test_no_rule_no_entry(
    doc: dict[str, Any],
    state: GateState,
    now: dt.datetime,
    door: str,
    org: str | None,
    position: str | None,
) -> None:
    """A person no organization, roster entry, grant, pass or role names is never let in."""
    policy = compiled(doc)
    request = person("h-stranger", door, org=org, position=position)
    decision = decide(request, policy, state, now)
    event(decision.rule)
    if decision.granted:
        assert policy.doors[door].direction is Direction.EXIT
        assert decision.rule in EGRESS, decision
    else:
        assert decision.rule in {"default_deny"} or decision.rule.startswith("posture:")


SUKJIK_START = dt.datetime(2026, 9, 23, 18, 0, tzinfo=KST)
SUKJIK_END = dt.datetime(2026, 9, 24, 9, 0, tzinfo=KST)


@settings(max_examples=200, deadline=None)
@given(
    now=st.datetimes(min_value=dt.datetime(2026, 9, 22), max_value=dt.datetime(2026, 9, 26)).map(
        lambda d: d.replace(second=0, microsecond=0, tzinfo=KST)
    ),
    posture=st.sampled_from([Posture.NORMAL, Posture.LEVEL4, Posture.LEVEL1]),
)
def test_duty_opens_exactly_its_shift(now: dt.datetime, posture: Posture) -> None:
    """숙직 on 09-23 opens b6 from 18:00 to 09:00 the next day, not a minute more."""
    policy = compiled()
    decision = decide(person("duty-a", "b6-in"), policy, GateState(posture=posture), now)
    assert decision.granted == (SUKJIK_START <= now < SUKJIK_END), decision
    if decision.granted:
        assert decision.rule == f"duty:{DutyKind.SUKJIK}"


# Each fixture person and the rule kinds that name them (their only ways in).
NAMED = {
    "h-mois": ({"org_hours", "org_anytime"}, {"org": "1741000"}),
    "h-visitor": ({"org_hours", "org_anytime"}, {"org": "1311000"}),
    "duty-a": ({"duty"}, {}),
    "duty-b": ({"duty"}, {}),
    "h-contractor": ({"person"}, {}),
    "h-pass": ({"separate_pass"}, {"serial": "PASS-0001"}),
    "h-guard": ({"role"}, {"position": "청사방호"}),
}


def _permitted(kind: str, effect: ZoneEffect, position: str | None) -> bool:
    """Whether the posture's effect lets a rule of ``kind`` grant entry at all."""
    if not effect.entry:
        return False
    if effect.separate_pass_required:
        return kind == "separate_pass"
    return {
        "org_hours": effect.org in {"hours", "home_hours"},
        "org_anytime": effect.org == "home_anytime",
        "duty": effect.duty,
        "person": effect.grants,
        "separate_pass": effect.separate_passes,
        "role": position in effect.roles,
    }[kind]


@settings(max_examples=200, deadline=None)
@given(
    doc=policies(),
    state=states,
    now=st.datetimes(min_value=dt.datetime(2026, 9, 18), max_value=dt.datetime(2026, 9, 30)).map(
        lambda d: d.replace(second=0, microsecond=0, tzinfo=KST)
    ),
    door=st.sampled_from([d for d, v in SITE["doors"].items() if v["direction"] == "entry"]),
    who=st.sampled_from(sorted(NAMED)),
)
def test_entry_only_by_a_rule_naming_the_person_that_the_posture_permits(
    doc: dict[str, Any], state: GateState, now: dt.datetime, door: str, who: str
) -> None:
    policy = compiled(doc)
    kinds, extra = NAMED[who]
    request = person(who, door, **extra)
    decision = decide(request, policy, state, now)
    event(f"granted: {decision.kind}" if decision.granted else "denied")
    if not decision.granted:
        return
    zone = policy.doors[door].zone
    effect = zone.effects[state.posture_for(zone.building)]
    assert decision.kind in kinds, decision
    assert _permitted(decision.kind, effect, request.position), (decision, effect)
