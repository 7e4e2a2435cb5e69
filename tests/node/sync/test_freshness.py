"""Per-zone staleness: deny or grant on the last known VALID status, never anything else."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.credentials.decision import CredentialKind, Decision, DenialReason
from gateway.credentials.status_list import Status, StatusCache, StatusList
from gateway.node.policy import Staleness
from gateway.node.sync import apply_staleness
from tests.credentials.conftest import NOW, STATUS_URI
from tests.node.sync.conftest import Keys

ISSUED = int(NOW.timestamp()) - 600
PATTERN = [Status.VALID, Status.INVALID, Status.SUSPENDED, Status.VALID]


@pytest.fixture(scope="module")
def cache(keys: Keys) -> StatusCache:
    statuses = StatusList(16)
    for index in range(16):
        statuses.set(index, PATTERN[index % 4])
    cache = StatusCache({STATUS_URI: keys.world.status_signer.key.public_key()})
    cache.apply(keys.token(ISSUED, statuses), int(NOW.timestamp()))
    return cache


def decision(granted: bool, reason: DenialReason | None = None, index: int = 0) -> Decision:
    return Decision(
        granted=granted,
        kind=CredentialKind.CARD,
        reason=reason,
        status_uri=STATUS_URI,
        status_index=index,
        assurance="static",
    )


def test_deny_turns_an_old_list_into_a_stale_status_denial(cache: StatusCache) -> None:
    verdict = apply_staleness(decision(True), cache, Staleness(max_age_s=300), NOW)
    assert verdict.decision.reason is DenialReason.STALE_STATUS
    assert not verdict.decision.granted
    assert (verdict.stale, verdict.degraded, verdict.status_age_s) == (True, False, 600.0)
    fresh = apply_staleness(decision(True), cache, Staleness(max_age_s=3600), NOW)
    assert fresh.decision.granted
    assert (fresh.stale, fresh.degraded) == (False, False)


def test_last_known_grants_only_a_last_known_valid_credential(cache: StatusCache) -> None:
    rule = Staleness(max_age_s=300, on_stale="last_known")
    stale_valid = apply_staleness(decision(False, DenialReason.STALE_STATUS, 0), cache, rule, NOW)
    assert stale_valid.decision.granted
    assert stale_valid.decision.assurance == "static"  # carried from the verifier's denial
    assert stale_valid.degraded
    stale_revoked = apply_staleness(decision(False, DenialReason.STALE_STATUS, 1), cache, rule, NOW)
    assert not stale_revoked.decision.granted
    old_but_granted = apply_staleness(decision(True), cache, rule, NOW)
    assert old_but_granted.decision.granted
    assert old_but_granted.degraded


def test_no_token_or_no_reference_leaves_the_decision_alone(cache: StatusCache) -> None:
    unknown = dataclasses.replace(
        decision(False, DenialReason.UNKNOWN_STATUS), status_uri="https://elsewhere/1"
    )
    rule = Staleness(max_age_s=60, on_stale="last_known")
    assert apply_staleness(unknown, cache, rule, NOW).decision is unknown
    early = dataclasses.replace(decision(False, DenialReason.EXPIRED), status_uri=None)
    verdict = apply_staleness(early, cache, rule, NOW)
    assert (verdict.decision, verdict.status_age_s, verdict.stale) == (early, None, False)


@given(
    granted=st.booleans(),
    reason=st.one_of(st.none(), st.sampled_from(list(DenialReason))),
    index=st.one_of(st.none(), st.integers(-2, 40)),
    uri=st.sampled_from([STATUS_URI, None, "https://elsewhere/1"]),
    max_age=st.integers(60, 30 * 24 * 3600),
    on_stale=st.sampled_from(["deny", "last_known"]),
    later=st.integers(-3600, 40 * 24 * 3600),
)
def test_staleness_never_grants_what_the_verifier_denied_otherwise(
    cache: StatusCache,
    granted: bool,
    reason: DenialReason | None,
    index: int | None,
    uri: str | None,
    max_age: int,
    on_stale: str,
    later: int,
) -> None:
    before = Decision(
        granted=granted,
        kind=CredentialKind.MOBILE,
        reason=None if granted else (reason or DenialReason.MALFORMED),
        status_uri=uri,
        status_index=index,
    )
    rule = Staleness.model_validate({"max_age_s": max_age, "on_stale": on_stale})
    now = NOW + dt.timedelta(seconds=later)
    after = apply_staleness(before, cache, rule, now).decision
    if after.granted and not before.granted:
        assert before.reason is DenialReason.STALE_STATUS
        assert on_stale == "last_known"
        token = cache.token(STATUS_URI)
        assert uri == STATUS_URI
        assert token is not None
        assert index is not None
        assert token.lookup(index) is Status.VALID
    if on_stale == "deny" and after.granted:
        assert before.granted
        assert now.timestamp() - ISSUED <= max_age or uri != STATUS_URI
