"""Status freshness per zone: what a node does when its status list is old (docs/sync.md).

Called on every credential decision before the policy. The verifier already
denies with ``stale_status`` once a token is past its own ``exp`` or
``iat + ttl``; the zone's :class:`~gateway.node.policy.Staleness` adds the
site's own limit (``max_age_s``, counted from the held list's iat at the
node) and says what to do past either:

* ``deny``: a grant becomes a ``stale_status`` denial.
* ``last_known``: a ``stale_status`` denial becomes a grant, marked degraded,
  only if the status the node last knew for that index is VALID.

Fail closed: only a ``stale_status`` denial can turn into a grant. Status is
the verifier's last check (``verifier._finish``), so such a denial means
every other check passed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from gateway.credentials.decision import Decision, DenialReason
from gateway.credentials.status_list import Status, StatusCache
from gateway.node.policy import Staleness


@dataclass(frozen=True, slots=True)
class StalenessVerdict:
    decision: Decision
    degraded: bool  # granted on the last known status of a stale list
    status_age_s: float | None  # None: no status list was consulted
    stale: bool


def apply_staleness(
    decision: Decision, cache: StatusCache, staleness: Staleness, now: dt.datetime
) -> StalenessVerdict:
    unchanged = StalenessVerdict(decision, degraded=False, status_age_s=None, stale=False)
    if decision.status_uri is None:
        return unchanged  # refused before status, or no reference: nothing to age
    token = cache.token(decision.status_uri)
    if token is None:
        return unchanged  # the verifier already said unknown_status
    age = max(0.0, now.timestamp() - token.issued_at)
    stale = age > staleness.max_age_s or decision.reason is DenialReason.STALE_STATUS
    verdict = StalenessVerdict(decision, degraded=False, status_age_s=age, stale=stale)
    if not stale:
        return verdict
    if staleness.on_stale == "deny":
        if not decision.granted:
            return verdict  # keep the verifier's own reason
        detail = f"status list is {age:.0f} s old; this zone allows {staleness.max_age_s} s"
        denied = replace(decision, granted=False, reason=DenialReason.STALE_STATUS, detail=detail)
        return replace(verdict, decision=denied)
    if decision.granted:
        return replace(verdict, degraded=True)  # past the zone's age, inside the token's ttl
    if decision.reason is not DenialReason.STALE_STATUS or decision.status_index is None:
        return verdict
    if token.lookup(decision.status_index) is not Status.VALID:
        return verdict
    detail = f"last known status VALID, list {age:.0f} s old"
    granted = replace(decision, granted=True, reason=None, detail=detail)
    return replace(verdict, decision=granted, degraded=True)
