"""`gateway credential verify`: a saved presentation, checked offline from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from gateway.cli.main import cli
from gateway.credentials import card, saved
from gateway.credentials.status_list import Status
from tests.credentials.conftest import NOW, World, make_world, transcript


def write_world(world: World, tmp_path: Path) -> list[str]:
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(world.iaca.cert_pem())
    signer = tmp_path / "status-signer.pem"
    signer.write_bytes(world.status_signer.cert_pem())
    token = tmp_path / "status.cwt"
    token.write_bytes(world.token())
    return [
        "--anchors", str(anchors), "--status-signer", str(signer), "--status-token", str(token),
        "--now", NOW.isoformat(),
    ]  # fmt: skip


def run(args: list[str]) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["credential", "verify", *args])
    return result.exit_code, json.loads(result.stdout) if result.stdout.startswith("{") else {}


def test_saved_mobile_presentation_is_granted_then_revoked(world: World, tmp_path: Path) -> None:
    holder = world.issue()
    session = transcript()
    file = tmp_path / "tap.json"
    file.write_text(
        saved.dump(
            saved.SavedMobile(device_response=holder.present(session), session_transcript=session)
        )
    )
    code, decision = run([str(file), *write_world(world, tmp_path)])
    assert code == 0
    assert decision["granted"] is True
    assert decision["claims"]["holder_id"] == "H0000001"
    assert decision["claims"]["portrait"] == {"bytes": 13}

    world.set_status(holder.index, Status.INVALID)
    world.iat += 60
    code, decision = run([str(file), *write_world(world, tmp_path)])
    assert code == 1
    assert decision["reason"] == "revoked"


def test_saved_card_presentation_checks_the_reader(world: World, tmp_path: Path) -> None:
    holder = world.issue_card()
    challenge = card.Challenge.fresh("gwacheon-2-g3", NOW).encode()
    file = tmp_path / "card.json"
    file.write_text(
        saved.dump(
            saved.SavedCard(
                card_object=holder.card_object,
                challenge=challenge,
                signature=card.sign_challenge(holder.card_key, challenge),
                reader_id="gwacheon-2-g3",
            )
        )
    )
    code, decision = run([str(file), *write_world(world, tmp_path)])
    assert (code, decision["kind"], decision["granted"]) == (0, "card", True)
    code, decision = run([str(file), *write_world(world, tmp_path), "--reader-id", "seoul-1"])
    assert (code, decision["reason"]) == (1, "device_auth_failed")


def test_bad_file_is_a_usage_error_naming_the_file_and_field(world: World, tmp_path: Path) -> None:
    file = tmp_path / "broken.json"
    file.write_text(json.dumps({"kind": "mobile", "device_response": "not base64!"}))
    result = CliRunner().invoke(
        cli, ["credential", "verify", str(file), *write_world(world, tmp_path)]
    )
    assert result.exit_code == 2
    assert "broken.json" in result.output
    assert "device_response" in result.output
    assert "session_transcript" in result.output


def test_status_signer_from_another_root_is_refused(world: World, tmp_path: Path) -> None:

    stranger = make_world("가짜")
    args = write_world(world, tmp_path)
    (tmp_path / "status-signer.pem").write_bytes(stranger.status_signer.cert_pem())
    file = tmp_path / "tap.json"
    session = transcript()
    file.write_text(
        saved.dump(
            saved.SavedMobile(
                device_response=world.issue().present(session), session_transcript=session
            )
        )
    )
    result = CliRunner().invoke(cli, ["credential", "verify", str(file), *args])
    assert result.exit_code == 2
    assert "no trusted IACA" in result.output
