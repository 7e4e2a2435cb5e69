"""A rebooted node with no network decides with what it last synced, re-verified."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.credentials.decision import DenialReason
from gateway.credentials.status_list import Status, StatusReference
from gateway.credentials.verifier import MobilePresentation
from gateway.node.policy import Posture
from gateway.node.sync import SyncStore
from tests.credentials.conftest import NOW, STATUS_URI, Holder, transcript
from tests.node.sync.conftest import LIST, T0, Keys, Node, boot

NOW_S = int(NOW.timestamp())


def synced(node: Node, revoke: int = 0) -> None:
    keys = node.keys
    node.handle("trust_anchors", keys.anchors(1))
    node.handle("policy", keys.policy_doc(8))
    node.handle("posture", keys.posture(2, posture="lockdown"))
    node.handle("status_list", keys.token(T0 + 10), list=LIST)
    node.handle(
        "status_list_delta", keys.delta(T0 + 10, T0 + 11, [(revoke, Status.INVALID)]), list=LIST
    )
    node.handle(
        "status_list_delta",
        keys.delta(T0 + 11, T0 + 12, [(revoke + 1, Status.SUSPENDED)]),
        list=LIST,
    )


def test_restore_reinstalls_everything_and_decides_with_it(keys: Keys, tmp_path: Path) -> None:
    holder: Holder = keys.world.issue()
    first = boot(keys, tmp_path)
    synced(first, revoke=holder.index)
    rebooted = boot(keys, tmp_path)  # the config's files only: token T0, policy 7
    events = rebooted.syncer.restore(NOW)
    assert [(e.kind, e.fields["what"], e.fields["version"]) for e in events] == [
        ("sync", "trust_anchors", 1),
        ("sync", "policy", 8),
        ("sync", "posture", 2),
        ("sync", "status_list", T0 + 10),
        ("sync", "status_delta", T0 + 11),
        ("sync", "status_delta", T0 + 12),
    ]
    assert all(e.fields["restored"] for e in events)
    assert rebooted.sink.postures[0].posture is Posture.LOCKDOWN
    assert rebooted.syncer.policy.document.version == 8
    status = rebooted.verifier.status
    assert status.lookup(StatusReference(holder.index + 1, STATUS_URI), NOW_S).value == "suspended"
    session = transcript()
    decision = rebooted.verifier.verify(MobilePresentation(holder.present(session), session), NOW)
    assert decision.reason is DenialReason.REVOKED  # the delta, restored, still revokes
    assert rebooted.syncer.restore(NOW) == []  # everything is already installed


def test_restore_skips_quietly_what_the_config_superseded(keys: Keys, tmp_path: Path) -> None:
    first = boot(keys, tmp_path)
    first.handle("policy", keys.policy_doc(8))
    rebooted = boot(keys, tmp_path, config_policy=9)
    assert rebooted.syncer.restore(NOW) == []
    assert rebooted.syncer.policy.document.version == 9


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("policy", "policy"),
        ("posture", "posture"),
        ("trust_anchors", "trust_anchors"),
        (f"status-list/{LIST}", "status_list"),
        (f"status-delta/{LIST}", "status_delta"),
    ],
)
def test_a_corrupt_persisted_file_is_a_security_event_not_a_crash(
    keys: Keys, tmp_path: Path, name: str, what: str
) -> None:
    first = boot(keys, tmp_path)
    synced(first)
    path = tmp_path / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    rebooted = boot(keys, tmp_path)
    events = rebooted.syncer.restore(NOW)
    alarms = [e.fields for e in events if e.kind == "security"]
    assert len(alarms) == 1
    assert alarms[0]["what"] == what
    assert alarms[0]["restored"] is True
    assert alarms[0]["reason"] in {"malformed", "bad_signature", "invalid", "unknown_signer"}
    assert path.read_bytes() == bytes(data)  # left for an investigator


def test_store_saves_atomically_and_lists_only_its_own_names(tmp_path: Path) -> None:
    store = SyncStore(tmp_path / "s")
    store.save("policy", b"one")
    store.save("policy", b"two")
    store.save(f"status-list/{LIST}", b"t")
    (tmp_path / "s" / ".policy.tmp").write_bytes(b"half")  # a crash mid-write
    (tmp_path / "s" / "README").write_bytes(b"?")
    assert store.names() == ["policy", f"status-list/{LIST}"]
    assert store.load("policy") == b"two"
    assert store.load("posture") is None
    store.delete(f"status-list/{LIST}")
    store.delete(f"status-list/{LIST}")
    assert store.load(f"status-list/{LIST}") is None
    for bad in ("../etc/passwd", "status-list/../../x", "", "status-list/a/b", "Policy"):
        with pytest.raises(OSError, match="not a sync store name"):
            store.save(bad, b"x")


def test_a_failing_disk_installs_in_memory_and_raises_an_alarm(keys: Keys, tmp_path: Path) -> None:
    node = boot(keys, tmp_path / "d")
    (tmp_path / "d" / "status-list").write_bytes(b"a file where a folder should be")
    events = node.handle("status_list", keys.token(T0 + 10), list=LIST)
    assert [e.kind for e in events] == ["sync_error"]
    assert events[0].fields["is_alarm"] is True
    token = node.verifier.status.token(STATUS_URI)
    assert token is not None
    assert token.issued_at == T0 + 10
