"""Trend arrows, sparklines and threshold levels: small pure functions."""

from __future__ import annotations

import math
from collections.abc import Sequence

from handlers.digests.model import Level

UP, DOWN, FLAT = "↑", "↓", "→"
_BARS = "▁▂▃▄▅▆▇█"


def trend(current: float | None, previous: float | None, *, tolerance: float = 0.1) -> str:
    """↑/↓ when `current` moved more than `tolerance` (relative) from `previous`, else →."""
    if current is None or previous is None or math.isnan(current) or math.isnan(previous):
        return ""
    scale = max(abs(current), abs(previous))
    if scale < 1e-12 or abs(current - previous) <= tolerance * scale:
        return FLAT
    return UP if current > previous else DOWN


def sparkline(values: Sequence[float]) -> str:
    """Unicode bars scaled between the series' min and max (gaps as spaces)."""
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return ""
    low, high = min(finite), max(finite)
    span = high - low
    out = []
    for v in values:
        if math.isnan(v):
            out.append(" ")
        elif span <= 1e-12:
            out.append(_BARS[0])
        else:
            out.append(_BARS[min(len(_BARS) - 1, int((v - low) / span * (len(_BARS) - 1) + 0.5))])
    return "".join(out)


def threshold_level(value: float | None, *, amber: float | None, red: float | None) -> Level:
    """RED at or above `red`, AMBER at or above `amber`, else GREEN."""
    if value is None or math.isnan(value):
        return Level.GREEN
    if red is not None and value >= red:
        return Level.RED
    if amber is not None and value >= amber:
        return Level.AMBER
    return Level.GREEN
