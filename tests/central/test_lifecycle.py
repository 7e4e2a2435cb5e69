"""Rules 60-61 end to end: the authority acts, publishes, and a real verifier judges."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.central.authority import store
from gateway.central.authority.context import AuthorityError, IllegalTransition
from gateway.central.authority.hr_import import load_hr_export
from gateway.central.authority.issuance import IssuedCredential
from gateway.central.authority.keys import KeyFormatError, public_key_pem
from gateway.central.authority.records import (
    AuditAction,
    CredentialStatus,
    HolderState,
    InvalidCause,
)
from gateway.central.authority.service import Authority
from gateway.credentials.decision import DenialReason
from gateway.credentials.status_list import Status, verify_status_list_token

from .conftest import CARTER, EXAMPLES, KIM, LEE, NOW, Gate, later, new_authority, new_key

Key = ec.EllipticCurvePrivateKey


def _issue_twice(
    issue: Callable[..., IssuedCredential], holder_id: str, again: dt.datetime, reason: str
) -> tuple[Key, IssuedCredential, Key, IssuedCredential]:
    """A credential at NOW, then its replacement at ``again``, each bound to a fresh key."""
    old_key, replacement_key = new_key(), new_key()
    old = issue(holder_id, old_key.public_key(), now=NOW, actor="clerk")
    new = issue(holder_id, replacement_key.public_key(), now=again, actor="clerk", reason=reason)
    return old_key, old, replacement_key, new


def _mobile_and_card(
    authority: Authority, holder_id: str
) -> tuple[Key, IssuedCredential, Key, IssuedCredential]:
    """A phone with its mobile ID and a chip with its card object, for one holder at NOW."""
    phone, chip = new_key(), new_key()
    mobile = authority.issue_mobile(holder_id, phone.public_key(), now=NOW, actor="clerk")
    chip_card = authority.issue_card(holder_id, chip.public_key(), now=NOW, actor="clerk")
    return phone, mobile, chip, chip_card


def test_issued_mobile_credential_is_granted(authority: Authority, gate: Gate) -> None:
    phone = new_key()
    issued = authority.issue_mobile(KIM, phone.public_key(), now=NOW, actor="clerk")
    gate.publish(later(seconds=1))

    decision = gate.tap(issued.document, phone, later(seconds=2))

    assert decision.granted, decision.detail
    assert decision.holder_id == KIM
    assert decision.credential_serial == issued.serial
    assert decision.claims["organization"] == "행정안전부"
    assert decision.status_index == issued.credential.status_index
    assert decision.status_uri == authority.status_uri
    assert decision.issuer == "인사혁신처장 IACA"
    assert issued.credential.valid_from == NOW
    assert issued.credential.valid_until == NOW + dt.timedelta(days=365)
    assert not issued.cut_to_signer


def test_device_key_given_as_pem_bytes(authority: Authority, gate: Gate) -> None:
    phone = new_key()
    issued = authority.issue_mobile(KIM, public_key_pem(phone.public_key()), now=NOW, actor="c")
    gate.publish(NOW)
    assert gate.tap(issued.document, phone, NOW).granted


def test_a_new_phone_revokes_the_old_one(authority: Authority, gate: Gate) -> None:
    old_phone, old, new_phone, new = _issue_twice(
        authority.issue_mobile, KIM, later(days=3), "phone replaced"
    )
    gate.publish(later(days=3))

    assert new.superseded is not None
    assert new.superseded.serial == old.serial
    assert authority.credential(old.serial).invalid_cause is InvalidCause.SUPERSEDED
    assert gate.tap(old.document, old_phone, later(days=3)).reason is DenialReason.REVOKED
    assert gate.tap(new.document, new_phone, later(days=3)).granted
    assert len(authority.credentials(KIM, live_only=True)) == 1


def test_mobile_and_card_are_separate_credentials(authority: Authority, gate: Gate) -> None:
    phone, mobile, chip, issued_card = _mobile_and_card(authority, KIM)
    gate.publish(NOW)

    assert issued_card.superseded is None
    assert gate.tap(mobile.document, phone, NOW).granted
    decision = gate.tap_card(issued_card.document, chip, NOW)
    assert decision.granted, decision.detail
    assert decision.kind.value == "card"
    assert decision.credential_serial == issued_card.serial


def test_new_card_revokes_old_card(authority: Authority, gate: Gate) -> None:
    old_chip, old, new_chip, new = _issue_twice(
        authority.issue_card, LEE, later(hours=1), "card damaged"
    )
    gate.publish(later(hours=1))
    assert gate.tap_card(old.document, old_chip, later(hours=1)).reason is DenialReason.REVOKED
    assert gate.tap_card(new.document, new_chip, later(hours=1)).granted


def test_lost_is_revoked_at_the_next_publish(authority: Authority, gate: Gate) -> None:
    phone = new_key()
    issued = authority.issue_mobile(KIM, phone.public_key(), now=NOW, actor="clerk")
    gate.publish(NOW)
    assert gate.tap(issued.document, phone, NOW).granted

    lost = authority.report_lost(
        issued.serial, now=later(minutes=5), actor="duty-officer", reason="phone lost on the subway"
    )
    assert lost.status is CredentialStatus.INVALID
    assert lost.invalid_cause is InvalidCause.LOST
    assert authority.pending_status_changes
    gate.publish(later(minutes=5))
    assert not authority.pending_status_changes

    assert gate.tap(issued.document, phone, later(minutes=6)).reason is DenialReason.REVOKED
    with pytest.raises(IllegalTransition, match="already invalid"):
        authority.report_lost(issued.serial, now=later(minutes=7), actor="x", reason="again")


def test_lost_card_revoked(authority: Authority, gate: Gate) -> None:
    chip = new_key()
    issued = authority.issue_card(LEE, chip.public_key(), now=NOW, actor="clerk")
    authority.report_lost(issued.serial, now=NOW, actor="clerk", reason="card lost")
    gate.publish(NOW)
    assert gate.tap_card(issued.document, chip, NOW).reason is DenialReason.REVOKED


def test_suspend_then_resume(authority: Authority, gate: Gate) -> None:
    phone, mobile, chip, chip_card = _mobile_and_card(authority, KIM)

    changed = authority.suspend(KIM, now=later(days=1), actor="hr", reason="military service")
    assert {c.serial for c in changed} == {mobile.serial, chip_card.serial}
    assert authority.holder(KIM).state is HolderState.SUSPENDED
    gate.publish(later(days=1))
    assert gate.tap(mobile.document, phone, later(days=1)).reason is DenialReason.SUSPENDED
    assert gate.tap_card(chip_card.document, chip, later(days=1)).reason is DenialReason.SUSPENDED

    authority.resume(KIM, now=later(days=2), actor="hr", reason="reinstated")
    gate.publish(later(days=2))
    assert gate.tap(mobile.document, phone, later(days=2)).granted
    assert gate.tap_card(chip_card.document, chip, later(days=2)).granted


def test_suspended_holder_cannot_be_issued(authority: Authority) -> None:
    authority.suspend(KIM, now=NOW, actor="hr", reason="leave")
    with pytest.raises(IllegalTransition, match="suspended"):
        authority.issue_mobile(KIM, new_key().public_key(), now=NOW, actor="clerk")
    with pytest.raises(IllegalTransition, match="already suspended"):
        authority.suspend(KIM, now=NOW, actor="hr", reason="leave")


def test_resume_never_revives_a_revoked_credential(authority: Authority, gate: Gate) -> None:
    phone = new_key()
    issued = authority.issue_mobile(KIM, phone.public_key(), now=NOW, actor="clerk")
    authority.suspend(KIM, now=NOW, actor="hr", reason="leave")
    authority.report_lost(issued.serial, now=later(hours=1), actor="hr", reason="lost on leave")

    assert authority.resume(KIM, now=later(days=1), actor="hr", reason="back") == []
    gate.publish(later(days=1))
    assert authority.credential(issued.serial).status is CredentialStatus.INVALID
    assert gate.tap(issued.document, phone, later(days=1)).reason is DenialReason.REVOKED


def test_resume_of_active_holder_is_refused(authority: Authority) -> None:
    with pytest.raises(IllegalTransition, match="not suspended"):
        authority.resume(KIM, now=NOW, actor="hr", reason="?")


def test_retire_revokes_everything_for_good(authority: Authority, gate: Gate) -> None:
    phone, mobile, chip, chip_card = _mobile_and_card(authority, KIM)
    authority.suspend(KIM, now=NOW, actor="hr", reason="leave")

    retired = authority.retire(KIM, now=later(days=30), actor="hr", reason="retirement")
    gate.publish(later(days=30))

    assert {c.invalid_cause for c in retired} == {InvalidCause.RETIRED}
    assert gate.tap(mobile.document, phone, later(days=30)).reason is DenialReason.REVOKED
    assert gate.tap_card(chip_card.document, chip, later(days=30)).reason is DenialReason.REVOKED
    with pytest.raises(IllegalTransition, match="retired"):
        authority.issue_mobile(KIM, new_key().public_key(), now=later(days=31), actor="clerk")
    with pytest.raises(IllegalTransition, match="retired"):
        authority.reissue(
            mobile.serial, now=later(days=31), actor="clerk", reason="?", key=new_key().public_key()
        )
    for action in (authority.suspend, authority.resume, authority.retire):
        with pytest.raises(IllegalTransition, match="retired"):
            action(KIM, now=later(days=31), actor="hr", reason="?")


def test_retired_person_in_a_later_export_is_left_alone(authority: Authority) -> None:
    authority.retire(KIM, now=NOW, actor="hr", reason="retirement")
    report = authority.enroll_file(EXAMPLES / "hr-export.json", now=later(days=1), actor="hr")
    assert [holder for holder, _ in report.ignored] == [KIM]
    assert authority.holder(KIM).state is HolderState.RETIRED


def _transfer_export(tmp_path: Path) -> Path:
    text = (EXAMPLES / "hr-export.csv").read_text(encoding="utf-8")
    text = text.replace(
        "17410231,김민준,N,행정안전부,1741000,행정사무관,,044-205-1135",
        "17410231,김민준,N,국토교통부,1613000,행정사무관,,044-201-3114",
    ).replace(
        "17410487,이서연,N,행정안전부,1741000,주무관",
        "17410487,이서연,N,행정안전부,1741000,행정주사",
    )
    path = tmp_path / "hr-2026-04.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_transfer_is_recorded_and_reissue_carries_the_new_organization(
    authority: Authority, gate: Gate, tmp_path: Path
) -> None:
    phone = new_key()
    old = authority.issue_mobile(KIM, phone.public_key(), now=NOW, actor="clerk")

    report = authority.enroll_file(_transfer_export(tmp_path), now=later(days=30), actor="hr")

    changes = {change.holder_id: change for change in report.changed}
    assert changes[KIM].action is AuditAction.TRANSFER
    assert changes[KIM].before["organization"] == "행정안전부"
    assert changes[KIM].after["organization_code"] == "1613000"
    assert changes[KIM].to_reissue == [old.serial]
    assert changes[LEE].action is AuditAction.PROMOTE
    assert changes[LEE].to_reissue == []  # no credential yet
    assert len(report.unchanged) == 10
    assert [c.serial for c in authority.stale_credentials()] == [old.serial]

    # Same phone: the device key is bound again by default.
    new = authority.reissue(old.serial, now=later(days=30), actor="clerk", reason="transfer")
    gate.publish(later(days=30))

    assert authority.stale_credentials() == []
    assert gate.tap(old.document, phone, later(days=30)).reason is DenialReason.REVOKED
    decision = gate.tap(new.document, phone, later(days=30))
    assert decision.granted
    assert decision.claims["organization"] == "국토교통부"
    assert decision.claims["organization_code"] == "1613000"
    assert decision.claims["issuing_authority_phone"] == "044-201-3114"
    assert new.credential.supersedes == old.serial


def test_reissue_after_loss_needs_a_new_key(authority: Authority, gate: Gate) -> None:
    phone = new_key()
    old = authority.issue_mobile(KIM, phone.public_key(), now=NOW, actor="clerk")
    authority.report_lost(old.serial, now=NOW, actor="clerk", reason="lost")

    with pytest.raises(IllegalTransition, match="reported lost"):
        authority.reissue(old.serial, now=NOW, actor="clerk", reason="new phone")
    with pytest.raises(IllegalTransition, match="never bound again"):
        authority.issue_mobile(KIM, phone.public_key(), now=NOW, actor="clerk")

    new_phone = new_key()
    new = authority.reissue(
        old.serial, now=NOW, actor="clerk", reason="new phone", key=new_phone.public_key()
    )
    gate.publish(NOW)
    assert new.superseded is None
    assert new.credential.supersedes == old.serial
    assert gate.tap(new.document, new_phone, NOW).granted
    with pytest.raises(IllegalTransition, match=f"{new.serial} is"):
        authority.reissue(old.serial, now=NOW, actor="c", reason="r", key=new_key().public_key())


def test_reissue_of_a_superseded_credential_points_at_the_current_one(
    authority: Authority,
) -> None:
    first = authority.issue_mobile(KIM, new_key().public_key(), now=NOW, actor="clerk")
    second = authority.reissue(first.serial, now=NOW, actor="clerk", reason="promotion")
    with pytest.raises(IllegalTransition, match=second.serial):
        authority.reissue(first.serial, now=NOW, actor="clerk", reason="again")


def test_one_key_binds_one_credential(authority: Authority) -> None:
    phone = new_key()
    authority.issue_mobile(KIM, phone.public_key(), now=NOW, actor="clerk")
    with pytest.raises(IllegalTransition, match="already bound"):
        authority.issue_mobile(LEE, phone.public_key(), now=NOW, actor="clerk")
    with pytest.raises(IllegalTransition, match="already bound"):
        authority.issue_card(KIM, phone.public_key(), now=NOW, actor="clerk")


def test_unknown_holder_and_bad_keys_are_refused(authority: Authority) -> None:
    with pytest.raises(AuthorityError, match="enroll them"):
        authority.issue_mobile("99999999", new_key().public_key(), now=NOW, actor="clerk")
    with pytest.raises(KeyFormatError, match="readable public key"):
        authority.issue_mobile(
            KIM,
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
            now=NOW,
            actor="clerk",
        )
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(KeyFormatError, match="P-256"):
        authority.issue_mobile(KIM, public_key_pem(p384), now=NOW, actor="clerk")
    with pytest.raises(KeyFormatError, match="private key"):
        authority.issue_mobile(
            KIM,
            new_key().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            now=NOW,
            actor="clerk",
        )


def test_status_indices_are_unique_and_never_reused(tmp_path: Path) -> None:
    with new_authority(tmp_path / "small.db", capacity=40, rng=random.Random(7)) as small:
        small.enroll_file(EXAMPLES / "hr-export.csv", now=NOW, actor="hr")
        holders = [h.holder_id for h in small.holders()]
        indices = []
        for i in range(40):  # every index once: many reissues, lost, and a retirement
            holder = holders[i % 6]
            issued = small.issue_mobile(
                holder, new_key().public_key(), now=later(minutes=i), actor="clerk"
            )
            indices.append(issued.credential.status_index)
            if i % 5 == 0:
                small.report_lost(issued.serial, now=later(minutes=i), actor="c", reason="lost")
        assert sorted(indices) == list(range(40))
        assert indices != sorted(indices)  # random order: the list leaks no issuing order
        with pytest.raises(AuthorityError, match="never reused"):
            small.issue_mobile(
                holders[7], new_key().public_key(), now=later(hours=1), actor="clerk"
            )
        with pytest.raises(sqlite3.IntegrityError):
            small._ctx.conn.execute("DELETE FROM credentials")


def test_iat_strictly_increases_even_within_one_second(authority: Authority) -> None:
    key = authority.status_signer_certificate.public_key()
    tokens = [authority.publish_status_list(NOW) for _ in range(3)]
    tokens.append(
        authority.publish_status_list(NOW - dt.timedelta(minutes=1))
    )  # clock stepped back
    iats = [verify_status_list_token(t, key=key).issued_at for t in tokens]  # type: ignore[arg-type]
    assert iats == [int(NOW.timestamp()) + i for i in range(4)]
    history = authority.status_list_tokens()
    assert [h.issued_at for h in history] == iats
    assert authority.latest_status_list_token() == tokens[-1]


def test_published_token_shape(authority: Authority) -> None:
    phone = new_key()
    issued = authority.issue_mobile(KIM, phone.public_key(), now=NOW, actor="clerk")
    authority.report_lost(issued.serial, now=NOW, actor="clerk", reason="lost")
    token = authority.publish_status_list(NOW, ttl=120)
    key = authority.status_signer_certificate.public_key()
    parsed = verify_status_list_token(token, key=key, expected_uri=authority.status_uri)  # type: ignore[arg-type]
    assert parsed.ttl == 120
    assert parsed.expires_at == parsed.issued_at + 86_400
    assert parsed.bits == 2
    assert parsed.list.size == 4096
    assert parsed.lookup(issued.credential.status_index) is Status.INVALID


def test_signer_rotation_without_a_gap(authority: Authority, gate: Gate) -> None:
    old_phone, new_phone = new_key(), new_key()
    old = authority.issue_mobile(KIM, old_phone.public_key(), now=NOW, actor="clerk")
    old_signer = next(s for s in authority.signers("document") if s.active)

    rotated = authority.rotate_document_signer(
        later(days=90), actor="security-officer", reason="quarterly rotation"
    )
    new = authority.issue_mobile(LEE, new_phone.public_key(), now=later(days=91), actor="clerk")
    gate.publish(later(days=91))

    assert rotated.active
    assert rotated.fingerprint != old_signer.fingerprint
    assert [s.active for s in authority.signers("document")] == [False, True]
    old_decision = gate.tap(old.document, old_phone, later(days=91))
    new_decision = gate.tap(new.document, new_phone, later(days=91))
    assert old_decision.granted
    assert new_decision.granted
    assert old_decision.signer == "인사혁신처장 DS 1"
    assert new_decision.signer == "인사혁신처장 DS 2"


def test_validity_never_outlives_the_signer(authority: Authority, gate: Gate) -> None:
    signer = next(s for s in authority.signers("document") if s.active)
    late = signer.not_after - dt.timedelta(days=10)
    issued = authority.issue_mobile(KIM, new_key().public_key(), now=late, actor="clerk")
    assert issued.credential.valid_until == signer.not_after
    assert issued.cut_to_signer
    with pytest.raises(AuthorityError, match="rotate-signer"):
        authority.issue_mobile(LEE, new_key().public_key(), now=signer.not_after, actor="clerk")


def test_audit_records_every_action_with_actor_and_reason(authority: Authority) -> None:
    phone, chip = new_key(), new_key()
    mobile = authority.issue_mobile(
        CARTER, phone.public_key(), now=later(minutes=1), actor="clerk-park", reason="new hire"
    )
    authority.issue_card(CARTER, chip.public_key(), now=later(minutes=2), actor="clerk-park")
    reissued = authority.reissue(
        mobile.serial, now=later(minutes=3), actor="clerk-park", reason="app reinstalled"
    )
    authority.report_lost(reissued.serial, now=later(minutes=4), actor="duty", reason="lost")
    authority.suspend(CARTER, now=later(minutes=5), actor="hr-choi", reason="parental leave")
    authority.resume(CARTER, now=later(minutes=6), actor="hr-choi", reason="returned")
    authority.retire(CARTER, now=later(minutes=7), actor="hr-choi", reason="contract ended")
    authority.publish_status_list(later(minutes=8), actor="publisher")
    authority.rotate_document_signer(later(minutes=9), actor="sec", reason="rotation")

    entries = authority.audit()
    primary = [(e.action, e.actor, e.reason) for e in entries if e.action is not AuditAction.ENROLL]
    assert primary == [
        (AuditAction.CREATE, "admin", "authority created"),
        (AuditAction.ISSUE, "clerk-park", "new hire"),
        (AuditAction.ISSUE, "clerk-park", ""),
        (AuditAction.REISSUE, "clerk-park", "app reinstalled"),
        (AuditAction.SUPERSEDE, "clerk-park", "app reinstalled"),
        (AuditAction.LOST, "duty", "lost"),
        (AuditAction.SUSPEND, "hr-choi", "parental leave"),  # the holder
        (AuditAction.SUSPEND, "hr-choi", "parental leave"),  # its one live card
        (AuditAction.RESUME, "hr-choi", "returned"),
        (AuditAction.RESUME, "hr-choi", "returned"),
        (AuditAction.RETIRE, "hr-choi", "contract ended"),
        (AuditAction.RETIRE, "hr-choi", "contract ended"),
        (AuditAction.PUBLISH, "publisher", ""),
        (AuditAction.ROTATE, "sec", "rotation"),
    ]
    enrolls = [e for e in entries if e.action is AuditAction.ENROLL]
    assert len(enrolls) == 12
    assert {e.actor for e in enrolls} == {"hr-clerk"}
    assert enrolls[0].detail["source"].endswith("hr-export.csv")
    reissue = next(e for e in entries if e.action is AuditAction.REISSUE)
    assert reissue.holder_id == CARTER
    assert reissue.serial == reissued.serial
    assert reissue.detail["supersedes"] == mobile.serial
    assert reissue.at == later(minutes=3)

    # Quarterly checks look at a window, and at one holder or credential.
    window = authority.audit(later(minutes=4), later(minutes=6))
    assert [e.action for e in window] == [AuditAction.LOST] + [AuditAction.SUSPEND] * 2
    assert {e.action for e in authority.audit(serial=mobile.serial)} == {
        AuditAction.ISSUE,
        AuditAction.SUPERSEDE,
    }
    assert len(authority.audit(holder_id=CARTER, action="retire")) == 2


def test_audit_log_is_append_only(authority: Authority) -> None:
    conn = authority._ctx.conn
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit SET actor = 'someone else'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit")


def test_actor_and_reason_are_required(authority: Authority) -> None:
    issued = authority.issue_mobile(KIM, new_key().public_key(), now=NOW, actor="clerk")
    with pytest.raises(AuthorityError, match="reason"):
        authority.report_lost(issued.serial, now=NOW, actor="clerk", reason="  ")
    with pytest.raises(AuthorityError, match="actor"):
        authority.suspend(KIM, now=NOW, actor="", reason="leave")
    with pytest.raises(ValueError, match="timezone"):
        authority.publish_status_list(dt.datetime(2026, 3, 2, 8, 50))


def test_state_survives_reopening(authority: Authority, tmp_path: Path) -> None:
    phone = new_key()
    issued = authority.issue_mobile(KIM, phone.public_key(), now=NOW, actor="clerk")
    token = authority.publish_status_list(NOW)
    with Authority.open(authority.path) as again:
        assert again.credential(issued.serial) == issued.credential
        assert again.latest_status_list_token() == token
        assert again.trust_anchor_pem() == authority.trust_anchor_pem()
        assert again.settings.status_capacity == 4096
        assert again.credential_document(issued.serial) == issued.document
        (mode,) = again._ctx.conn.execute("PRAGMA journal_mode").fetchone()
        assert mode == "wal"
    assert (authority.path.stat().st_mode & 0o777) == 0o600


def test_open_refuses_what_is_not_an_authority(tmp_path: Path) -> None:
    with pytest.raises(AuthorityError, match="no authority database"):
        Authority.open(tmp_path / "missing.db")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(AuthorityError, match="not an authority database"):
        Authority.open(other)
    with pytest.raises(AuthorityError, match="already exists"):
        Authority.create(other, name="n", organization="o", now=NOW)


def test_find_credential_by_holder(authority: Authority) -> None:
    mobile = authority.issue_mobile(KIM, new_key().public_key(), now=NOW, actor="clerk")
    chip_card = authority.issue_card(KIM, new_key().public_key(), now=NOW, actor="clerk")
    assert authority.find_credential(mobile.serial) == mobile.credential
    assert authority.find_credential(KIM, "card") == chip_card.credential
    with pytest.raises(AuthorityError, match="give the serial or the kind"):
        authority.find_credential(KIM)
    authority.report_lost(mobile.serial, now=NOW, actor="c", reason="lost")
    assert authority.find_credential(KIM, "mobile").serial == mobile.serial  # latest, though lost


def test_enroll_is_idempotent(authority: Authority) -> None:
    export = load_hr_export(EXAMPLES / "hr-export.json")
    report = authority.enroll(export, now=later(days=1), actor="hr")
    assert report.enrolled == []
    assert report.changed == []
    assert len(report.unchanged) == 12


def test_an_action_that_fails_midway_leaves_no_trace(
    authority: Authority, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone = new_key()
    issued = authority.issue_mobile(KIM, phone.public_key(), now=NOW, actor="clerk")
    before = len(authority.audit())

    def broken(*args: object, **kwargs: object) -> int:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "write_audit", broken)
    with pytest.raises(sqlite3.OperationalError):
        authority.retire(KIM, now=later(days=1), actor="hr", reason="retirement")
    with pytest.raises(sqlite3.OperationalError):
        authority.issue_mobile(KIM, new_key().public_key(), now=later(days=1), actor="clerk")
    monkeypatch.undo()

    assert authority.holder(KIM).state is HolderState.ACTIVE
    assert authority.credentials(KIM) == [issued.credential]
    assert len(authority.audit()) == before
    assert authority.status_list().lookup(issued.credential.status_index) is Status.VALID
