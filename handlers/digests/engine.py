"""Build a status digest: run every section (in parallel), tolerate failures, diff, rate."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from bot.clients.alertmanager import AlertmanagerClient
from bot.clients.errors import TelemetryUnavailable
from bot.clients.prometheus import PrometheusClient
from handlers.digests.config import DigestConfig, SectionConfig, parse_window
from handlers.digests.model import Change, Digest, Level, SectionProvider, SectionResult, worst
from handlers.digests.sections import BUILDERS, Ctx


def _run_section(
    ctx: Ctx, section: SectionConfig, providers: Mapping[str, SectionProvider]
) -> SectionResult | None:
    try:
        if section.kind == "provider":
            provider = providers.get(section.id)
            if provider is None:
                return None  # not wired (e.g. billing not configured): leave the section out
            result = provider(ctx.span, ctx.now).model_copy(deep=True)
            result.problems = result.problems or {
                r.key: r.level for r in result.rows if r.level is not Level.GREEN
            }
            result.breaching = result.breaching or len(result.problems)
            result.level = worst([result.level, *result.problems.values()])
        else:
            result = BUILDERS[section.kind](ctx, section)
    except TelemetryUnavailable as exc:
        result = SectionResult(available=False, reason=f"{exc.source}: {exc.reason}")
    except Exception as exc:  # a provider's bug must not cost the whole digest
        result = SectionResult(available=False, reason=f"{type(exc).__name__}: {exc}"[:300])
    result.id, result.title = section.id, section.title
    result.kind = section.kind
    if not result.available:
        result.rows, result.problems, result.breaching = [], {}, 0
        result.level = Level(ctx.config.unavailable_level)
        return result
    top_n = section.top_n or ctx.config.top_n
    result.total = result.total or len(result.rows)
    result.more = max(len(result.rows) - top_n, 0) + result.more
    result.rows = result.rows[:top_n]
    return result


def diff(current: Digest, previous: Digest | None) -> list[Change]:
    """Changes since `previous`: status, sections lost/recovered, rows new/worse/better/resolved."""
    if previous is None:
        return []
    changes: list[Change] = []
    if current.status is not previous.status:
        changes.append(Change(kind="status", level=current.status, previous_level=previous.status))
    before = {s.id: s for s in previous.sections}
    worse: list[Change] = []
    better: list[Change] = []
    for sec in current.sections:
        old = before.get(sec.id)
        if old is None:
            continue
        sid, title = sec.id, sec.title
        if old.available and not sec.available:
            changes.append(Change(kind="unavailable", section=sid, section_title=title))
            continue
        if not old.available and sec.available:
            changes.append(Change(kind="recovered", section=sid, section_title=title))
            continue
        if not sec.available:
            continue
        for key, level in sec.problems.items():
            was = old.problems.get(key)
            if was is None:
                worse.append(
                    Change(kind="new", key=key, level=level, section=sid, section_title=title)
                )
            elif level.rank > was.rank:
                worse.append(
                    Change(
                        kind="worse",
                        key=key,
                        level=level,
                        previous_level=was,
                        section=sid,
                        section_title=title,
                    )
                )
            elif level.rank < was.rank:
                better.append(
                    Change(
                        kind="better",
                        key=key,
                        level=level,
                        previous_level=was,
                        section=sid,
                        section_title=title,
                    )
                )
        for key, was in old.problems.items():
            if key not in sec.problems:
                better.append(
                    Change(
                        kind="resolved",
                        key=key,
                        previous_level=was,
                        section=sid,
                        section_title=title,
                    )
                )
    worse.sort(key=lambda c: (-(c.level.rank if c.level else 0), c.section, c.key))
    better.sort(key=lambda c: (c.section, c.key))
    return changes + worse + better


def build_digest(
    *,
    prom: PrometheusClient | None,
    alertmanager: AlertmanagerClient | None,
    config: DigestConfig,
    window: str,
    service: str | None = None,
    now: datetime,
    providers: Mapping[str, SectionProvider] | None = None,
    previous: Digest | None = None,
    sections: list[str] | None = None,
    max_workers: int = 4,
) -> Digest:
    """Build the digest for `window` ending at `now`; failing sections become unavailable."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    ctx = Ctx(
        prom=prom,
        alertmanager=alertmanager,
        config=config,
        window=window,
        span=parse_window(window),
        service=service or None,
        now=now,
    )
    wanted = config.enabled_sections(sections)
    start_queries = prom.query_count if prom is not None else 0
    with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
        results = list(pool.map(lambda s: _run_section(ctx, s, providers or {}), wanted))
    built = [r for r in results if r is not None]
    status = worst([s.level for s in built])
    digest = Digest(
        generated_at=now,
        window=window,
        service=ctx.service,
        status=status,
        status_sections=[s.id for s in built if s.level is status and status is not Level.GREEN],
        sections=built,
        has_previous=previous is not None,
        previous_at=previous.generated_at if previous else None,
        query_count=(prom.query_count - start_queries) if prom is not None else 0,
    )
    digest.changes = diff(digest, previous)
    return digest
