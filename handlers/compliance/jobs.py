"""Scheduled compliance work: the hourly guardrail scan (changes only), weekly stats post."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from bot import outbox
from bot.clients.kubernetes import KubeError
from bot.context import Runtime
from bot.i18n import translator
from bot.scheduler import JobContext
from handlers.compliance import stats
from handlers.compliance.scan import changes_message, run_scan
from policies.guardrails import load_policy
from storage.db import unit_of_work

log = logging.getLogger(__name__)
SCAN_JOB = "compliance.scan"
STATS_JOB = "compliance.weekly_stats"


def _target(runtime: Runtime) -> tuple[str, str] | None:
    """(platform, channel) for compliance posts: COPILOT_ALERTS_CHANNEL on the first platform."""
    channel = runtime.settings.copilot_alerts_channel
    if not channel or not runtime.apis:
        return None
    platform = sorted(str(p) for p in runtime.apis)[0]
    if ":" in channel:  # "slack:C123" picks the platform explicitly
        platform, channel = channel.split(":", 1)
    return platform, channel


def scheduled_scan(runtime: Runtime, now: Any) -> bool:
    """Scan the cluster; post new and fixed violations (nothing when nothing changed)."""
    kube = runtime.services.kubernetes
    if kube is None:
        return False
    try:
        result = run_scan(
            runtime.engine,
            kube,
            load_policy(),
            namespace=None,
            trigger="schedule",
            actor="copilot",
            now=now,
        )
    except KubeError:
        log.warning("scheduled guardrail scan failed", exc_info=True)
        return False
    t = translator(runtime.settings.copilot_default_locale).t
    message = changes_message(result, t)
    target = _target(runtime)
    if message is None or target is None:
        return False
    with unit_of_work(runtime.engine) as s:
        outbox.enqueue(s, platform=target[0], op="post", channel_id=target[1], message=message)
    runtime.wake_outbox()
    return True


def weekly_stats(runtime: Runtime, now: Any) -> bool:
    """Post the last 7 days' figures and chart."""
    from handlers.compliance.commands import stats_message

    target = _target(runtime)
    if target is None:
        return False
    t = translator(runtime.settings.copilot_default_locale).t
    with unit_of_work(runtime.engine) as s:
        st = stats.compute(s, end=now, days=7)
        outbox.enqueue(
            s,
            platform=target[0],
            op="post",
            channel_id=target[1],
            message=stats_message(t, st, 7),
        )
    runtime.wake_outbox()
    return True


def scan_job(ctx: JobContext) -> None:
    scheduled_scan(ctx.runtime, ctx.slot)


def stats_job(ctx: JobContext) -> None:
    weekly_stats(ctx.runtime, ctx.slot)


def register_jobs(scheduler: Any) -> None:
    """Hourly scan; stats every Monday at 09:00 UTC."""
    scheduler.add_job(SCAN_JOB, scan_job, every=timedelta(hours=1))
    scheduler.add_job(STATS_JOB, stats_job, cron="0 9 * * 1")
