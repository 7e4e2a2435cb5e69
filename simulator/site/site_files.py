"""The files a gate node needs, written for a scenario: signed policy, anchors, signer, configs.

The policy document is the site's intent written out (office hours, who sits
where, the duty roster) in the format of ``docs/policy.md``, signed with a
fresh key; the nodes load it through their ordinary config path.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.central.authority.service import Authority
from gateway.central.commands import operator_entry
from gateway.node.policy import sign_document
from simulator.site.scenario import Building, Scenario, gate_ids

PROFILE = "pi4-pn532-waveshare-relay"
DUTY_DESK = "duty-desk"  # the policy's operator id for the site's duty desk
DUTY_DESK_KEY = "duty-desk.pem"  # its private key, beside the signed policy
PASSAGE_PIN = 16  # free on that profile's board
UNLOCK_SECONDS = 5
HELD_OPEN_SECONDS = 30
POSTURE_DEFAULTS: dict[str, dict[str, Any]] = {
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
}


def lobby(building: str) -> str:
    return f"{building}-lobby"


def policy_document(
    scenario: Scenario,
    duty: list[tuple[str, str, str]],
    operators: dict[str, Any] | None = None,
) -> dict[str, Any]:
    meta, hours = scenario.scenario, scenario.hours
    doors: dict[str, Any] = {}
    for building in scenario.buildings:
        for gate in gate_ids(building):
            direction = "entry" if "-in-" in gate else "exit"
            doors[gate] = {"zone": lobby(building.id), "direction": direction}
    return {
        "version": 1,
        "site": meta.name,
        "issued_at": dt.datetime.combine(
            meta.date - dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone(dt.timedelta(hours=9))
        ).isoformat(),
        "extra_holidays": [meta.date.isoformat()] if meta.holiday else [],
        "schedules": {
            "office": {
                "windows": [
                    {
                        "days": list(hours.days),
                        "start": hours.start.strftime("%H:%M"),
                        "end": hours.end.strftime("%H:%M"),
                    }
                ]
            }
        },
        "buildings": {b.id: {"name": b.name or b.id} for b in scenario.buildings},
        "zones": {lobby(b.id): {"building": b.id} for b in scenario.buildings},
        "doors": doors,
        "organizations": {
            o.code: {"name": o.name, "home_buildings": o.home, "buildings": o.also}
            for o in scenario.organizations
        },
        "posture_defaults": POSTURE_DEFAULTS,
        "duty_roster": [
            {"holder_id": h, "date": meta.date.isoformat(), "kind": kind, "building": b}
            for h, kind, b in duty
        ],
        "operators": operators or {},
    }


def write_site(
    root: Path, scenario: Scenario, authority: Authority, duty: list[tuple[str, str, str]]
) -> dict[str, Path]:
    """Signed policy, its key, trust anchors and the status-list signer under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    files = {
        "policy": root / "policy.cose",
        "policy_signer_cert": root / "policy-signer.pem",
        "trust_anchors": root / "trust-anchors.pem",
        "status_list_signer_cert": root / "status-list-signer.pem",
    }
    files["policy_signer_cert"].write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    # The site's duty desk may unlock and relock any door (gateway demo's viewer signs with it).
    desk = ec.generate_private_key(ec.SECP256R1())
    desk_file = root / DUTY_DESK_KEY
    desk_file.write_bytes(
        desk.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    desk_file.chmod(0o600)
    operators = {
        DUTY_DESK: operator_entry(desk.public_key(), ["unlock", "relock"], name="종합상황실")
    }
    payload = json.dumps(policy_document(scenario, duty, operators), ensure_ascii=False).encode()
    files["policy"].write_bytes(sign_document(payload, key))
    files["trust_anchors"].write_bytes(authority.trust_anchor_pem())
    files["status_list_signer_cert"].write_bytes(authority.status_signer_pem())
    return files


def node_config(
    root: Path, site: str, building: Building, gate: str, nfc: str, files: dict[str, Path]
) -> Path:
    """One gate's node config, as an installer would write it."""
    speed_gate = building.mode == "speed-gate"
    paths = "\n".join(f'{name} = "{path}"' for name, path in files.items())
    text = f"""profile = "{PROFILE}"

[node]
site = "{site}"
node_id = "{gate}"
reader_id = "{gate}-r1"
pin_factory = "mock"

[readers]
nfc = "{nfc}"
ble = false

[door]
lock_type = "fail-secure"
lock_contact = "NO"
contact = "NC"
unlock_seconds = {UNLOCK_SECONDS}
held_open_seconds = {HELD_OPEN_SECONDS}
egress = true
mode = "{building.mode}"
{"[pins]" if speed_gate else ""}
{f"passage_sensor = {PASSAGE_PIN}" if speed_gate else ""}

[paths]
{paths}
"""
    path = root / f"{gate}.toml"
    path.write_text(text, encoding="utf-8")
    return path
