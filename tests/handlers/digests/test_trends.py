from __future__ import annotations

import math

from handlers.digests.model import Level
from handlers.digests.trends import sparkline, threshold_level, trend


def test_trend_arrows() -> None:
    assert trend(0.02, 0.0) == "↑"
    assert trend(0.01, 0.02) == "↓"
    assert trend(1.05, 1.0) == "→"
    assert trend(0.0, 0.0) == "→"
    assert trend(1.0, None) == ""
    assert trend(math.nan, 1.0) == ""


def test_sparkline_scales_between_min_and_max() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([3, 3, 3]) == "▁▁▁"
    assert sparkline([0, math.nan, 1]) == "▁ █"
    assert sparkline([]) == ""


def test_threshold_level() -> None:
    assert threshold_level(0.05, amber=0.01, red=0.05) is Level.RED
    assert threshold_level(0.01, amber=0.01, red=0.05) is Level.AMBER
    assert threshold_level(0.009, amber=0.01, red=0.05) is Level.GREEN
    assert threshold_level(None, amber=0.01, red=None) is Level.GREEN
