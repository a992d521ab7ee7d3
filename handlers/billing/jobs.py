"""Scheduled billing work: refresh from BILLING_SOURCE, the anomaly scan, the freshness alarm.

One job (`billing:refresh`) every `BILLING_REFRESH_MINUTES` on the scheduler's leader:
1. ingest new or changed files under BILLING_SOURCE (each file in its own transaction;
   unchanged content is skipped);
2. scan for anomalies and post each NEW one once to the FinOps channel, with Acknowledge /
   Not an anomaly buttons (the compare-and-set on `notified_at` commits with the run);
3. when the newest charge is older than `BILLING_STALE_HOURS`, post one freshness alarm per
   stale episode (the outbox key names the newest charge, so later runs see it was sent).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from bot import outbox
from bot.events import ChannelRef, Platform
from bot.i18n import translator
from handlers.billing import anomalies, queries, render
from handlers.billing.commands import refresh_from_source
from handlers.billing.options import from_settings

if TYPE_CHECKING:
    from bot.scheduler import JobContext, Scheduler

log = logging.getLogger(__name__)
FALLBACK_CHANNEL = "finops"


class JobId(StrEnum):
    REFRESH = "billing:refresh"


def register_jobs(scheduler: Scheduler) -> None:
    """Refresh, scan and freshness check every BILLING_REFRESH_MINUTES (default 15)."""
    minutes = getattr(scheduler.runtime.settings, "billing_refresh_minutes", 15) or 15
    scheduler.add_job(JobId.REFRESH, refresh_job, every=timedelta(minutes=int(minutes)))


def finops_channel(runtime: Any) -> ChannelRef | None:
    """COPILOT_FINOPS_CHANNEL (or a channel named `finops`) on the first configured platform."""
    name = runtime.settings.copilot_finops_channel or FALLBACK_CHANNEL
    for platform in (Platform.SLACK, Platform.MATTERMOST, Platform.LOCAL):
        api = runtime.apis.get(platform)
        if api is None:
            continue
        try:
            found = api.find_channel(name)
        except Exception:  # a chat API outage must not lose the run's ingest
            log.warning("finops channel lookup failed", exc_info=True)
            found = None
        return found or ChannelRef(platform=platform, id=name.lstrip("#"))
    return None


def refresh_job(ctx: JobContext) -> None:
    """Scheduler entry point: ingest, then alert on new anomalies and stale data."""
    runtime = ctx.runtime
    settings = runtime.settings
    report = refresh_from_source(runtime.engine, settings)
    if report is not None:
        rejected = [f for f in report.files if f.status == "rejected"]
        for f in rejected:
            log.warning("billing file rejected", extra={"file": f.name, "error": f.error})
    options = from_settings(settings)
    tr = translator(settings.copilot_default_locale)
    now = ctx.now()
    channel = finops_channel(runtime)
    with ctx.session() as s:
        found = anomalies.scan_new_anomalies(s, now, options)
        f = queries.freshness(s, now=now, threshold=options.stale_after)
        if channel is None:
            return
        for a in found:
            ctx.post(
                platform=channel.platform,
                channel_id=channel.id,
                message=render.anomaly_alert(a, tr.t, tr.locale),
                key=f"billing-anomaly-{a.id}",
            )
        if f.stale:
            key = "billing-stale-" + (
                f"{f.newest_charge:%Y%m%dT%H%M}" if f.newest_charge else "none"
            )
            if outbox.find(s, key) is None:
                ctx.post(
                    platform=channel.platform,
                    channel_id=channel.id,
                    message=render.freshness_message(f, tr.t, tr.locale, now),
                    key=key,
                )
