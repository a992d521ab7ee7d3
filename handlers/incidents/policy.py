"""Incident and alert policy: YAML data plus pure decision functions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

POLICIES = Path(__file__).resolve().parents[2] / "policies"


@dataclass(frozen=True)
class IncidentPolicy:
    default_severity: int = 3
    status_interval_minutes: dict[int, int] = field(default_factory=dict)
    stale_after_minutes: dict[int, int] = field(default_factory=dict)
    redeclare_window_minutes: int = 10

    def interval(self, severity: int) -> timedelta | None:
        """The automated status period for a severity, None when it gets none."""
        minutes = self.status_interval_minutes.get(severity, 0)
        return timedelta(minutes=minutes) if minutes > 0 else None

    def stale_after(self, severity: int) -> timedelta:
        minutes = self.stale_after_minutes.get(severity)
        if minutes is None:
            minutes = self.status_interval_minutes.get(severity) or 60
        return timedelta(minutes=minutes)


@dataclass(frozen=True)
class AutoDeclareRule:
    name: str
    match: dict[str, str]
    severity: int = 1


@dataclass(frozen=True)
class AlertPolicy:
    auto_declare: tuple[AutoDeclareRule, ...] = ()
    service_label: str = "service"
    silence_hours: float = 2.0


@dataclass(frozen=True)
class Decision:
    ok: bool
    reason: str
    rule: AutoDeclareRule | None = None


def _int_map(raw: Any) -> dict[int, int]:
    return {int(k): int(v or 0) for k, v in (raw or {}).items()}


@lru_cache(maxsize=4)
def load_incident_policy(path: Path | None = None) -> IncidentPolicy:
    """Read `policies/incidents.yaml` (or `path`)."""
    raw = yaml.safe_load((path or POLICIES / "incidents.yaml").read_text()) or {}
    return IncidentPolicy(
        default_severity=int(raw.get("default_severity", 3)),
        status_interval_minutes=_int_map(raw.get("status_interval_minutes")),
        stale_after_minutes=_int_map(raw.get("stale_after_minutes")),
        redeclare_window_minutes=int(raw.get("redeclare_window_minutes", 10)),
    )


@lru_cache(maxsize=4)
def load_alert_policy(path: Path | None = None) -> AlertPolicy:
    """Read `policies/alert_rules.yaml` (or `path`)."""
    raw = yaml.safe_load((path or POLICIES / "alert_rules.yaml").read_text()) or {}
    rules = tuple(
        AutoDeclareRule(
            name=str(r.get("name", f"rule-{i}")),
            match={str(k): str(v) for k, v in (r.get("match") or {}).items()},
            severity=int(r.get("severity", 1)),
        )
        for i, r in enumerate(raw.get("auto_declare") or [])
    )
    return AlertPolicy(
        auto_declare=rules,
        service_label=str(raw.get("service_label", "service")),
        silence_hours=float(raw.get("silence_hours", 2)),
    )


def auto_declare(policy: AlertPolicy, labels: dict[str, str], status: str) -> Decision:
    """Whether a firing alert group with these (common) labels opens an incident."""
    if status != "firing":
        return Decision(False, "the group is not firing")
    for rule in policy.auto_declare:
        if rule.match and all(labels.get(k) == v for k, v in rule.match.items()):
            return Decision(True, f"rule {rule.name} matches", rule)
    return Decision(False, "no auto-declare rule matches")


def status_slot(
    policy: IncidentPolicy, severity: int, declared_at: datetime, now: datetime
) -> int | None:
    """The automated status slot due at `now` (1, 2, ...), or None when none is due."""
    interval = policy.interval(severity)
    if interval is None or now < declared_at + interval:
        return None
    return int((now - declared_at) / interval)


def is_stale(policy: IncidentPolicy, severity: int, last_update: datetime, now: datetime) -> bool:
    return now - last_update >= policy.stale_after(severity)
