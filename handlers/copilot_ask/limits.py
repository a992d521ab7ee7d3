"""Per-user and per-channel rate limits: token buckets (in process memory)."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field


@dataclass
class Bucket:
    """`capacity` tokens, refilled at `per_second`; `take` spends one if it can."""

    capacity: float
    per_second: float
    tokens: float = -1.0
    at: float = 0.0

    def take(self, now: float) -> float:
        """0.0 when a token was spent, else the seconds until one is available."""
        if self.tokens < 0:
            self.tokens, self.at = self.capacity, now
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.per_second)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.per_second


@dataclass(frozen=True)
class Decision:
    allowed: bool
    scope: str = ""  # user | channel
    retry_after: int = 0


@dataclass
class RateLimiter:
    """Two buckets per question: the asker's and the channel's."""

    user_capacity: float = 5
    user_per_minute: float = 2
    channel_capacity: float = 20
    channel_per_minute: float = 10
    _buckets: dict[str, Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _bucket(self, key: str, capacity: float, per_minute: float) -> Bucket:
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = Bucket(capacity, per_minute / 60.0)
        return b

    def check(self, *, user: str, channel: str, now: float) -> Decision:
        """Spend one token from both buckets, or say which one is empty and for how long."""
        with self._lock:
            ub = self._bucket("u:" + user, self.user_capacity, self.user_per_minute)
            cb = self._bucket("c:" + channel, self.channel_capacity, self.channel_per_minute)
            wait = ub.take(now)
            if wait:
                return Decision(False, "user", math.ceil(wait))
            wait = cb.take(now)
            if wait:
                ub.tokens = min(ub.capacity, ub.tokens + 1)  # refund: the question is not asked
                return Decision(False, "channel", math.ceil(wait))
            return Decision(True)
