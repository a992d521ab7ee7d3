"""One builder per Prometheus-backed section kind; each runs ONE query across all services."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from string import Template
from urllib.parse import quote

from bot.clients.alertmanager import AlertmanagerClient
from bot.clients.errors import TelemetryUnavailable
from bot.clients.prometheus import PrometheusClient
from handlers.digests.config import DigestConfig, SectionConfig, parse_window
from handlers.digests.model import Level, Row, SectionResult, worst
from handlers.digests.trends import sparkline, threshold_level, trend


@dataclass(frozen=True)
class Ctx:
    """What every section builder needs."""

    prom: PrometheusClient | None
    alertmanager: AlertmanagerClient | None
    config: DigestConfig
    window: str
    span: timedelta
    service: str | None
    now: datetime

    def by(self, section: SectionConfig) -> str:
        return section.by or self.config.service_label

    def selector(self, section: SectionConfig) -> str:
        if not self.service:
            return ""
        value = self.service.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.by(section)}="{value}"'

    def render(self, template: str, section: SectionConfig, **extra: str) -> str:
        values = {
            "window": self.window,
            "by": self.by(section),
            "sel": self.selector(section),
            "w": self.window,
            "q": "0.99",
            "offset": "",
            **extra,
        }
        try:
            return " ".join(Template(template).substitute(values).split())
        except (KeyError, ValueError) as exc:
            raise TelemetryUnavailable("config", f"bad query template: {exc}") from None

    def link(self, name: str) -> str | None:
        template = self.config.dashboards.get("service")
        return template.replace("{service}", quote(name, safe="")) if template else None

    def require_prom(self) -> PrometheusClient:
        if self.prom is None:
            raise TelemetryUnavailable("prometheus", "not configured")
        return self.prom


def _finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


def _keep(ctx: Ctx, key: str) -> bool:
    return not ctx.service or key == ctx.service


def _finish(result: SectionResult, rows: list[Row]) -> SectionResult:
    """Sort rows (worst level, then value), record problems and the level."""
    # rounded so float noise never reorders equal values: ties go by name, deterministically
    rows.sort(key=lambda r: (-r.level.rank, -round(r.value or 0.0, 9), r.key))
    result.rows = rows
    result.problems = {r.key: r.level for r in rows if r.level is not Level.GREEN}
    result.breaching = len(result.problems)
    result.level = worst([r.level for r in rows])
    return result


def build_alerts(ctx: Ctx, section: SectionConfig) -> SectionResult:
    """Firing alerts grouped by alertname: Alertmanager API, else Prometheus ALERTS."""
    result = SectionResult(kind=section.kind, link=ctx.config.dashboards.get("alerts"))
    label = ctx.config.service_label
    groups: dict[str, list[tuple[dict[str, str], datetime | None]]] = defaultdict(list)
    am_error: TelemetryUnavailable | None = None
    if ctx.alertmanager is not None:
        try:
            filters = [f'{label}="{ctx.service}"'] if ctx.service else None
            for alert in ctx.alertmanager.firing_alerts(filters=filters):
                groups[alert.labels.get("alertname", "?")].append((alert.labels, alert.starts_at))
        except TelemetryUnavailable as exc:
            am_error = exc
    if ctx.alertmanager is None or am_error is not None:
        if not section.fallback_query or ctx.prom is None:
            raise am_error or TelemetryUnavailable("alertmanager", "not configured")
        for s in ctx.prom.query(ctx.render(section.fallback_query, section), at=ctx.now):
            groups[s.labels.get("alertname", "?")].append((s.labels, None))
    rows: list[Row] = []
    for name, items in groups.items():
        severities = [i[0].get("severity", "") for i in items]
        level = worst([Level(section.severity_levels.get(s, "amber")) for s in severities])
        starts = [i[1] for i in items if i[1] is not None]
        members = sorted({i[0][label] for i in items if label in i[0]})
        age = max((ctx.now - min(starts)).total_seconds(), 0.0) if starts else None
        extra = {"age_seconds": age} if age is not None else {}
        rows.append(
            Row(
                key=name,
                label=name,
                value=float(len(items)),
                unit="count",
                level=level,
                members=members,
                extra=extra,
                link=result.link,
            )
        )
    result.total = sum(len(v) for v in groups.values())
    return _finish(result, rows)


def build_error_rate(ctx: Ctx, section: SectionConfig) -> SectionResult:
    """Error ratio per service over the window, vs. the previous window, with a sparkline."""
    prom = ctx.require_prom()
    points = max(section.sparkline_points, 2)
    # whole milliseconds so the last point lands exactly on `now`
    step = timedelta(milliseconds=int(ctx.span.total_seconds() * 1000 / (points - 1)))
    series = prom.query_range(
        ctx.render(section.query or "", section),
        start=ctx.now - step * (points - 1),
        end=ctx.now,
        step=step,
    )
    by = ctx.by(section)
    rows: list[Row] = []
    seen = 0
    for s in series:
        key = s.labels.get(by, "")
        values = [v for _, v in s.points]
        if not key or not _keep(ctx, key) or not values or not _finite(values[-1]):
            continue
        seen += 1
        current = values[-1]
        first_ts = s.points[0][0]
        previous = values[0] if abs(first_ts - (ctx.now - ctx.span).timestamp()) < 1 else None
        if previous is not None and not _finite(previous):
            previous = None
        if current <= 0 and (previous or 0) <= 0:
            continue
        rows.append(
            Row(
                key=key,
                label=key,
                value=current,
                previous=previous,
                unit="ratio",
                level=threshold_level(current, amber=section.amber, red=section.red),
                trend=trend(current, previous),
                sparkline=sparkline(values),
                link=ctx.link(key),
            )
        )
    result = SectionResult(kind=section.kind)
    result.total = seen
    return _finish(result, rows)


def build_latency(ctx: Ctx, section: SectionConfig) -> SectionResult:
    """p95 and p99 per service now, p99 in the previous window (`offset`), in one query."""
    prom = ctx.require_prom()
    template = section.query or ""
    parts = []
    for tag, q, offset in (
        ("p95", "0.95", ""),
        ("p99", "0.99", ""),
        ("p99_prev", "0.99", f"offset {ctx.window}"),
    ):
        inner = ctx.render(template, section, q=q, offset=offset)
        parts.append(f'label_replace({inner}, "quantile_tag", "{tag}", "", "")')
    by = ctx.by(section)
    values: dict[str, dict[str, float]] = defaultdict(dict)
    for s in prom.query(" or ".join(parts), at=ctx.now):
        key = s.labels.get(by, "")
        if key and _keep(ctx, key) and _finite(s.value):
            values[key][s.labels.get("quantile_tag", "")] = s.value
    rows: list[Row] = []
    for key, v in values.items():
        p99 = v.get("p99")
        if p99 is None:
            continue
        prev = v.get("p99_prev")
        level = threshold_level(p99, amber=section.amber, red=section.red)
        if section.regression and prev and prev > 0 and p99 / prev >= section.regression:
            level = worst([level, Level.AMBER])
        rows.append(
            Row(
                key=key,
                label=key,
                value=p99,
                previous=prev,
                unit="seconds",
                level=level,
                trend=trend(p99, prev),
                link=ctx.link(key),
                extra={k: x for k, x in v.items() if k != "p99"},
            )
        )
    result = SectionResult(kind=section.kind)
    result.total = len(rows)
    return _finish(result, rows)


def build_slo_burn(ctx: Ctx, section: SectionConfig) -> SectionResult:
    """Multi-window multi-burn-rate per service: one query returns every window's error ratio."""
    prom = ctx.require_prom()
    windows = sorted(
        {w for rule in section.windows for w in (rule.long, rule.short)}, key=parse_window
    )
    template = section.query or ""
    parts = [
        f'label_replace({ctx.render(template, section, w=w)}, "burn_window", "{w}", "", "")'
        for w in windows
    ]
    by = ctx.by(section)
    ratios: dict[str, dict[str, float]] = defaultdict(dict)
    for s in prom.query(" or ".join(parts), at=ctx.now):
        key = s.labels.get(by, "")
        if key and _keep(ctx, key) and _finite(s.value):
            ratios[key][s.labels.get("burn_window", "")] = s.value
    rows: list[Row] = []
    for key, by_window in ratios.items():
        target = ctx.config.slo.target(key)
        burn = {w: r / (1 - target) for w, r in by_window.items()}
        level = Level.GREEN
        fired: dict[str, float] = {}
        for rule in section.windows:
            long_b, short_b = burn.get(rule.long, 0.0), burn.get(rule.short, 0.0)
            if long_b >= rule.factor and short_b >= rule.factor:
                level = worst([level, Level(rule.level)])
                fired.setdefault("factor", rule.factor)
        top = max(burn.values(), default=0.0)
        if top < 1 and level is Level.GREEN:
            continue  # burning slower than the budget allows: not worth a line
        lead = section.windows[0].long if section.windows else windows[-1]
        rows.append(
            Row(
                key=key,
                label=key,
                value=burn.get(lead, top),
                unit="burn",
                level=level,
                link=ctx.link(key),
                extra={**{f"burn_{w}": b for w, b in burn.items()}, "target": target, **fired},
            )
        )
    result = SectionResult(kind=section.kind)
    result.total = len(ratios)
    return _finish(result, rows)


def build_saturation(ctx: Ctx, section: SectionConfig) -> SectionResult:
    """CPU and memory use as a fraction of limits for the top workloads."""
    prom = ctx.require_prom()
    by = ctx.by(section)
    usage: dict[str, dict[str, float]] = defaultdict(dict)
    for s in prom.query(ctx.render(section.query or "", section), at=ctx.now):
        key = s.labels.get(by, "")
        if key and _keep(ctx, key) and _finite(s.value):
            usage[key][s.labels.get("resource", "value")] = s.value
    rows = [
        Row(
            key=key,
            label=key,
            value=max(v.values()),
            unit="ratio",
            level=threshold_level(max(v.values()), amber=section.amber, red=section.red),
            link=ctx.link(key),
            extra=v,
        )
        for key, v in usage.items()
    ]
    result = SectionResult(kind=section.kind)
    result.total = len(rows)
    return _finish(result, rows)


BUILDERS: dict[str, Callable[[Ctx, SectionConfig], SectionResult]] = {
    "alerts": build_alerts,
    "error_rate": build_error_rate,
    "latency": build_latency,
    "slo_burn": build_slo_burn,
    "saturation": build_saturation,
}
