"""`/digest subscribe|list|unsubscribe`: scheduled digests per channel, run by the scheduler.

Each active subscription is a scheduler job `digest:<id>` (re-read from the database on every
lease tick, so a subscription made on any replica is picked up by the leader). A run builds the
digest, diffs it against the subscription's previous snapshot, posts it and keeps the snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from functools import partial

from sqlmodel import Session

from bot import crontab
from bot.context import Context, Runtime
from bot.i18n import N_, translator
from bot.messages import Context as Note
from bot.messages import Message, Section
from bot.router import Args, Opt, Router, UsageError
from bot.scheduler import JobContext, JobSpec, Scheduler
from handlers.digests.commands import CONFIG_KEY, PROVIDERS_KEY
from handlers.digests.config import DigestConfig, load_config, parse_window
from handlers.digests.engine import build_digest
from handlers.digests.model import Digest, SectionProvider
from handlers.digests.render import render_digest
from storage import digests as repo
from storage.models.digests import DigestSubscription
from storage.scheduler import slot_key

log = logging.getLogger(__name__)

JOB_PREFIX = "digest:"
MAX_PER_CHANNEL = 20


def register(router: Router) -> None:
    g = router.command("digest", help=N_("Status digests from Prometheus and Alertmanager"))
    g.sub(
        "subscribe",
        digest_subscribe,
        help=N_("Post the digest in this channel on a cron schedule"),
        usage='subscribe "0 9 * * 1-5" [--tz Europe/Moscow] [--sections alerts,errors] '
        "[--service NAME] [--window 1h]",
        options=[
            Opt("tz", help=N_("time zone of the schedule (default UTC)")),
            Opt("sections", help=N_("comma-separated section ids")),
            Opt("service", help=N_("only this service")),
            Opt("window", help=N_("look-back window, e.g. 30m, 1h, 1d")),
        ],
        min_args=1,
        max_args=6,
    )
    g.sub("list", digest_list, help=N_("This channel's digest subscriptions"), max_args=0)
    g.sub(
        "unsubscribe",
        digest_unsubscribe,
        help=N_("Stop a scheduled digest"),
        usage="unsubscribe ID",
        min_args=1,
        max_args=1,
    )


def register_jobs(scheduler: Scheduler) -> None:
    scheduler.add_source(partial(subscription_jobs, scheduler.default_grace, scheduler.runtime))


def _config(runtime: Runtime) -> DigestConfig:
    cfg = runtime.services.extra.get(CONFIG_KEY)
    return cfg if isinstance(cfg, DigestConfig) else load_config()


# -- commands -----------------------------------------------------------------------------
def digest_subscribe(ctx: Context, args: Args) -> Message | None:
    """Post the digest in this channel on a cron schedule."""
    expr = " ".join(args.positional)  # quoted or not: "0 9 * * 1-5" and 0 9 * * 1-5 both work
    tz = str(args.opt("tz") or "UTC")
    try:
        schedule = crontab.parse_schedule(expr, tz)
    except crontab.ScheduleError as exc:
        raise UsageError(exc.text(ctx.t)) from None
    window = str(args.opt("window") or "1h")
    try:
        parse_window(window)
    except ValueError:
        raise UsageError(
            ctx.t("Window “{window}” must look like 30m, 1h, 6h or 1d.", window=window[:20])
        ) from None
    sections = _sections(ctx, args.opt("sections"))
    service = str(args.opt("service"))[:255] if args.opt("service") else None
    platform, channel = str(ctx.event.platform), ctx.channel.id
    with ctx.session() as s:
        if len(repo.active_subscriptions(s, platform=platform, channel_id=channel)) >= (
            MAX_PER_CHANNEL
        ):
            raise UsageError(
                ctx.t(
                    "This channel already has {n} digest subscriptions; unsubscribe one first.",
                    n=MAX_PER_CHANNEL,
                )
            )
        sub = repo.create_subscription(
            s,
            platform=platform,
            channel_id=channel,
            cron=schedule.expr,
            tz=tz,
            sections=sections,
            service=service,
            window=window,
            locale=ctx.locale,
            created_by=ctx.actor.id,
            now=ctx.now(),
        )
        text = ctx.t(
            "📅 Digest #{id} scheduled here: “{cron}” ({tz}). Next: {next}.",
            id=sub.id,
            cron=sub.cron,
            tz=tz,
            next=_next_run(ctx, sub),
        )
        ctx.reply(
            Message(
                text=text,
                blocks=[
                    Section(text=text),
                    Note(text=_describe(ctx, sub) + " · " + _unsub_hint(ctx, sub)),
                ],
            )
        )
    return None


def digest_list(ctx: Context, args: Args) -> Message | None:
    """This channel's digest subscriptions."""
    with ctx.session() as s:
        subs = repo.active_subscriptions(
            s, platform=str(ctx.event.platform), channel_id=ctx.channel.id
        )
    if not subs:
        text = ctx.t(
            'No digest subscriptions in this channel. Add one: /digest subscribe "0 9 * * 1-5"'
        )
        ctx.answer(Message.plain(text), ephemeral=True)
        return None
    lines = [
        ctx.t(
            "*#{id}* “{cron}” ({tz}) — next {next} · {details}",
            id=sub.id,
            cron=sub.cron,
            tz=sub.tz,
            next=_next_run(ctx, sub),
            details=_describe(ctx, sub),
        )
        for sub in subs
    ]
    title = ctx.t("Digest subscriptions in this channel: {n}", n=len(subs))
    ctx.answer(
        Message(text=title, blocks=[Section(text=f"*{title}*"), Section(text="\n".join(lines))]),
        ephemeral=True,
    )
    return None


