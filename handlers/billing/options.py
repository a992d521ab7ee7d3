"""Billing tunables with defaults; `from_settings` reads optional overrides from Settings."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

DEFAULT_TAG_KEYS = ("env", "team", "app", "environment", "application", "business_unit")
_TAG_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


@dataclass(frozen=True)
class BillingOptions:
    """Tag keys rolled up at ingest, anomaly thresholds, freshness threshold."""

    tag_keys: tuple[str, ...] = DEFAULT_TAG_KEYS
    anomaly_k: float = 4.0
    anomaly_min_impact: float = 50.0
    anomaly_min_ratio: float = 0.25
    anomaly_lookback_days: int = 7
    stale_after: timedelta = field(default_factory=lambda: timedelta(hours=6))

    def __post_init__(self) -> None:
        bad = [k for k in self.tag_keys if not _TAG_KEY.match(k)]
        if bad:
            raise ValueError(f"invalid tag keys: {', '.join(bad)}")


def from_settings(settings: object) -> BillingOptions:
    """Options from optional `billing_*` settings attributes, defaults otherwise."""
    kw: dict[str, object] = {}
    keys = getattr(settings, "billing_tag_keys", None)
    if keys:
        items = keys.split(",") if isinstance(keys, str) else keys
        kw["tag_keys"] = tuple(str(k).strip() for k in items if str(k).strip())
    for name in ("anomaly_k", "anomaly_min_impact", "anomaly_min_ratio"):
        value = getattr(settings, f"billing_{name}", None)
        if value is not None:
            kw[name] = float(value)
    lookback = getattr(settings, "billing_anomaly_lookback_days", None)
    if lookback is not None:
        kw["anomaly_lookback_days"] = int(lookback)
    hours = getattr(settings, "billing_stale_hours", None)
    if hours is not None:
        kw["stale_after"] = timedelta(hours=float(hours))
    return BillingOptions(**kw)  # type: ignore[arg-type]
