"""The document model's checks and the signed envelope: signature, content type, version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.credentials import cose
from gateway.node.policy import (
    InstalledPolicy,
    PolicyError,
    load_signed,
    load_signed_file,
    parse_document,
    policy_warnings,
    sign_document,
)
from tests.node.policy.site import site

KEY = ec.generate_private_key(ec.SECP256R1())
OTHER = ec.generate_private_key(ec.SECP256R1())


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


def _invalid(doc: dict[str, Any]) -> str:
    with pytest.raises(PolicyError) as caught:
        parse_document(_json(doc))
    return str(caught.value)


def test_the_fixture_is_valid() -> None:
    doc = parse_document(_json(site()))
    assert doc.version == 7
    assert doc.zones["b6-office"].parent == "b6-lobby"


def test_unknown_keys_are_refused_with_their_path() -> None:
    doc = site()
    doc["zones"]["b6-lobby"]["antipasback"] = "hard"
    message = _invalid(doc)
    assert "zones.b6-lobby.antipasback" in message
    assert "Extra inputs are not permitted" in message


def test_dangling_references_name_their_key_path() -> None:
    doc = site()
    doc["doors"]["b6-in"]["zone"] = "b6-lobbby"
    doc["grants"][0]["zones"] = ["b7-office"]
    doc["duty_roster"][0]["building"] = "b9"
    message = _invalid(doc)
    assert "doors.b6-in.zone: unknown zone 'b6-lobbby'" in message
    assert "grants.0.zones.0: unknown zone 'b7-office'" in message
    assert "duty_roster.0.building: unknown building 'b9' (known: b5, b6)" in message


def test_every_posture_needs_a_default_effect() -> None:
    doc = site()
    del doc["posture_defaults"]["level2"]
    assert "posture_defaults: add an effect for level2" in _invalid(doc)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"valid_until": "2026-08-01T00:00:00+09:00"}, "valid_until must be after valid_from"),
        ({"holder_id": None, "credential_serial": None}, "give holder_id or credential_serial"),
        ({"valid_from": "2026-09-01T00:00:00"}, "timezone info"),
        ({"zones": []}, "at least 1 item"),
    ],
)
def test_bad_grants(change: dict[str, Any], message: str) -> None:
    doc = site()
    doc["grants"][0].update(change)
    assert message in _invalid(doc)


def test_duplicate_grant_ids_and_bad_effects() -> None:
    doc = site()
    doc["grants"][1]["id"] = "g-contractor"
    assert "grants.1.id: 'g-contractor' is used twice" in _invalid(doc)
    doc = site()
    doc["posture_defaults"]["level1"] = {"separate_pass_required": True, "separate_passes": False}
    assert "separate_pass_required needs separate_passes: true" in _invalid(doc)
    doc = site(duty_hours={"day_start": "18:00", "day_end": "09:00"})
    assert "day_end must be after day_start" in _invalid(doc)


def test_not_json() -> None:
    with pytest.raises(PolicyError, match="policy document is invalid"):
        parse_document(b"version = 3")


def test_signed_round_trip(tmp_path: Path) -> None:
    data = sign_document(_json(site()), KEY, kid=b"policy-1")
    loaded = load_signed(data, KEY.public_key())
    assert loaded.document.version == 7
    assert loaded.installed.version == 7
    path = tmp_path / "policy.cose"
    path.write_bytes(data)
    assert load_signed_file(path, KEY.public_key()).installed == loaded.installed


def test_wrong_key_and_tampering_are_refused(tmp_path: Path) -> None:
    data = sign_document(_json(site()), KEY)
    with pytest.raises(PolicyError, match="does not verify"):
        load_signed(data, OTHER.public_key())
    tampered = data.replace(b'"version": 7', b'"version": 8')
    assert tampered != data
    with pytest.raises(PolicyError, match="does not verify"):
        load_signed(tampered, KEY.public_key())
    path = tmp_path / "p.cose"
    path.write_bytes(b"{}")
    with pytest.raises(PolicyError, match=r"p\.cose: not a signed policy document"):
        load_signed_file(path, KEY.public_key())


def test_content_type_is_covered_and_required() -> None:
    message = cose.sign1(KEY, _json(site()), protected={cose.HEADER_CONTENT_TYPE: "text/plain"})
    with pytest.raises(PolicyError, match="content type"):
        load_signed(message.encode(tagged=True), KEY.public_key())


def test_versions_only_move_forward() -> None:
    v7 = load_signed(sign_document(_json(site()), KEY), KEY.public_key())
    v8 = load_signed(sign_document(_json(site(version=8)), KEY), KEY.public_key(), v7.installed)
    assert v8.installed.version == 8
    with pytest.raises(PolicyError, match="older than the installed 8: refusing a rollback"):
        load_signed(sign_document(_json(site()), KEY), KEY.public_key(), v8.installed)
    # a restart reloading its own file is fine; other content under the same number is not
    again = load_signed(sign_document(_json(site()), KEY), KEY.public_key(), v7.installed)
    assert again.installed == v7.installed
    changed = site(site="gwacheon")
    with pytest.raises(PolicyError, match="needs a higher version"):
        load_signed(sign_document(_json(changed), KEY), KEY.public_key(), v7.installed)


def test_installed_policy_is_comparable() -> None:
    assert InstalledPolicy(1, b"x") == InstalledPolicy(1, b"x")


def test_warnings_for_a_valid_but_doubtful_document() -> None:
    doc = site()
    doc["duty_roster"].append(
        {"holder_id": "d", "date": "2026-09-22", "kind": "일직", "building": "b6"}
    )
    doc["duty_roster"].append(
        {"holder_id": "d", "date": "2031-01-04", "kind": "숙직", "building": "b6"}
    )
    doc["grants"][0]["valid_until"] = "2026-08-31T00:00:00+09:00"
    doc["grants"][0]["valid_from"] = "2026-08-01T00:00:00+09:00"
    doc["zones"]["b5-annex"] = {"building": "b5"}
    warnings = policy_warnings(parse_document(_json(doc)))
    assert warnings == [
        "duty_roster.2: 일직 on 2026-09-22, a working day "
        "(일직 is for Saturdays and holidays; did you mean 숙직?)",
        "duty_roster.3.date: no holiday data for 2031; "
        "only Sundays and extra_holidays count as holidays that year",
        "grants.0 (g-contractor): expired before the document was issued",
        "zones.b5-annex: no door leads into it",
    ]
    assert policy_warnings(parse_document(_json(site()))) == []


def test_staleness_defaults_to_deny_after_a_day_and_a_zone_may_override() -> None:
    doc_json = site(staleness={"max_age_s": 3600, "on_stale": "deny"})
    doc_json["zones"]["b6-lobby"]["staleness"] = {"max_age_s": 600, "on_stale": "last_known"}
    doc = parse_document(_json(doc_json))
    assert doc.staleness_for("b6-lobby").on_stale == "last_known"
    assert doc.staleness_for("b6-lobby").max_age_s == 600
    assert doc.staleness_for("b6-server").max_age_s == 3600
    assert parse_document(_json(site())).staleness_for("b6-lobby").max_age_s == 86400


def test_staleness_below_a_minute_is_refused() -> None:
    assert "max_age_s" in _invalid(site(staleness={"max_age_s": 5}))


def test_an_operator_naming_an_unknown_door_is_refused() -> None:
    operator = {"public_key": "A" * 91, "actions": ["unlock"], "doors": ["nowhere"]}
    message = _invalid(site(operators={"soc-1": operator}))
    assert "operators.soc-1.doors.0" in message
    assert "nowhere" in message


def test_an_operator_needs_at_least_one_action() -> None:
    assert "actions" in _invalid(site(operators={"soc-1": {"public_key": "A" * 91, "actions": []}}))
