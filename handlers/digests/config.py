"""Digest configuration: sections, their PromQL templates, thresholds, SLOs, dashboard links."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.i18n import N_

# titles of the default sections (policies/digests.yaml), for the translation catalogs
DEFAULT_TITLES = (
    N_("Firing alerts"),
    N_("Top error rates"),
    N_("Latency p95 / p99"),
    N_("SLO error-budget burn"),
    N_("Saturation (CPU / memory of limits)"),
    N_("Open incidents"),
    N_("Pending approvals"),
    N_("Yesterday's cost"),
)

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "policies" / "digests.yaml"

SectionKind = Literal["alerts", "error_rate", "latency", "slo_burn", "saturation", "provider"]

_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w)$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_window(text: str) -> timedelta:
    """Parse a PromQL duration like `30m`, `1h`, `7d`; ValueError with a clear message."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"window {text!r} must look like 30m, 1h, 6h or 1d")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


class BurnWindow(BaseModel):
    """One multi-window burn-rate rule: both windows above `factor` → `level`."""

    model_config = ConfigDict(extra="forbid")
    long: str
    short: str
    factor: float
    level: Literal["amber", "red"]


class SectionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    kind: SectionKind
    title: str
    enabled: bool = True
    query: str | None = None  # the section's PromQL template ($window, $by, $sel, $w)
    fallback_query: str | None = None  # alerts: Prometheus ALERTS when Alertmanager fails
    by: str | None = None  # grouping label; default: the config's service_label
    amber: float | None = None
    red: float | None = None
    regression: float | None = None  # latency: p99 now / p99 previous window ≥ this → amber
    top_n: int | None = None
    sparkline_points: int = 8
    windows: list[BurnWindow] = Field(default_factory=list)
    severity_levels: dict[str, Literal["green", "amber", "red"]] = Field(default_factory=dict)


class SloConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default_target: float = 0.999
    targets: dict[str, float] = Field(default_factory=dict)

    @field_validator("default_target")
    @classmethod
    def _in_range(cls, v: float) -> float:
        if not 0 < v < 1:
            raise ValueError("SLO target must be between 0 and 1 (e.g. 0.999)")
        return v

    def target(self, service: str) -> float:
        return self.targets.get(service, self.default_target)


class DigestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service_label: str = "service"
    top_n: int = 5
    timeout_seconds: float = 10.0
    unavailable_level: Literal["green", "amber", "red"] = "amber"
    dashboards: dict[str, str] = Field(default_factory=dict)  # service, alerts, section ids
    slo: SloConfig = Field(default_factory=SloConfig)
    sections: list[SectionConfig]

    @model_validator(mode="after")
    def _unique_ids(self) -> DigestConfig:
        ids = [s.id for s in self.sections]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate section ids: {', '.join(dupes)}")
        return self

    def enabled_sections(self, only: list[str] | None = None) -> list[SectionConfig]:
        """Enabled sections in order, optionally restricted to the ids in `only`."""
        return [s for s in self.sections if s.enabled and (only is None or s.id in only)]


def _merge(base: dict[str, Any], preset: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in preset.items():
        if key == "sections":
            continue
        merged[key] = value
    overrides: dict[str, dict[str, Any]] = preset.get("sections", {})
    merged["sections"] = [{**s, **overrides.get(s["id"], {})} for s in base["sections"]]
    return merged


def load_config(path: Path | None = None, *, preset: str | None = None) -> DigestConfig:
    """Load `policies/digests.yaml` (or `path`), applying the chosen exporter preset."""
    raw: dict[str, Any] = yaml.safe_load((path or DEFAULT_PATH).read_text())
    presets: dict[str, dict[str, Any]] = raw.pop("presets", {}) or {}
    chosen = preset or raw.pop("preset", None) or "generic"
    raw.pop("preset", None)
    if chosen != "generic":
        if chosen not in presets:
            raise ValueError(f"unknown digest preset {chosen!r}; known: {sorted(presets)}")
        raw = _merge(raw, presets[chosen])
    return DigestConfig.model_validate(raw)
