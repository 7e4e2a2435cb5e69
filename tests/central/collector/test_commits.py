"""The commit signal: a commit wakes every waiting feed at once; the poll stays the bound."""

from __future__ import annotations

import asyncio

from gateway.central.collector.commits import CommitSignal


async def test_a_commit_wakes_every_waiter_long_before_its_poll() -> None:
    signal = CommitSignal()
    waiters = [asyncio.create_task(signal.wait(600)) for _ in range(3)]
    await asyncio.sleep(0)  # one loop turn: each waiter is now parked on the signal
    signal.notify()
    async with asyncio.timeout(5):  # against a 600 s poll: only the notify can end these
        await asyncio.gather(*waiters)


async def test_without_a_commit_the_wait_ends_at_the_poll_and_a_later_commit_is_fresh() -> None:
    signal = CommitSignal()
    await signal.wait(0.01)  # nothing committed: the poll interval ends it
    later = asyncio.create_task(signal.wait(600))
    await asyncio.sleep(0)
    assert not later.done()  # the timed-out wait left nothing set behind
    signal.notify()
    async with asyncio.timeout(5):
        await later
