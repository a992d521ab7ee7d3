"""The known estate the digest tests run against (backfilled + live exporter alerts)."""

from __future__ import annotations

from tests.harness.estate import ServiceSpec

GIB = 1024**3

KNOWN = [
    ServiceSpec(
        "checkout",
        error_ratio=0.1,
        buckets={"0.1": 0.5, "0.5": 1.0},
        cpu_cores=0.9,
        memory_bytes=0.5 * GIB,
    ),
    ServiceSpec(
        "cart",
        error_ratio=0.02,
        error_ratio_before=0.0,
        buckets={"0.1": 0.0, "0.5": 0.0, "1": 1.0},
        buckets_before={"0.1": 0.5, "0.5": 1.0},
    ),
    ServiceSpec(
        "search", error_ratio=0.004, buckets={"0.1": 1.0}, cpu_cores=0.1, memory_bytes=1.0 * GIB
    ),
    ServiceSpec("static", error_ratio=0.0, buckets={"0.1": 1.0}),
]

ALERT_RULES = [
    {
        "name": "digest-tests",
        "rules": [
            {"alert": "CheckoutDown", "expr": "demo_down > 0", "labels": {"severity": "critical"}},
            {"alert": "CartSlow", "expr": "demo_slow > 0", "labels": {"severity": "warning"}},
        ],
    }
]
