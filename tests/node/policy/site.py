"""A small site for the policy tests: two buildings of 정부세종청사, a week around 추석 2026."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from gateway.node.policy import AccessRequest, CompiledPolicy, compile_policy, parse_document

KST = dt.timezone(dt.timedelta(hours=9))

MOIS = "1741000"  # sits in b6
VISITOR_ORG = "1311000"  # sits in b5, may enter b6 in hours
SERVER_ORG = "9999999"  # may enter the restricted server room in b6

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]

SITE: dict[str, Any] = {
    "version": 7,
    "site": "sejong",
    "issued_at": "2026-09-01T00:00:00+09:00",
    "schedules": {
        "office": {"windows": [{"days": WEEKDAYS, "start": "09:00", "end": "18:00"}]},
        "night": {"windows": [{"days": WEEKDAYS, "start": "22:00", "end": "06:00"}]},
    },
    "buildings": {"b6": {"name": "6동"}, "b5": {"name": "5동"}},
    "zones": {
        "b6-lobby": {"building": "b6", "antipassback": "hard"},
        "b6-office": {
            "building": "b6",
            "parent": "b6-lobby",
            "antipassback": "soft",
            "postures": {"level2": {"org": "home_hours", "separate_pass_required": True}},
        },
        "b6-server": {"building": "b6", "parent": "b6-lobby", "restricted": True},
        "b5-lobby": {"building": "b5"},
        "b5-night": {"building": "b5", "schedule": "night"},
    },
    "doors": {
        "b6-in": {"zone": "b6-lobby", "direction": "entry"},
        "b6-out": {"zone": "b6-lobby", "direction": "exit"},
        "b6-office-in": {"zone": "b6-office", "direction": "entry"},
        "b6-office-out": {"zone": "b6-office", "direction": "exit"},
        "b6-server-in": {"zone": "b6-server", "direction": "entry"},
        "b5-in": {"zone": "b5-lobby", "direction": "entry"},
        "b5-out": {"zone": "b5-lobby", "direction": "exit"},
        "b5-night-in": {"zone": "b5-night", "direction": "entry"},
    },
    "organizations": {
        MOIS: {"name": "행정안전부", "home_buildings": ["b6"]},
        VISITOR_ORG: {"name": "방문기관", "home_buildings": ["b5"], "buildings": ["b6"]},
        SERVER_ORG: {"name": "전산팀", "zones": ["b6-server"]},
    },
    "posture_defaults": {
        "normal": {},
        "level4": {},
        "level3": {"org": "home_hours"},
        "level2": {"org": "home_hours"},
        "level1": {"org": "home_hours", "grants": False, "separate_passes": False},
        "lockdown": {
            "org": "none",
            "duty": False,
            "grants": False,
            "separate_passes": False,
            "roles": ["청사방호"],
        },
        "fire": {"entry": False},
    },
    "duty_roster": [
        {"holder_id": "duty-a", "date": "2026-09-23", "kind": "숙직", "building": "b6"},
        {"holder_id": "duty-b", "date": "2026-09-24", "kind": "일직", "building": "b6"},
    ],
    "grants": [
        {
            "id": "g-contractor",
            "holder_id": "h-contractor",
            "zones": ["b6-office"],
            "valid_from": "2026-09-01T00:00:00+09:00",
            "valid_until": "2026-10-01T00:00:00+09:00",
            "schedule": "office",
        },
        {
            "id": "p-1",
            "kind": "separate_pass",
            "holder_id": "h-pass",
            "credential_serial": "PASS-0001",
            "zones": ["b6-lobby", "b6-office"],
            "valid_from": "2026-09-20T00:00:00+09:00",
            "valid_until": "2026-09-30T00:00:00+09:00",
        },
    ],
}


def site(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(SITE)
    doc.update(changes)
    return doc


def compiled(doc: dict[str, Any] | None = None) -> CompiledPolicy:
    import json

    return compile_policy(parse_document(json.dumps(doc or SITE).encode()))


def at(text: str) -> dt.datetime:
    """'2026-09-23 18:00' in Korea."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=KST)


def person(
    holder: str,
    door: str,
    *,
    org: str | None = None,
    serial: str | None = None,
    position: str | None = None,
) -> AccessRequest:
    return AccessRequest(
        door=door,
        holder_id=holder,
        credential_serial=serial or f"S-{holder}",
        organization_code=org,
        position=position,
    )
