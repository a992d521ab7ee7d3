"""1,000 services: one query per section, and a digest that stays readable within Slack limits."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from bot.clients.prometheus import PrometheusClient
from bot.messages import Section
from handlers.digests import DigestConfig, Level, build_digest, render_digest
from handlers.digests.render import MAX_BLOCKS, MAX_SECTION_CHARS
from tests.harness.estate import estate_openmetrics, large_estate
from tests.harness.promstack import PromStack, StackConfig

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]


def t(s: str, **kw: object) -> str:
    return s.format(**kw)


@pytest.fixture(scope="module")
def large(module_promstack_factory) -> tuple[PromStack, datetime]:  # type: ignore[no-untyped-def]
    now = datetime.fromtimestamp(int(time.time()) // 60 * 60 - 60, UTC)
    stack = module_promstack_factory(
        StackConfig(with_alertmanager=False),
        backfill=[estate_openmetrics(large_estate(1000), now.timestamp())],
    )
    return stack, now


def test_thousand_services_digest(large: tuple[PromStack, datetime], config: DigestConfig) -> None:
    stack, now = large
    prom = PrometheusClient(stack.prometheus_url, timeout=30)
    digest = build_digest(prom=prom, alertmanager=None, config=config, window="1h", now=now)

    # alerts (ALERTS fallback), errors, latency, slo, saturation: one query each
    assert digest.query_count == 5
    assert digest.status is Level.RED

    errors = digest.section("errors")
    # ratios: 10 services at 8% (red), 40 at 2% (amber), 800 small, 150 exactly zero (left out)
    assert errors.total == 1000
    assert (len(errors.rows), errors.more, errors.breaching) == (5, 845, 50)
    assert [r.key for r in errors.rows] == [f"svc-{i:04d}" for i in (0, 100, 200, 300, 400)]
    assert all(r.level is Level.RED for r in errors.rows)
    assert len(errors.problems) == 50  # the snapshot keeps every breaching service

    slo = digest.section("slo")
    assert slo.total == 1000
    # 8% and 2% error ratios both burn a 99.9% budget faster than 14.4x
    assert sum(1 for lv in slo.problems.values() if lv is Level.RED) == 50

    latency = digest.section("latency")
    assert latency.total == 1000 and latency.breaching == 25  # every 40th service got slow

    message = render_digest(digest, t)
    assert len(message.blocks) <= MAX_BLOCKS
    sections = [b for b in message.blocks if isinstance(b, Section)]
    assert all(len(b.text) <= MAX_SECTION_CHARS for b in sections)
    errors_text = next(b.text for b in sections if "Top error rates" in b.text)
    assert "50 of 1000 over threshold" in errors_text
    assert errors_text.endswith("_and 845 more_")
    assert len(errors_text.splitlines()) == 1 + 5 + 1
