"""Keep the acknowledgements fast under overload: fewer handlers run while the loop lags.

Acks (record in the inbox, answer 200) run on the event loop; handlers run in threads. In one
Python process they share the GIL, so when more events arrive than the process can handle, the
handler threads would take the loop's turns and acks would wait seconds (Slack gives up after
3). The loop's lag — how late a short timer fires — says when that starts. While it is high,
the number of handlers allowed to run halves (down to one); while it is low, it grows back by
one. Events waiting for a turn are already durable in the inbox, so nothing is lost: the backlog
waits, the acks don't.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType

# The ack target is p99 <= 5 ms, so the loop must be defended well before it lags that much:
# at 200 commands/s a 5 ms threshold let the limit stay at 16 threads (ack p99 9-10 ms in
# bench/ack.py), 2 ms keeps it near what the load needs (6-7 ms in alternating single runs).
HIGH_LAG = 0.002  # s: halve the limit
LOW_LAG = 0.0005  # s: grow it by one
TICK = 0.025  # s between lag samples


class AdaptiveLimit:
    """An async concurrency limit between `low` and `high`, moved by `observe(lag)`."""

    def __init__(self, high: int, low: int = 1) -> None:
        self.high, self.low = high, max(1, low)
        self.limit = high
        self.running = 0
        self._cond = asyncio.Condition()

    async def __aenter__(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self.running < self.limit)
            self.running += 1

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        async with self._cond:
            self.running -= 1
            self._cond.notify(1)

    def target(self, lag: float) -> int:
        """The next limit for a lag sample: multiplicative decrease, additive increase."""
        if lag > HIGH_LAG:
            return max(self.low, self.limit // 2)
        if lag < LOW_LAG:
            return min(self.high, self.limit + 1)
        return self.limit

    async def observe(self, lag: float) -> int:
        new = self.target(lag)
        if new != self.limit:
            async with self._cond:
                grew = new - self.limit
                self.limit = new
                if grew > 0:
                    self._cond.notify(grew)
        return self.limit


async def watch_lag(
    limit: AdaptiveLimit, on_sample: Callable[[float, int], None] | None = None
) -> None:
    """Sample the loop's lag every TICK and move the limit (runs until cancelled)."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(TICK)
        lag = max(0.0, loop.time() - start - TICK)
        current = await limit.observe(lag)
        if on_sample is not None:
            on_sample(lag, current)
