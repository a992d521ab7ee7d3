"""A module-shared stack with the known estate backfilled and two live alerts."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from handlers.digests import DigestConfig, load_config
from tests.handlers.digests.known import ALERT_RULES, KNOWN
from tests.harness.estate import estate_openmetrics
from tests.harness.promstack import Exporter, PromStack, StackConfig


@pytest.fixture(scope="module")
def known_now() -> datetime:
    """The instant the backfilled data ends (a whole minute, a little in the past)."""
    return datetime.fromtimestamp(int(time.time()) // 60 * 60 - 60, UTC)


@pytest.fixture(scope="module")
def known_stack(
    known_now: datetime,
    module_exporter: Exporter,
    module_promstack_factory,  # type: ignore[no-untyped-def]
) -> PromStack:
    module_exporter.set("demo_down", {"service": "checkout"}, 1)
    module_exporter.set("demo_slow", {"service": "cart"}, 1)
    stack = module_promstack_factory(
        StackConfig(scrape_targets=[f"127.0.0.1:{module_exporter.port}"], rules=ALERT_RULES),
        backfill=[estate_openmetrics(KNOWN, known_now.timestamp())],
    )
    stack.wait_for_firing("CheckoutDown")
    stack.wait_for_firing("CartSlow")
    return stack


@pytest.fixture
def config() -> DigestConfig:
    cfg = load_config()
    cfg.slo.targets["cart"] = 0.99
    return cfg