def digest_unsubscribe(ctx: Context, args: Args) -> Message | None:
    """Stop a scheduled digest."""
    raw = args.positional[0].lstrip("#")
    if not raw.isdigit():
        raise UsageError(
            ctx.t("“{value}” is not a subscription id; see /digest list.", value=raw[:20]),
            usage="unsubscribe ID",
        )
    with ctx.session() as s:
        sub = repo.get_subscription(s, subscription_id=int(raw))
        if (
            sub is None
            or sub.status != "active"
            or sub.platform != str(ctx.event.platform)
            or sub.channel_id != ctx.channel.id
        ):
            raise UsageError(
                ctx.t(
                    "No active digest subscription #{id} in this channel; see /digest list.", id=raw
                )
            )
        repo.cancel_subscription(s, subscription_id=int(raw), by=ctx.actor.id, now=ctx.now())
        ctx.reply(Message.plain(ctx.t("🛑 Digest #{id} unsubscribed.", id=raw)))
    return None


def _sections(ctx: Context, value: object) -> list[str] | None:
    if not value:
        return None
    wanted = [s.strip() for s in str(value).split(",") if s.strip()]
    known = {s.id for s in _config(ctx.runtime).sections}
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise UsageError(
            ctx.t(
                "Unknown section “{name}”. Known: {known}.",
                name=unknown[0][:40],
                known=", ".join(sorted(known)),
            )
        )
    return list(dict.fromkeys(wanted))


def _next_run(ctx: Context, sub: DigestSubscription) -> str:
    trigger = crontab.parse_schedule(sub.cron, sub.tz).trigger
    nxt = trigger.get_next_fire_time(None, ctx.now())
    return ctx.i18n.datetime(nxt, sub.tz) if nxt else "–"


def _describe(ctx: Context, sub: DigestSubscription) -> str:
    parts = [ctx.t("window {window}", window=sub.window)]
    parts.append(ctx.t("sections: {names}", names=sub.sections or ctx.t("all")))
    if sub.service:
        parts.append(ctx.t("service {name}", name=sub.service))
    return " · ".join(parts)


def _unsub_hint(ctx: Context, sub: DigestSubscription) -> str:
    return ctx.t("stop: /digest unsubscribe {id}", id=sub.id)


# -- jobs ---------------------------------------------------------------------------------
def subscription_jobs(grace: timedelta, runtime: Runtime, session: Session) -> list[JobSpec]:
    """One scheduler job per active subscription (a bad stored schedule is logged, skipped)."""
    specs = []
    for sub in repo.active_subscriptions(session):
        try:
            trigger = crontab.parse_schedule(sub.cron, sub.tz).trigger
        except crontab.ScheduleError:
            log.warning("digest subscription has an invalid schedule", extra={"id": sub.id})
            continue
        specs.append(
            JobSpec(
                id=f"{JOB_PREFIX}{sub.id}",
                func=partial(run_subscription, sub_id=sub.id or 0),
                trigger=trigger,
                grace=grace,
                not_before=sub.created_at,
                fingerprint=f"{sub.cron}|{sub.tz}",
            )
        )
    return specs


def run_subscription(ctx: JobContext, *, sub_id: int) -> None:
    """Build, diff, post and remember one subscription's digest for the job's slot."""
    with ctx.session() as s:
        sub = repo.get_subscription(s, subscription_id=sub_id)
        if sub is None or sub.status != "active":
            return
        previous = Digest.from_json(sub.last_digest) if sub.last_digest else None
    config = _config(ctx.runtime)
    known = {sec.id for sec in config.sections}
    sections = [x for x in (sub.sections or "").split(",") if x in known] or None
    providers: Mapping[str, SectionProvider] = ctx.services.extra.get(PROVIDERS_KEY) or {}
    digest = build_digest(
        prom=ctx.services.prometheus,
        alertmanager=ctx.services.alertmanager,
        config=config,
        window=sub.window,
        service=sub.service,
        now=ctx.now(),
        providers=providers,
        previous=previous,
        sections=sections,
    )
    tr = translator(sub.locale)
    rendered = render_digest(digest, tr.t)
    note = tr.t(
        "Scheduled digest #{id} · {slot} · stop: /digest unsubscribe {id}",
        id=sub_id,
        slot=tr.datetime(ctx.slot, sub.tz),
    )
    message = Message(
        text=rendered.text,
        blocks=[*rendered.blocks[:49], Note(text=note)],  # Slack: at most 50 blocks
        attachments=rendered.attachments,
    )
    slot = slot_key(ctx.slot)
    with ctx.session() as s:
        repo.save_snapshot(s, subscription_id=sub_id, slot=slot, digest_json=digest.to_json())
        ctx.post(
            platform=sub.platform,
            channel_id=sub.channel_id,
            message=message,
            key=f"digest-{sub_id}-{ctx.slot.timestamp():.0f}",
        )
