"""The syncer installs only what verifies and moves forward; every refusal is an alarm."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway.credentials.status_list import Status, StatusList, StatusReference
from gateway.mqtt.payloads import Synced
from gateway.node.policy import GateState, Posture
from gateway.node.sync import SyncEvent
from tests.credentials.conftest import NOW, STATUS_URI
from tests.node.sync.conftest import LIST, T0, Node, b64

REF = StatusReference(5, STATUS_URI)
NOW_S = int(NOW.timestamp())


def refusal(events: list[SyncEvent], what: str, reason: str) -> dict[str, Any]:
    assert len(events) == 1, events
    (event,) = events
    assert event.kind == "security"
    assert event.fields["is_alarm"] is True
    assert (event.fields["what"], event.fields["reason"]) == (what, reason), event.fields
    assert event.fields["detail"]
    return event.fields


def success(events: list[SyncEvent], what: str, version: int) -> dict[str, Any]:
    assert [(e.kind, e.fields["what"], e.fields["version"]) for e in events] == [
        ("sync", what, version)
    ], events
    return events[0].fields


def held_iat(node: Node) -> int:
    token = node.verifier.status.token(STATUS_URI)
    assert token is not None
    return token.issued_at


# --- status list tokens ---------------------------------------------------------------------


def test_a_newer_token_installs_persists_and_its_redelivery_is_silent(node: Node) -> None:
    raw = node.keys.token(T0 + 10)
    fields = success(node.handle("status_list", raw, list=LIST), "status_list", T0 + 10)
    assert fields["list"] == LIST
    assert held_iat(node) == T0 + 10
    assert (node.directory / "status-list" / LIST).read_bytes() == raw
    assert node.handle("status_list", raw, list=LIST) == []


def test_an_older_token_is_a_rollback_and_changes_nothing(node: Node) -> None:
    node.handle("status_list", node.keys.token(T0 + 10), list=LIST)
    refusal(
        node.handle("status_list", node.keys.token(T0 + 5), list=LIST), "status_list", "rollback"
    )
    assert held_iat(node) == T0 + 10


def test_same_iat_different_bytes_is_a_rollback(node: Node) -> None:
    revoked = StatusList(1024)
    revoked.set(5, Status.INVALID)
    refusal(
        node.handle("status_list", node.keys.token(T0, revoked), list=LIST),
        "status_list",
        "rollback",
    )
    assert node.verifier.status.lookup(REF, NOW_S).value == "valid"


def test_a_token_signed_by_another_key_is_refused(node: Node) -> None:
    forged = node.keys.token(T0 + 10, key=node.keys.stranger)
    refusal(node.handle("status_list", forged, list=LIST), "status_list", "bad_signature")
    assert held_iat(node) == T0
    assert not (node.directory / "status-list").exists()


def test_a_token_on_another_lists_topic_or_site_is_refused(node: Node) -> None:
    raw = node.keys.token(T0 + 10)
    refusal(node.handle("status_list", raw, list="other"), "status_list", "invalid")
    events = node.syncer.handle(
        "status_list", {"site": "gwacheon", "list": LIST}, raw, retained=True, now=NOW
    )
    refusal(events, "status_list", "wrong_site")
    assert held_iat(node) == T0


# --- deltas -----------------------------------------------------------------------------------


def test_a_delta_revokes_at_once_without_touching_the_list_in_use(node: Node) -> None:
    before = node.verifier.status.token(STATUS_URI)
    raw = node.keys.delta(T0, T0 + 1, [(5, Status.INVALID)])
    fields = success(node.handle("status_list_delta", raw, list=LIST), "status_delta", T0 + 1)
    assert fields["changes"] == 1
    assert node.verifier.status.lookup(REF, NOW_S).value == "invalid"
    assert before is not None
    assert before.lookup(5) is Status.VALID  # copy-on-write: the old list is untouched
    assert node.handle("status_list_delta", raw, list=LIST) == []  # a QoS 1 duplicate
    second = node.keys.delta(T0 + 1, T0 + 2, [(5, Status.VALID), (6, Status.SUSPENDED)])
    success(node.handle("status_list_delta", second, list=LIST), "status_delta", T0 + 2)
    assert node.verifier.status.lookup(REF, NOW_S).value == "valid"
    assert held_iat(node) == T0 + 2


def test_a_delta_on_the_wrong_base_waits_for_the_token(node: Node) -> None:
    gap = node.keys.delta(T0 + 1, T0 + 2, [(5, Status.INVALID)])
    refusal(node.handle("status_list_delta", gap, list=LIST), "status_delta", "base_mismatch")
    assert node.verifier.status.lookup(REF, NOW_S).value == "valid"
    revoked = StatusList(1024)
    revoked.set(5, Status.INVALID)
    success(
        node.handle("status_list", node.keys.token(T0 + 2, revoked), list=LIST),
        "status_list",
        T0 + 2,
    )
    assert node.verifier.status.lookup(REF, NOW_S).value == "invalid"


def test_a_delta_must_move_forward_and_come_from_the_list_signer(node: Node) -> None:
    node.handle("status_list_delta", node.keys.delta(T0, T0 + 5, [(5, 1)]), list=LIST)
    old = node.keys.delta(T0, T0 + 3, [(6, 1)])
    refusal(node.handle("status_list_delta", old, list=LIST), "status_delta", "rollback")
    forged = node.keys.delta(T0 + 5, T0 + 6, [(5, 0)], key=node.keys.stranger)
    refusal(node.handle("status_list_delta", forged, list=LIST), "status_delta", "unknown_signer")
    out_of_range = node.keys.delta(T0 + 5, T0 + 6, [(5000, 1)])
    refusal(node.handle("status_list_delta", out_of_range, list=LIST), "status_delta", "invalid")
    assert held_iat(node) == T0 + 5
    assert node.verifier.status.lookup(REF, NOW_S).value == "invalid"


def test_a_full_token_is_authoritative_over_deltas_at_the_same_version(node: Node) -> None:
    node.handle("status_list_delta", node.keys.delta(T0, T0 + 5, [(5, 1)]), list=LIST)
    refusal(
        node.handle("status_list", node.keys.token(T0 + 4), list=LIST), "status_list", "rollback"
    )
    success(node.handle("status_list", node.keys.token(T0 + 5), list=LIST), "status_list", T0 + 5)
    assert node.verifier.status.lookup(REF, NOW_S).value == "valid"  # the token says so
    assert not (node.directory / "status-delta" / LIST).exists()


# --- policy -----------------------------------------------------------------------------------


def test_a_newer_policy_is_installed_and_the_same_one_again_is_silent(node: Node) -> None:
    raw = node.keys.policy_doc(8)
    success(node.handle("policy", raw), "policy", 8)
    assert [loaded.document.version for loaded, _ in node.sink.policies] == [8]
    assert node.sink.policies[0][1].version == 8
    assert node.handle("policy", raw) == []
    assert len(node.sink.policies) == 1


def test_policy_refusals(node: Node) -> None:
    keys = node.keys
    refusal(node.handle("policy", b'{"version": 9}'), "policy", "malformed")  # unsigned
    refusal(node.handle("policy", keys.policy_doc(6)), "policy", "rollback")
    refusal(node.handle("policy", keys.policy_doc(7, site="other")), "policy", "rollback")
    refusal(node.handle("policy", keys.policy_doc(9, key=keys.stranger)), "policy", "bad_signature")
    refusal(node.handle("policy", keys.posture(9)), "policy", "wrong_type")
    assert node.sink.policies == []
    assert node.syncer.policy.document.version == 7


# --- posture ----------------------------------------------------------------------------------


def test_a_posture_maps_to_the_gate_state(node: Node) -> None:
    raw = node.keys.posture(3, posture="level2", buildings={"b6": "fire"}, drill=True)
    fields = success(node.handle("posture", raw), "posture", 3)
    assert fields["drill"] is True
    (applied,) = node.sink.postures
    state = applied.applied_to(GateState(occupancy={"H1": "b6-lobby"}))
    assert state.posture is Posture.LEVEL2
    assert state.posture_for("b6") is Posture.FIRE
    assert state.posture_for("b5") is Posture.LEVEL2
    assert state.occupancy == {"H1": "b6-lobby"}
    assert node.handle("posture", raw) == []


def test_posture_refusals(node: Node) -> None:
    keys = node.keys
    node.handle("posture", keys.posture(3))
    refusal(node.handle("posture", keys.posture(2, posture="fire")), "posture", "rollback")
    refusal(node.handle("posture", keys.posture(3, posture="fire")), "posture", "rollback")
    refusal(node.handle("posture", keys.posture(4, site="gwacheon")), "posture", "wrong_site")
    refusal(node.handle("posture", keys.posture(4, key=keys.stranger)), "posture", "unknown_signer")
    refusal(node.handle("posture", keys.anchors(4)), "posture", "wrong_type")
    assert [p.version for p in node.sink.postures] == [3]


# --- trust anchors ----------------------------------------------------------------------------


def test_trust_anchors_swap_the_trust_store_and_status_signers(node: Node) -> None:
    old_trust = node.verifier.trust
    raw = node.keys.anchors(1)
    success(node.handle("trust_anchors", raw), "trust_anchors", 1)
    assert node.verifier.trust is not old_trust
    assert [c.subject for c in node.verifier.trust.anchors] == [
        node.keys.world.iaca.certificate.subject
    ]
    assert node.verifier.status.keys_for("https://any/list") != ()
    assert node.handle("trust_anchors", raw) == []


def test_forged_or_incoherent_trust_anchors_change_nothing(node: Node) -> None:
    keys = node.keys
    trust = node.verifier.trust
    refusal(
        node.handle("trust_anchors", keys.anchors(2, key=keys.stranger)),
        "trust_anchors",
        "unknown_signer",
    )
    not_a_status_signer = [b64(keys.world.ds.der)]  # a DS lacks the status-list EKU
    incoherent = keys.anchors(2, status_list_signers=not_a_status_signer)
    refusal(node.handle("trust_anchors", incoherent), "trust_anchors", "invalid")
    refusal(
        node.handle("trust_anchors", keys.anchors(2, iaca=["AAAA"])), "trust_anchors", "invalid"
    )
    refusal(
        node.handle("trust_anchors", keys.anchors(2, site="daejeon")), "trust_anchors", "wrong_site"
    )
    assert node.verifier.trust is trust
    assert node.verifier.status.keys_for("https://any/list") == ()


# --- heartbeat --------------------------------------------------------------------------------


def test_snapshot_reports_versions_and_ages(node: Node) -> None:
    node.handle("posture", node.keys.posture(3))
    later = NOW + dt.timedelta(days=2)
    snap = node.syncer.snapshot(later, "b6-lobby")
    listed = Synced.model_validate(snap["status_lists"][LIST])
    assert listed.version == T0
    assert listed.stale is True  # 2 days > the default 24 h
    assert listed.age_s == later.timestamp() - T0
    assert Synced.model_validate(snap["policy"]).version == 7
    posture = Synced.model_validate(snap["posture"])
    assert (posture.version, posture.age_s) == (3, 2 * 86400)
    fresh = node.syncer.snapshot(NOW, "b6-lobby")["status_lists"][LIST]
    assert fresh == {"version": T0, "age_s": 60.0, "stale": False}
