"""Over the radio: a lost phone is granted before the status update and refused after it."""

from __future__ import annotations

from simulator.site.run import Site, run_scenario
from tests.simulator.site.conftest import scenario_file


async def test_lost_phone_granted_before_the_update_refused_after() -> None:
    scenario = scenario_file("revocation")
    assert scenario.scenario.path == "radio"
    seen: list[Site] = []
    original = Site.close

    async def keep(site: Site) -> None:
        seen.append(site)
        await original(site)

    Site.close = keep  # type: ignore[method-assign]
    try:
        summary = await run_scenario(scenario)
    finally:
        Site.close = original  # type: ignore[method-assign]
    [site] = seen
    lost_at = next(r["at_s"] for r in summary["revocation"] if r["event"] == "lost")
    loser = site.population.cast["loser"].holder_id
    taps = [(t.at, t.granted, t.rule) for t in site.recorder.taps if t.holder_id == loser]
    before = [t for t in taps if t[0] < lost_at]
    after = [t for t in taps if t[0] > lost_at]
    assert before, taps
    assert all(granted for _at, granted, _rule in before), taps
    refused = [rule for _at, granted, rule in after if not granted]
    assert refused == ["credential:revoked", "credential:revoked"], taps  # lost, then the finder
    assert any(granted for _at, granted, _rule in after), taps  # the reissued phone
    assert summary["wrong"]["false_accepts"] == summary["wrong"]["false_rejects"] == 0
    assert summary["decisions"]["by_rule"]["credential:suspended"] == 1
    assert all(r["gates_updated"] == 1 for r in summary["revocation"])
    assert summary["latency_ms"]["p50"] > 1.0  # frames over the udp radio, not the fast path
