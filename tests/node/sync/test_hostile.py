"""Arbitrary bytes on every sync topic: never raises, never changes state, always an alarm."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.credentials import cose
from gateway.credentials.cbor import encode
from tests.credentials.conftest import NOW, STATUS_URI
from tests.node.sync.conftest import LIST, Keys, boot

TOPICS = ["status_list", "status_list_delta", "policy", "posture", "trust_anchors"]


def near_misses() -> st.SearchStrategy[bytes]:
    """COSE_Sign1-shaped bytes with arbitrary headers and payloads (past the first parser)."""
    headers = st.dictionaries(st.sampled_from([1, 3, 4, 16]), st.one_of(st.binary(), st.text()))
    return st.builds(
        lambda h, p, s: cose.Sign1(encode(h), h, {}, p, s).encode(tagged=True),
        headers,
        st.one_of(st.binary(max_size=64), st.just(b'{"sub": "' + STATUS_URI.encode() + b'"}')),
        st.binary(min_size=64, max_size=64),
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(TOPICS),
    payload=st.one_of(st.binary(max_size=300), near_misses()),
)
def test_hostile_payloads_are_refused_and_change_nothing(
    keys: Keys, tmp_path: Path, name: str, payload: bytes
) -> None:
    node = boot(keys, tmp_path / "h")
    before = node.verifier.status.token(STATUS_URI)
    trust = node.verifier.trust
    params = {"list": LIST} if name.startswith("status") else {}
    events = node.handle(name, payload, **params)
    assert len(events) == 1
    assert events[0].kind == "security"
    assert events[0].fields["is_alarm"] is True
    assert node.verifier.status.token(STATUS_URI) is before
    assert node.verifier.trust is trust
    assert node.syncer.policy.document.version == 7
    assert node.syncer.posture is None
    assert node.sink.policies == []
    assert node.sink.postures == []
    assert (
        node.syncer.snapshot(NOW, "b6-lobby")["status_lists"][LIST]["version"] == before.issued_at
    )
