"""Scheduled incident work: automated status digests (and late header pins)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from bot import outbox
from bot.context import Runtime
from bot.i18n import translator
from handlers.incidents import render, service
from handlers.incidents.policy import IncidentPolicy, is_stale, load_incident_policy, status_slot
from storage import incidents as repo
from storage.db import unit_of_work

log = logging.getLogger(__name__)
JOB_NAME = "incidents.status_posts"
JOB_SECONDS = 60


def post_status_updates(
    runtime: Runtime, now: datetime, *, policy: IncidentPolicy | None = None
) -> int:
    """Post due status digests for every open incident; returns how many were posted.

    A slot (declared_at + k·interval) is claimed with compare-and-set before posting, so
    replicas or a re-run for the same `now` never post twice.
    """
    policy = policy or load_incident_policy()
    posted = 0
    with unit_of_work(runtime.engine) as s:
        candidates = repo.open_incidents(s)
    for inc in candidates:
        if not inc.header_pinned:
            service.pin_header_with(runtime, inc)
        slot = status_slot(policy, inc.severity, inc.declared_at, now)
        if slot is None:
            continue
        with unit_of_work(runtime.engine) as s:
            if not repo.claim_status_slot(s, incident_id=inc.id or 0, slot=slot, now=now):
                continue
            last = inc.last_update_at or inc.declared_at
            stale = is_stale(policy, inc.severity, last, now)
            message = render.digest(translator(inc.locale), inc, now, stale=stale)
            key = outbox.enqueue(
                s,
                platform=inc.platform,
                op="post",
                channel_id=inc.channel_id or "",
                message=message,
            )
            if inc.announce_channel_id and inc.announce_key:
                outbox.enqueue(
                    s,
                    platform=inc.platform,
                    op="post",
                    channel_id=inc.announce_channel_id,
                    message=message,
                    thread_key=inc.announce_key,
                )
            repo.add_timeline(
                s,
                incident_id=inc.id or 0,
                kind="note",
                text=message.text + (" (stale)" if stale else ""),
                actor="copilot",
                at=now,
                message_key=key,
            )
        posted += 1
    if posted:
        runtime.wake_outbox()
    return posted


def status_job(ctx: Any) -> None:
    """Scheduler entry point (a JobContext): digests due at the run's slot."""
    post_status_updates(ctx.runtime, ctx.slot)


def register_jobs(scheduler: Any) -> None:
    """Run the status digests every minute (the scheduler elects one leader among replicas)."""
    scheduler.add_job(JOB_NAME, status_job, every=timedelta(seconds=JOB_SECONDS))
