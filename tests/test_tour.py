"""`gateway tour` end to end: every beat as expected, the kept DB auditable, taps re-checkable."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner, Result
from cryptography import x509

from gateway.central.authority.service import Authority
from gateway.cli.main import cli
from gateway.credentials.status_signer import status_signer_key
from gateway.credentials.trust import UntrustedIssuer
from gateway.tour import DEFAULT_START

HEADER = "직원번호,성명,외국인,소속,기관코드,직급,대외직명,발급기관전화,사진\n"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The command configures logging onto CliRunner's stderr; undo that afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def tour_json(*args: str) -> dict[str, Any]:
    result = run("tour", "--json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["tour", "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    structlog.reset_defaults()
    return data


def beat(report: dict[str, Any], title: str) -> dict[str, Any]:
    (found,) = [b for b in report["beats"] if b["title"] == title]
    return found


def test_every_beat_matches_and_ok(report: dict[str, Any]) -> None:
    assert report["ok"] is True
    mismatched = [b for b in report["beats"] if b["expected"] != b["actual"] or not b["matched"]]
    assert mismatched == []
    counts = report["counts"]
    assert counts["matched"] == counts["beats"] == len(report["beats"]) >= 18
    assert counts["mismatched"] == 0
    assert counts["granted"] >= 5
    assert counts["denied"] >= 9
    assert report["started_at"] == DEFAULT_START.isoformat()
    assert report["reader_id"] == "sejong-6-gate-1"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("phone at the morning peak", "granted"),
        ("chip card, challenge–response", "granted"),
        ("lost phone, found by someone else", "revoked"),
        ("reissued: the old phone", "revoked"),
        ("reissued: the new phone", "granted"),
        ("on leave (rule 61 ②)", "suspended"),
        ("reinstated", "granted"),
        ("cloned card, skimmed answer", "device_auth_failed"),
        ("recorded session replayed", "device_auth_failed"),
        ("organization_code → 1760000", "digest_mismatch"),
        ("mdoc from an unknown IACA", "untrusted_issuer"),
        ("status list past its ttl", "stale_status"),
        ("fresh status list again", "granted"),
        ("retired (rule 61 ①)", "revoked"),
        ("lost phone after the rollback try", "revoked"),
    ],
)
def test_specific_beats(report: dict[str, Any], title: str, expected: str) -> None:
    found = beat(report, title)
    assert found["expected"] == expected
    assert found["actual"] == expected
    assert found["decision"] == ("granted" if expected == "granted" else "denied")
    assert found["reason"] == (None if expected == "granted" else expected)
    assert found["cpu_us"] > 0


def test_lost_phone_is_the_same_credential_that_was_granted(report: dict[str, Any]) -> None:
    before = beat(report, "phone")
    lost = beat(report, "lost phone, found by someone else")
    new = beat(report, "reissued: the new phone")
    assert before["holder_id"] == lost["holder_id"] == new["holder_id"] == "17410487"
    assert before["serial"] == lost["serial"] != new["serial"]
    assert lost["detail"] == "status list says INVALID"
    assert lost["status_token"] is None  # nothing kept without --dir


def test_rollback_is_refused(report: dict[str, Any]) -> None:
    found = beat(report, "rollback to status list v1")
    assert (found["expected"], found["actual"]) == ("refused", "refused")
    assert found["reason"] == "rollback"
    assert "not newer" in found["detail"]
    assert found["cpu_us"] is None


def test_stale_beat_is_past_the_ttl(report: dict[str, Any]) -> None:
    stale = beat(report, "status list past its ttl")
    earlier = report["beats"][: stale["number"] - 1]
    last_publish = [b for b in earlier if any("published" in e for e in b["events"])][-1]
    gap = dt.datetime.fromisoformat(stale["at"]) - dt.datetime.fromisoformat(last_publish["at"])
    assert gap > dt.timedelta(seconds=300)  # the authority's default ttl
    assert any("ttl 300 s" in event for event in stale["events"])


def test_table_output_and_quiet_stderr() -> None:
    result = run("tour")
    assert result.exit_code == 0, result.output
    assert "beats as expected" in result.stdout
    assert "device_auth_failed" in result.stdout
    assert "OK" in result.stdout
    assert result.stderr == ""  # WARNING+ only, and nothing went wrong


def test_log_level_info_goes_to_stderr_as_json() -> None:
    result = run("tour", "--json", "--log-level", "INFO")
    assert result.exit_code == 0
    json.loads(result.stdout)  # stdout stays pure JSON
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert any(line.get("event") == "tour.beat" for line in lines)


def test_dir_keeps_an_auditable_db(tmp_path: Path) -> None:
    kept = tmp_path / "tour"
    data = tour_json("--dir", str(kept))
    assert data["dir"] == str(kept)
    db = kept / "authority.db"
    result = run("authority", "audit", str(db), "--json")
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)
    by_action: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_action.setdefault(entry["action"], []).append(entry)
    for action in ("lost", "suspend", "resume", "retire", "reissue"):
        assert by_action.get(action), f"no {action} in the audit log"
        for entry in by_action[action]:
            assert entry["actor"].startswith("tour/")
            assert entry["reason"]
    assert by_action["lost"][0]["holder_id"] == "17410487"
    assert by_action["retire"][0]["holder_id"] == "10510077"
    assert len(by_action["publish"]) == 7
    listing = run("authority", "list", str(db), "--json")
    assert listing.exit_code == 0
    states = {h["holder_id"]: h["state"] for h in json.loads(listing.stdout)["holders"]}
    assert states["10510077"] == "retired"
    assert states["17600118"] == "active"


def test_kept_taps_verify_again_offline(tmp_path: Path) -> None:
    """Every kept tap of our own issuer gets the same decision from `credential verify`."""
    kept = tmp_path / "tour"
    data = tour_json("--dir", str(kept))
    checked = 0
    for b in data["beats"]:
        if b["saved"] is None or b["actual"] == "untrusted_issuer":
            continue
        args = [
            "credential",
            "verify",
            str(kept / b["saved"]),
            "--anchors",
            str(kept / "iaca.pem"),
            "--status-signer",
            str(kept / "status-signer.pem"),
            "--status-token",
            str(kept / b["status_token"]),
        ]
        result = run(*args)
        decision = json.loads(result.stdout)
        assert (decision["reason"] or "granted") == b["actual"], b["title"]
        assert result.exit_code == (0 if b["actual"] == "granted" else 1)
        checked += 1
    assert checked == 17  # 18 taps, less the impostor's


def test_dir_with_a_db_already_is_refused(tmp_path: Path) -> None:
    tour_json("--dir", str(tmp_path))
    result = run("tour", "--dir", str(tmp_path))
    assert result.exit_code == 2
    assert "exists already" in result.output


def test_now_moves_the_whole_story() -> None:
    data = tour_json("--now", "2027-01-04T21:30:00")  # no zone: KST
    assert data["ok"] is True
    assert data["started_at"] == "2027-01-04T21:30:00+09:00"
    assert all(b["at"].startswith("2027-01-04T21:") for b in data["beats"])


def test_another_hr_export_is_cast_in_order(tmp_path: Path) -> None:
    names = ["가온", "나래", "다온", "라희", "마루", "바다", "사랑", "아라"]
    rows = [
        f"{20000001 + i},{name},N,행정안전부,1741000,주무관,,044-205-1135,\n"
        for i, name in enumerate(names)
    ]
    hr = tmp_path / "hr.csv"
    hr.write_text(HEADER + "".join(rows), encoding="utf-8")
    data = tour_json("--hr", str(hr))
    assert data["ok"] is True
    assert data["enrolled"] == 8


def test_too_few_people_is_bad_input(tmp_path: Path) -> None:
    hr = tmp_path / "hr.csv"
    hr.write_text(HEADER + "20000001,사람,N,행정안전부,1741000,주무관,,044-205-1135,\n")
    result = run("tour", "--hr", str(hr))
    assert result.exit_code == 2
    assert "needs 7 active people" in result.output


def test_a_beat_that_goes_wrong_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the tampering did nothing, the phone would be granted and the tour must say so."""
    monkeypatch.setattr("gateway.tour.story.tamper", lambda signed, *_: signed)
    result = run("tour", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    (wrong,) = [b for b in data["beats"] if not b["matched"]]
    assert (wrong["expected"], wrong["actual"]) == ("digest_mismatch", "granted")
    assert data["counts"]["mismatched"] == 1


def test_status_signer_key_needs_the_status_eku(tmp_path: Path) -> None:
    with Authority.create(
        tmp_path / "a.db", name="인사혁신처장", organization="인사혁신처", now=DEFAULT_START
    ) as auth:
        anchor = auth.iaca_certificate
        status_cert = auth.status_signer_certificate
        (ds,) = auth.signers("document")
    ds_cert = x509.load_pem_x509_certificate(ds.cert_pem)
    assert status_signer_key([anchor], [status_cert], DEFAULT_START) is not None
    with pytest.raises(UntrustedIssuer):
        status_signer_key([anchor], [ds_cert], DEFAULT_START)
    with pytest.raises(UntrustedIssuer):
        status_signer_key([], [status_cert], DEFAULT_START)
