"""Table tests: one row per rule kind and posture level, at the boundary minutes."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.credentials.decision import CredentialKind, Decision, DenialReason
from gateway.node.policy import AccessRequest, GateState, Posture, decide
from gateway.node.policy.document import Direction
from tests.node.policy.site import MOIS, SERVER_ORG, VISITOR_ORG, at, compiled, person, site

POLICY = compiled()
NORMAL = GateState()

mois = person("h-mois", "b6-in", org=MOIS)
visitor = person("h-visitor", "b6-in", org=VISITOR_ORG)
duty_a = person("duty-a", "b6-in")
duty_b = person("duty-b", "b6-in")
contractor = person("h-contractor", "b6-office-in")
pass_holder = person("h-pass", "b6-in", serial="PASS-0001")
guard = person("h-guard", "b6-in", position="청사방호")

# 2026-09-23 is a Wednesday, the eve of the 추석 holidays (09-24 Thu to 09-26 Sat).
ROWS = [
    # organizations, within office hours, boundaries
    ("org 09:00 weekday", mois, NORMAL, "2026-09-22 09:00", True, "org_hours:b6"),
    ("org 08:59 weekday", mois, NORMAL, "2026-09-22 08:59", False, "default_deny"),
    ("org 17:59 holiday eve", mois, NORMAL, "2026-09-23 17:59", True, "org_hours:b6"),
    ("org 18:00 holiday eve", mois, NORMAL, "2026-09-23 18:00", False, "default_deny"),
    ("org midnight", mois, NORMAL, "2026-09-23 00:00", False, "default_deny"),
    ("org 추석 전날", mois, NORMAL, "2026-09-24 10:00", False, "default_deny"),
    ("org 대체공휴일 광복절", mois, NORMAL, "2026-08-17 10:00", False, "default_deny"),
    ("org day after substitute", mois, NORMAL, "2026-08-18 10:00", True, "org_hours:b6"),
    ("org Saturday", mois, NORMAL, "2026-09-19 10:00", False, "default_deny"),
    ("visiting org", visitor, NORMAL, "2026-09-22 10:00", True, "org_hours:b6"),
    (
        "unknown org",
        person("x", "b6-in", org="0000000"),
        NORMAL,
        "2026-09-22 10:00",
        False,
        "default_deny",
    ),
    (
        "restricted zone, building org",
        person("h-mois", "b6-server-in", org=MOIS),
        NORMAL,
        "2026-09-22 10:00",
        False,
        "default_deny",
    ),
    (
        "restricted zone, named org",
        person("h-it", "b6-server-in", org=SERVER_ORG),
        NORMAL,
        "2026-09-22 10:00",
        True,
        "org_hours:b6",
    ),
    # a schedule crossing midnight (weekday nights 22:00-06:00 at b5-night)
    (
        "night Fri 23:59",
        person("v", "b5-night-in", org=VISITOR_ORG),
        NORMAL,
        "2026-09-18 23:59",
        True,
        "org_hours:b5",
    ),
    (
        "night Sat 00:00 spills",
        person("v", "b5-night-in", org=VISITOR_ORG),
        NORMAL,
        "2026-09-19 00:00",
        True,
        "org_hours:b5",
    ),
    (
        "night Sat 05:59 spills",
        person("v", "b5-night-in", org=VISITOR_ORG),
        NORMAL,
        "2026-09-19 05:59",
        True,
        "org_hours:b5",
    ),
    (
        "night Sat 06:00 closed",
        person("v", "b5-night-in", org=VISITOR_ORG),
        NORMAL,
        "2026-09-19 06:00",
        False,
        "default_deny",
    ),
    (
        "night holiday eve spills into 추석 전날",
        person("v", "b5-night-in", org=VISITOR_ORG),
        NORMAL,
        "2026-09-24 00:30",
        True,
        "org_hours:b5",
    ),
    (
        "night on holiday closed",
        person("v", "b5-night-in", org=VISITOR_ORG),
        NORMAL,
        "2026-09-24 22:00",
        False,
        "default_deny",
    ),
    (
        "night after holiday no spill",
        person("v", "b5-night-in", org=VISITOR_ORG),
        NORMAL,
        "2026-09-25 00:30",
        False,
        "default_deny",
    ),
    # 숙직 from 09-23 18:00 to 09-24 09:00; 일직 on 09-24 09:00-18:00
    ("숙직 17:59", duty_a, NORMAL, "2026-09-23 17:59", False, "default_deny"),
    ("숙직 18:00", duty_a, NORMAL, "2026-09-23 18:00", True, "duty:숙직"),
    ("숙직 midnight", duty_a, NORMAL, "2026-09-24 00:00", True, "duty:숙직"),
    ("숙직 08:59 next day", duty_a, NORMAL, "2026-09-24 08:59", True, "duty:숙직"),
    ("숙직 09:00 next day", duty_a, NORMAL, "2026-09-24 09:00", False, "default_deny"),
    (
        "숙직 other building",
        person("duty-a", "b5-in"),
        NORMAL,
        "2026-09-23 20:00",
        False,
        "default_deny",
    ),
    ("일직 08:59", duty_b, NORMAL, "2026-09-24 08:59", False, "default_deny"),
    ("일직 09:00", duty_b, NORMAL, "2026-09-24 09:00", True, "duty:일직"),
    ("일직 17:59", duty_b, NORMAL, "2026-09-24 17:59", True, "duty:일직"),
    ("일직 18:00", duty_b, NORMAL, "2026-09-24 18:00", False, "default_deny"),
    # per-person grants and separate passes
    ("grant in hours", contractor, NORMAL, "2026-09-22 10:00", True, "person:g-contractor"),
    ("grant out of its schedule", contractor, NORMAL, "2026-09-22 20:00", False, "default_deny"),
    (
        "grant other zone",
        person("h-contractor", "b6-in"),
        NORMAL,
        "2026-09-22 10:00",
        False,
        "default_deny",
    ),
    ("grant expired", contractor, NORMAL, "2026-10-01 10:00", False, "default_deny"),
    (
        "separate pass, holiday night",
        pass_holder,
        NORMAL,
        "2026-09-26 03:00",
        True,
        "separate_pass:p-1",
    ),
    (
        "separate pass, wrong serial",
        person("h-pass", "b6-in"),
        NORMAL,
        "2026-09-26 03:00",
        False,
        "default_deny",
    ),
    (
        "separate pass, before validity",
        pass_holder,
        NORMAL,
        "2026-09-19 23:59",
        False,
        "default_deny",
    ),
]

LEVEL = {p: GateState(posture=p) for p in Posture}
POSTURE_ROWS = [
    ("제4호 visitor", visitor, LEVEL[Posture.LEVEL4], "2026-09-22 10:00", True, "org_hours:b6"),
    ("제3호 visitor", visitor, LEVEL[Posture.LEVEL3], "2026-09-22 10:00", False, "posture:level3"),
    ("제3호 own staff", mois, LEVEL[Posture.LEVEL3], "2026-09-22 10:00", True, "org_hours:b6"),
    (
        "제2호 office needs a pass",
        person("h-mois", "b6-office-in", org=MOIS),
        LEVEL[Posture.LEVEL2],
        "2026-09-22 10:00",
        False,
        "posture:level2",
    ),
    (
        "제2호 office with a pass",
        person("h-pass", "b6-office-in", serial="PASS-0001"),
        LEVEL[Posture.LEVEL2],
        "2026-09-22 10:00",
        True,
        "separate_pass:p-1",
    ),
    ("제1호 own staff", mois, LEVEL[Posture.LEVEL1], "2026-09-22 10:00", True, "org_hours:b6"),
    ("제1호 visitor", visitor, LEVEL[Posture.LEVEL1], "2026-09-22 10:00", False, "posture:level1"),
    ("제1호 duty", duty_a, LEVEL[Posture.LEVEL1], "2026-09-23 23:00", True, "duty:숙직"),
    (
        "제1호 person grant",
        contractor,
        LEVEL[Posture.LEVEL1],
        "2026-09-22 10:00",
        False,
        "posture:level1",
    ),
    (
        "lockdown staff",
        mois,
        LEVEL[Posture.LOCKDOWN],
        "2026-09-22 10:00",
        False,
        "posture:lockdown",
    ),
    (
        "lockdown listed role",
        guard,
        LEVEL[Posture.LOCKDOWN],
        "2026-09-22 03:00",
        True,
        "role:청사방호",
    ),
    (
        "lockdown exit",
        person("h-mois", "b6-out", org=MOIS),
        LEVEL[Posture.LOCKDOWN],
        "2026-09-22 10:00",
        True,
        "exit:free",
    ),
    ("fire entry", mois, LEVEL[Posture.FIRE], "2026-09-22 10:00", False, "posture:fire"),
    (
        "fire entry, stranger",
        person("x", "b6-in"),
        LEVEL[Posture.FIRE],
        "2026-09-22 10:00",
        False,
        "posture:fire",
    ),
    (
        "fire exit",
        person("x", "b6-out"),
        LEVEL[Posture.FIRE],
        "2026-09-22 03:00",
        True,
        "posture:fire",
    ),
    (
        "fire in b5 only",
        mois,
        GateState(building_postures={"b5": Posture.FIRE}),
        "2026-09-22 10:00",
        True,
        "org_hours:b6",
    ),
]


@pytest.mark.parametrize(
    ("request_", "state", "when", "granted", "rule"),
    [pytest.param(*row[1:], id=row[0]) for row in ROWS + POSTURE_ROWS],
)
def test_table(
    request_: AccessRequest, state: GateState, when: str, granted: bool, rule: str
) -> None:
    decision = decide(request_, POLICY, state, at(when))
    assert (decision.granted, decision.rule) == (granted, rule), decision.detail
    assert decision.detail


def test_alarms_on_posture_denials() -> None:
    assert decide(mois, POLICY, LEVEL[Posture.FIRE], at("2026-09-22 10:00")).alarms == (
        "fire_entry_attempt",
    )
    assert decide(mois, POLICY, LEVEL[Posture.LOCKDOWN], at("2026-09-22 10:00")).alarms == (
        "lockdown_attempt",
    )


def test_posture_denial_names_the_normal_rule() -> None:
    decision = decide(visitor, POLICY, LEVEL[Posture.LEVEL1], at("2026-09-22 10:00"))
    assert "normally granted by org_hours:b6" in decision.detail


def test_antipassback_hard_denies_a_second_entry() -> None:
    inside = GateState(occupancy={"h-mois": "b6-lobby"})
    decision = decide(mois, POLICY, inside, at("2026-09-22 10:00"))
    assert (decision.granted, decision.rule, decision.alarms) == (
        False,
        "antipassback:hard",
        ("antipassback",),
    )


def test_antipassback_soft_grants_with_an_alarm() -> None:
    inside = GateState(occupancy={"h-mois": "b6-office"})
    request = person("h-mois", "b6-office-in", org=MOIS)
    decision = decide(request, POLICY, inside, at("2026-09-22 10:00"))
    assert (decision.granted, decision.rule, decision.alarms) == (
        True,
        "org_hours:b6",
        ("antipassback",),
    )


def test_antipassback_exit_never_holds_anyone_in() -> None:
    elsewhere = GateState(occupancy={"h-mois": "b5-lobby"})
    decision = decide(person("h-mois", "b6-out"), POLICY, elsewhere, at("2026-09-22 10:00"))
    assert (decision.granted, decision.rule, decision.alarms) == (
        True,
        "exit:free",
        ("antipassback",),
    )


def test_state_follows_passages() -> None:
    now = at("2026-09-22 10:00")
    state = GateState()
    entered = decide(mois, POLICY, state, now)
    state = state.after(entered, POLICY)
    assert state.occupancy == {"h-mois": "b6-lobby"}
    office = decide(person("h-mois", "b6-office-in", org=MOIS), POLICY, state, now)
    state = state.after(office, POLICY)
    assert state.occupancy == {"h-mois": "b6-office"}
    left = decide(person("h-mois", "b6-office-out"), POLICY, state, now)
    state = state.after(left, POLICY)
    assert state.occupancy == {"h-mois": "b6-lobby"}
    state = state.after(decide(person("h-mois", "b6-out"), POLICY, state, now), POLICY)
    assert state.occupancy == {}
    denied = decide(person("x", "b6-in"), POLICY, state, now)
    assert state.after(denied, POLICY) is state
    assert entered.direction is Direction.ENTRY


def test_refused_credential_and_unknown_door() -> None:
    verdict = Decision(
        granted=False,
        kind=CredentialKind.MOBILE,
        reason=DenialReason.REVOKED,
        claims={"holder_id": "h-mois", "organization_code": MOIS},
    )
    request = AccessRequest.from_verdict(verdict, "b6-in")
    decision = decide(request, POLICY, NORMAL, at("2026-09-22 10:00"))
    assert (decision.granted, decision.rule) == (False, "credential:revoked")
    unknown = decide(person("h-mois", "nowhere", org=MOIS), POLICY, NORMAL, at("2026-09-22 10:00"))
    assert (unknown.granted, unknown.rule) == (False, "unknown_door")
    no_id = AccessRequest(door="b6-in", holder_id=None, organization_code=MOIS)
    assert decide(no_id, POLICY, NORMAL, at("2026-09-22 10:00")).rule == "credential:no_holder_id"


def test_from_verdict_reads_the_claims() -> None:
    verdict = Decision(
        granted=True,
        kind=CredentialKind.MOBILE,
        claims={
            "holder_id": "h-mois",
            "credential_serial": "S-1",
            "organization_code": MOIS,
            "position": "주무관",
        },
    )
    request = AccessRequest.from_verdict(verdict, "b6-in")
    assert (request.holder_id, request.credential_serial, request.organization_code) == (
        "h-mois",
        "S-1",
        MOIS,
    )
    decision = decide(request, POLICY, NORMAL, at("2026-09-22 10:00"))
    assert decision.granted
    assert decision.kind == "org_hours"


def test_time_zone_is_korean_wall_clock() -> None:
    utc = dt.datetime(2026, 9, 22, 0, 0, tzinfo=dt.UTC)  # 09:00 KST
    assert decide(mois, POLICY, NORMAL, utc).granted
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(mois, POLICY, NORMAL, dt.datetime(2026, 9, 22, 10, 0))


def test_a_zone_override_changes_only_the_keys_it_names() -> None:
    doc = site()
    doc["zones"]["b6-office"]["postures"] = {"fire": {"exit": "rules"}, "level3": {"duty": False}}
    policy = compiled(doc)
    office = policy.doors["b6-office-in"].zone
    assert office.effects[Posture.FIRE].entry is False  # from the site's fire default
    assert office.effects[Posture.FIRE].exit == "rules"
    assert office.effects[Posture.LEVEL3].org == "home_hours"  # from the site's level3
    assert office.effects[Posture.LEVEL3].duty is False
    staff = person("h-mois", "b6-office-in", org=MOIS)
    decision = decide(staff, policy, LEVEL[Posture.FIRE], at("2026-09-22 10:00"))
    assert (decision.granted, decision.rule) == (False, "posture:fire")


def test_fire_denies_entry_even_where_a_zone_says_entry_is_open() -> None:
    doc = site()
    doc["zones"]["b6-office"]["postures"] = {"fire": {"entry": True}}
    staff = person("h-mois", "b6-office-in", org=MOIS)
    decision = decide(staff, compiled(doc), LEVEL[Posture.FIRE], at("2026-09-22 10:00"))
    assert (decision.granted, decision.rule, decision.alarms) == (
        False,
        "posture:fire",
        ("fire_entry_attempt",),
    )
