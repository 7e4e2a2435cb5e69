"""`gateway authority` through click's CliRunner: the operator's view of the lifecycle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.central.authority.keys import public_key_pem
from gateway.cli.authority import authority as authority_group
from gateway.cli.main import cli
from gateway.credentials import csid, mdoc
from gateway.credentials.decision import DenialReason
from gateway.credentials.status_list import Status, StatusCache, verify_status_list_token
from gateway.credentials.trust import TrustStore
from gateway.credentials.verifier import MobilePresentation, verify

from .conftest import EXAMPLES, KIM, LEE, NOW, later, new_key

T0 = NOW.isoformat()


def run(*args: str | Path, ok: bool = True) -> Result:
    result = CliRunner().invoke(cli, ["authority", *map(str, args)], env={"COLUMNS": "200"})
    if ok:
        assert result.exit_code == 0, result.output
    return result


def run_json(*args: str | Path) -> Any:
    return json.loads(run(*args, "--json").stdout)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "authority.db"
    run(
        "init",
        path,
        "--name",
        "인사혁신처장",
        "--organization",
        "인사혁신처",
        "--now",
        T0,
        "--actor",
        "admin",
        "--capacity",
        "1024",
    )
    run("enroll", path, EXAMPLES / "hr-export.csv", "--now", T0, "--actor", "hr")
    return path


def _key_file(tmp_path: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, Path]:
    key = new_key()
    path = tmp_path / name
    path.write_bytes(public_key_pem(key.public_key()))
    return key, path


def issue_mobile(db: Path, key_file: Path, out: Path, *more: str) -> Any:
    """`issue-mobile` to KIM at T0; its JSON summary."""
    return run_json(
        "issue-mobile", db, KIM, "--device-key", key_file, "--out", out, "--now", T0, *more
    )


def test_smoke_issue_publish_lost_publish(db: Path, tmp_path: Path) -> None:
    phone, key_file = _key_file(tmp_path, "phone.pem")
    issued = issue_mobile(db, key_file, tmp_path / "cred.cbor", "--actor", "clerk")
    index = issued["status_index"]
    run("publish", db, "--out", tmp_path / "t1.cwt", "--now", T0)
    lost = run(
        "lost",
        db,
        KIM,
        "--reason",
        "phone lost",
        "--actor",
        "duty",
        "--now",
        later(minutes=1).isoformat(),
    )
    assert f"{issued['serial']} (mobile) is now INVALID" in lost.output
    assert "publish" in lost.output  # reminds the operator that gates do not know yet
    run("publish", db, "--out", tmp_path / "t2.cwt", "--now", later(minutes=1).isoformat())
    run(
        "export-anchors",
        db,
        "--out",
        tmp_path / "iaca.pem",
        "--status-signer",
        tmp_path / "status.pem",
    )

    iaca = x509.load_pem_x509_certificate((tmp_path / "iaca.pem").read_bytes())
    signer = x509.load_pem_x509_certificate((tmp_path / "status.pem").read_bytes())
    signer.verify_directly_issued_by(iaca)
    key = signer.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    first = verify_status_list_token((tmp_path / "t1.cwt").read_bytes(), key=key)
    second = verify_status_list_token((tmp_path / "t2.cwt").read_bytes(), key=key)
    assert first.lookup(index) is Status.VALID
    assert second.lookup(index) is Status.INVALID
    assert second.issued_at > first.issued_at

    # And a real gate, given only the exported files, agrees.
    cache = StatusCache({first.uri: key})
    reader = new_key()
    transcript = mdoc.session_transcript(b"engagement", reader.public_key(), None)
    response = mdoc.present(
        (tmp_path / "cred.cbor").read_bytes(), phone, transcript, doctype=csid.DOCTYPE
    )
    presentation = MobilePresentation(response, transcript)
    trust = TrustStore([iaca])
    cache.apply((tmp_path / "t1.cwt").read_bytes(), int(NOW.timestamp()))
    assert verify(presentation, trust=trust, status=cache, now=NOW).granted
    cache.apply((tmp_path / "t2.cwt").read_bytes(), int(later(minutes=1).timestamp()))
    denied = verify(presentation, trust=trust, status=cache, now=later(minutes=1))
    assert denied.reason is DenialReason.REVOKED

    listing = run_json("list", db)
    (credential,) = listing["credentials"]
    assert credential["status"] == "invalid"
    assert credential["invalid_cause"] == "lost"
    assert listing["pending_status_changes"] is False
    assert len(listing["holders"]) == 12
    actions = [(e["action"], e["actor"]) for e in run_json("audit", db)]
    assert [a for a in actions if a[0] != "enroll"] == [
        ("create", "admin"),
        ("issue", "clerk"),
        ("publish", actions[-3][1]),
        ("lost", "duty"),
        ("publish", actions[-1][1]),
    ]
    latest = CliRunner().invoke(cli, ["authority", "status-token", str(db), "--out", "-"])
    assert latest.exit_code == 0
    assert latest.stdout_bytes == (tmp_path / "t2.cwt").read_bytes()


def test_card_reissue_suspend_resume_retire(db: Path, tmp_path: Path) -> None:
    _, chip_file = _key_file(tmp_path, "chip.pem")
    card = run_json(
        "issue-card", db, LEE, "--card-key", chip_file, "--out", tmp_path / "card.cbor", "--now", T0
    )
    assert card["kind"] == "card"
    assert (tmp_path / "card.cbor").stat().st_size > 0

    _, new_chip = _key_file(tmp_path, "chip2.pem")
    again = run_json(
        "reissue",
        db,
        LEE,
        "--kind",
        "card",
        "--key",
        new_chip,
        "--reason",
        "card damaged",
        "--out",
        tmp_path / "card2.cbor",
        "--now",
        T0,
    )
    assert again["superseded"] == card["serial"]

    suspended = run_json("suspend", db, LEE, "--reason", "military service", "--now", T0)
    assert [c["status"] for c in suspended["changed"]] == ["suspended"]
    resumed = run_json("resume", db, LEE, "--reason", "reinstated", "--now", T0)
    assert [c["status"] for c in resumed["changed"]] == ["valid"]
    retired = run("retire", db, LEE, "--reason", "retirement", "--now", T0)
    assert f"{LEE} retired: {again['serial']} (card) is now INVALID" in retired.output

    refused = run(
        "issue-card",
        db,
        LEE,
        "--card-key",
        chip_file,
        "--out",
        tmp_path / "x",
        "--now",
        T0,
        ok=False,
    )
    assert refused.exit_code == 1
    assert refused.output.startswith(f"Error: {LEE} retired on 2026-03-02; a retired person")
    assert len(refused.output.strip().splitlines()) == 1


def test_enroll_reports_transfers_and_what_to_reissue(db: Path, tmp_path: Path) -> None:
    _, key_file = _key_file(tmp_path, "phone.pem")
    issued = issue_mobile(db, key_file, tmp_path / "cred.cbor")
    moved = tmp_path / "april.csv"
    moved.write_text(
        (EXAMPLES / "hr-export.csv")
        .read_text(encoding="utf-8")
        .replace("17410231,김민준,N,행정안전부,1741000", "17410231,김민준,N,국토교통부,1613000"),
        encoding="utf-8",
    )
    result = run("enroll", db, moved, "--now", later(days=30).isoformat())
    assert "0 enrolled, 1 changed, 11 unchanged" in result.output
    assert f"{KIM} transfer (line 2): organization 행정안전부 → 국토교통부" in result.output
    assert f"reissue {issued['serial']}" in result.output
    assert run_json("list", db)["credentials"][0]["needs_reissue"] is True


def test_bad_hr_export_is_refused_with_file_line_and_field(db: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "직원번호,성명,소속,기관코드,직급,발급기관전화\n"
        "20000001,홍길동,행정안전부,17410,주무관,044-205-1234\n",
        encoding="utf-8",
    )
    result = run("enroll", db, bad, ok=False)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.splitlines() == [
        "Error: 1 problem in the HR export; nothing was enrolled:",
        f"  {bad}, line 2, field 기관코드: '17410' is not a 행정표준기관코드; it has exactly "
        "7 digits, e.g. 1741000 for 행정안전부",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lost", "{db}", "nobody", "--reason", "r"], "Error: no credential or holder 'nobody'"),
        (["resume", "{db}", KIM, "--reason", "r"], "Error: 17410231 is not suspended"),
        (
            ["issue-mobile", "{db}", KIM, "--device-key", "{tmp}/missing.pem", "--out", "-"],
            "Error: {tmp}/missing.pem: No such file or directory",
        ),
        (
            ["issue-mobile", "{db}", KIM, "--device-key", "{tmp}/junk.pem", "--out", "-"],
            "Error: not a PEM, DER, JWK or COSE_Key public key",
        ),
        (["list", "{tmp}/none.db"], "Error: no authority database at {tmp}/none.db"),
        (["init", "{db}", "--name", "n", "--organization", "o"], "Error: {db} already exists"),
    ],
)
def test_errors_are_one_line(db: Path, tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "junk.pem").write_bytes(b"junk")
    result = run(*[a.format(db=db, tmp=tmp_path) for a in args], ok=False)
    assert result.exit_code == 1
    assert result.output.startswith(message.format(db=db, tmp=tmp_path))
    assert len(result.output.strip().splitlines()) == 1


def test_now_must_carry_a_zone(db: Path) -> None:
    result = run("publish", db, "--out", "-", "--now", "2026-03-02T08:50:00", ok=False)
    assert result.exit_code == 2
    assert "give a time zone" in result.output


def test_reason_is_required_for_lifecycle_steps(db: Path) -> None:
    result = run("suspend", db, KIM, ok=False)
    assert result.exit_code == 2
    assert "--reason" in result.output


def test_tables_for_people(db: Path, tmp_path: Path) -> None:
    _, key_file = _key_file(tmp_path, "phone.pem")
    run("issue-mobile", db, KIM, "--device-key", key_file, "--out", tmp_path / "c", "--now", T0)
    rotated = run("rotate-signer", db, "--now", T0, "--reason", "test")
    assert "인사혁신처장 DS 2" in rotated.output
    listing = run("list", db).output
    assert "김민준" in listing
    assert "Emily Carter" in listing
    assert "M-" in listing
    assert "unpublished status changes" in listing  # nothing published yet
    audit = run("audit", db, "--action", "issue").output
    assert "issue" in audit
    assert KIM in audit
    window = run_json("audit", db, "--since", later(seconds=1).isoformat())
    assert window == []


def test_every_command_has_help() -> None:
    names = list(authority_group.commands)
    assert {
        "init",
        "enroll",
        "issue-mobile",
        "issue-card",
        "reissue",
        "lost",
        "suspend",
        "resume",
        "retire",
        "publish",
        "rotate-signer",
        "export-anchors",
        "list",
        "audit",
    } <= set(names)
    assert run("--help").output.startswith("Usage:")
    for name in names:
        result = run(name, "--help")
        assert "Usage:" in result.output, name
        assert len(result.output.splitlines()) > 3, name


def test_out_dash_writes_the_credential_to_stdout(db: Path, tmp_path: Path) -> None:
    _, key_file = _key_file(tmp_path, "phone.pem")
    result = CliRunner().invoke(
        cli,
        [
            "authority",
            "issue-mobile",
            str(db),
            KIM,
            "--device-key",
            str(key_file),
            "--out",
            "-",
            "--now",
            T0,
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes[:1] == b"\xa2"  # IssuerSigned: a CBOR map of two
    assert "issued M-" in result.stderr  # the summary stays out of the data
    issuer_signed = run_json("list", db)["credentials"][0]
    assert issuer_signed["holder_id"] == KIM
