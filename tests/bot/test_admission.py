"""The handler limit: halves while the loop lags, grows back by one, never below one."""

from __future__ import annotations

import asyncio

from bot.admission import HIGH_LAG, LOW_LAG, AdaptiveLimit


async def test_lag_halves_the_limit_and_calm_grows_it_back() -> None:
    limit = AdaptiveLimit(16)
    seen = [await limit.observe(HIGH_LAG * 4) for _ in range(6)]
    assert seen == [8, 4, 2, 1, 1, 1]
    assert await limit.observe((HIGH_LAG + LOW_LAG) / 2) == 1  # in between: hold
    grown = [await limit.observe(0.0) for _ in range(20)]
    assert grown[:3] == [2, 3, 4] and grown[-1] == 16


async def test_only_limit_many_run_and_waiters_start_when_it_grows() -> None:
    limit = AdaptiveLimit(4)
    await limit.observe(1.0)
    await limit.observe(1.0)  # 4 → 2 → 1
    running: list[int] = []
    release = asyncio.Event()

    async def job(i: int) -> None:
        async with limit:
            running.append(i)
            await release.wait()

    tasks = [asyncio.create_task(job(i)) for i in range(5)]
    await asyncio.sleep(0.05)
    assert len(running) == 1 and limit.running == 1
    await limit.observe(0.0)  # 1 → 2: one more waiter starts
    await asyncio.sleep(0.05)
    assert len(running) == 2
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert sorted(running) == [0, 1, 2, 3, 4] and limit.running == 0
