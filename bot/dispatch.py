"""From an acknowledged event to a handler: locale, context, routing, errors, bookkeeping."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import psycopg
from cachetools import TTLCache
from sqlalchemy import bindparam, func
from sqlalchemy import exc as sa_exc
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection

from bot import help as help_
from bot import inbox, outbox
from bot.context import Context, Runtime, reply_target
from bot.events import Event, EventKind
from bot.i18n import Translator, normalize_locale, translator
from bot.messages import Message, Section
from bot.platforms.base import DeliveryError, Responder
from bot.router import UsageError
from storage.db import PgStatement, is_postgres, pg_autocommit
from storage.models.core import ChannelPref, UserPref

if TYPE_CHECKING:
    from bot.metrics import Metrics

log = logging.getLogger(__name__)


_USER_LOCALE = (
    sa_select(UserPref.__table__.c.locale)
    .where(
        UserPref.__table__.c.platform == bindparam("platform"),
        UserPref.__table__.c.user_id == bindparam("user"),
    )
    .limit(1)
    .scalar_subquery()
)
_CHANNEL_LOCALE = (
    sa_select(ChannelPref.__table__.c.locale)
    .where(
        ChannelPref.__table__.c.platform == bindparam("platform"),
        ChannelPref.__table__.c.channel_id == bindparam("channel"),
    )
    .limit(1)
    .scalar_subquery()
)
# PostgreSQL: claim the event and read both stored languages in one autocommitted statement
# (the UPDATE runs in a CTE: it happens whether or not the SELECT reads its rows).
_CLAIMED = inbox.CLAIM_RETURNING.cte("claimed")
_PG_CLAIM = PgStatement(
    sa_select(
        sa_select(func.count()).select_from(_CLAIMED).scalar_subquery(),
        _USER_LOCALE,
        _CHANNEL_LOCALE,
    )
)

# The user's and the channel's stored language: one round trip, built once (every event).
_LOCALES = sa_select(_USER_LOCALE, _CHANNEL_LOCALE)
_PG_LOCALES = PgStatement(_LOCALES)


def _pg_finish(answers: int) -> PgStatement:
    """PostgreSQL: the answers' outbox rows and the inbox verdict in one statement."""
    if answers not in _PG_FINISH:
        stmt = inbox.FINISH
        if answers:
            stmt = stmt.add_cte(outbox.insert_rows(answers).cte("answers"))
        _PG_FINISH[answers] = PgStatement(stmt)
    return _PG_FINISH[answers]


_PG_FINISH: dict[int, PgStatement] = {}


# The database went away (refused, restarted, pool exhausted): the transaction rolled back.
# psycopg's own errors come from the acknowledgement path's async recorder (PoolTimeout is an
# OperationalError).
STORAGE_DOWN = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


@dataclass(frozen=True)
class Outcome:
    """How handling ended: the answer still to be stored and the inbox verdict.

    Stored in one transaction with the inbox row's `done`/`failed`, so the answer and the
    bookkeeping cannot part (and an event costs one commit fewer).
    """

    error: str | None = None
    answers: tuple[tuple[Message, bool], ...] = ()  # (message, only to the person who asked)


class StorageUnavailable(Exception):
    """The database failed while handling an event; `stage` says what to retry.

    "claim": not claimed yet; "handle": claimed, the handler's transaction rolled back (run it
    again); "finish": handled, only storing `outcome` (the answer and the inbox verdict) is
    missing (never run the handler again).
    """

    def __init__(self, stage: str, outcome: Outcome | None = None) -> None:
        super().__init__(stage)
        self.stage = stage
        self.outcome = outcome


def error_message(tr: Translator, ref: str) -> Message:
    """What the user sees when a handler fails: never a stack trace, a reference to quote."""
    msg = tr.t("Something went wrong while handling this (reference {ref}).", ref=ref)
    return Message(text=msg, blocks=[Section(text="⚠️ " + msg)])


def interrupted_message(tr: Translator, event: Event) -> Message:
    """What the person who asked sees when the process handling their request died: it may
    have run in part, so they check before asking again."""
    if event.kind == EventKind.COMMAND:
        what = f"/{event.command} {event.text}".strip()
        what = what if len(what) <= 80 else what[:79] + "…"
        msg = tr.t(
            "Console Copilot stopped while handling `{command}` and cannot tell whether it "
            "finished. Check its effect before you run it again.",
            command=what,
        )
    else:
        msg = tr.t(
            "Console Copilot stopped while handling your last request and cannot tell whether "
            "it finished. Check its effect before you try again."
        )
    return Message(text=msg, blocks=[Section(text="⚠️ " + msg)])


class Dispatcher:
    """Runs handlers (synchronously, in a worker thread) for events already in the inbox."""

    def __init__(self, runtime: Runtime, metrics: Metrics) -> None:
        self.runtime = runtime
        self.metrics = metrics
        self._platform_locales: TTLCache[tuple[str, str], str | None] = TTLCache(4096, 3600)
        self.on_handled: Callable[[Event], None] | None = None

    # -- locale --------------------------------------------------------------------------
    def resolve_locale(self, event: Event) -> str:
        """User preference, else channel setting, else the platform's user locale, else default."""
        engine = self.runtime.engine
        if is_postgres(engine):
            with pg_autocommit(engine) as conn:
                user, channel = _PG_LOCALES.run(conn, self._locale_params(event)).fetchone()
            return self._locale(event, user or channel)
        with engine.connect() as conn:
            return self._locale(event, self._stored_locale(conn, event))

    @staticmethod
    def _locale_params(event: Event) -> dict[str, str]:
        platform, user, channel = str(event.platform), event.actor.id, event.channel.id
        return {"platform": platform, "user": user, "channel": channel}

    def _locale(self, event: Event, stored: str | None, *, lookup: bool = True) -> str:
        """Stored preference, else the platform's user locale (asked of the platform's user API
        only when `lookup`), else the default."""
        if stored:
            return stored
        platform_locale = normalize_locale(event.actor.locale) or (
            self._platform_locale(event) if lookup else None
        )
        return platform_locale or self.runtime.settings.copilot_default_locale

    @staticmethod
    def _stored_locale(conn: Connection, event: Event) -> str | None:
        user, channel = conn.execute(_LOCALES, Dispatcher._locale_params(event)).one()
        return user or channel

    def _platform_locale(self, event: Event) -> str | None:
        key = (str(event.platform), event.actor.id)
        if key in self._platform_locales:
            return self._platform_locales[key]
        api = self.runtime.apis.get(event.platform)
        value = None
        if api is not None:
            try:
                value = normalize_locale(api.user(event.actor.id).locale)
            except Exception:  # the platform's user API is optional for the locale
                log.debug("user locale lookup failed", exc_info=True)
        self._platform_locales[key] = value
        return value

    # -- interrupted events --------------------------------------------------------------
    def report_interrupted(
        self, *, older_than: timedelta | None = None, owner: str | None = None
    ) -> list[Event]:
        """Fail the events a dead process was handling (`inbox.interrupted`) and tell each
        person who asked, in the same transaction: an event is reported once, by whichever
        process marks it. Webhooks and thread messages have nobody to answer."""
        with self.runtime.engine.begin() as conn:
            events = inbox.interrupted(conn, older_than=older_than, owner=owner)
            rows = []
            for event in events:
                if event.kind in (EventKind.WEBHOOK, EventKind.MESSAGE):
                    continue
                # no platform lookup for the language here: this transaction holds a write
                tr = translator(self._locale(event, self._stored_locale(conn, event), lookup=False))
                rows.append(
                    outbox.row_values(
                        platform=event.platform,
                        message=interrupted_message(tr, event),
                        **reply_target(event, ephemeral=True),
                    )
                )
            outbox.store(conn, rows)
        if events:
            log.warning(
                "events interrupted: their process stopped while handling them",
                extra={
                    "count": len(events),
                    "owner": owner,
                    "events": [e.event_id for e in events],
                },
            )
            self.metrics.errors.labels(kind="interrupted").inc(len(events))
        if rows:
            self.runtime.wake_outbox()
        return events

    # -- handling ------------------------------------------------------------------------
    def handle(self, event: Event, *, stage: str = "claim", outcome: Outcome | None = None) -> None:
        """Process one recorded event exactly once (claims it in the inbox first).

        Raises StorageUnavailable when the database fails; call again with its `stage` and
        `outcome` (the event stays claimed by this process meanwhile).
        """
        stored: str | None = None
        read = False  # the stored locale was read with the claim
        if stage == "claim":
            try:
                claimed, stored = self._claim(event)
            except STORAGE_DOWN as exc:
                raise StorageUnavailable("claim") from exc
            if not claimed:
                return
            read = True
        if stage == "finish":
            self._finish(event, outcome or Outcome())
            return
        started = time.perf_counter()
        label = event.command or event.action_id or str(event.kind)
        try:
            tr = translator(self._locale(event, stored) if read else self.resolve_locale(event))
        except STORAGE_DOWN as exc:
            raise StorageUnavailable("handle") from exc
        ctx = Context(self.runtime, event, tr)
        # errors go to the person who asked; a webhook has nobody to whisper to: the channel
        private = event.kind != EventKind.WEBHOOK
        try:
            try:
                returned = self._route(ctx, tr)  # first: it fills ctx.answers
                outcome = Outcome(answers=(*ctx.answers, *returned))
            except UsageError as exc:
                usage = help_.usage_error(exc, event.command, tr)
                outcome = Outcome(answers=(*ctx.answers, (usage, private)))
        except STORAGE_DOWN as exc:
            log.warning("database unavailable while handling; will retry", exc_info=True)
            raise StorageUnavailable("handle") from exc
        except Exception as exc:  # never a stack trace to the user
            ref = uuid.uuid4().hex[:8]
            log.exception("handler failed", extra={"ref": ref, "event": event.event_id})
            self.metrics.errors.labels(kind=str(event.kind)).inc()
            outcome = Outcome(
                error=f"{type(exc).__name__}: {exc}",
                answers=(*ctx.answers, (error_message(tr, ref), private)),
            )
        self.metrics.handler_latency.labels(kind=str(event.kind), command=label[:40]).observe(
            time.perf_counter() - started
        )
        self._finish(event, outcome, ctx)

    def _claim(self, event: Event) -> tuple[bool, str | None]:
        """Claim the event in the inbox and read its stored language: one transaction."""
        engine = self.runtime.engine
        if is_postgres(engine):
            params = {**inbox.claim_params(event), **self._locale_params(event)}
            with pg_autocommit(engine) as conn:
                claimed, user_locale, channel_locale = _PG_CLAIM.run(conn, params).fetchone()
            return claimed == 1, user_locale or channel_locale
        with engine.begin() as conn:
            if not inbox.claim(conn, event):
                return False, None
            return True, self._stored_locale(conn, event)

    def _finish(self, event: Event, outcome: Outcome, ctx: Context | None = None) -> None:
        """Store the answers and the inbox verdict in one transaction, then deliver the
        answers that can go out from this thread (a Slack command's private answer)."""
        responder = self._responder(event, ctx)
        lease = datetime.now(UTC) + outbox.LEASE if responder else None
        rows = [
            outbox.row_values(
                platform=event.platform,
                message=message,
                claimed_until=lease if private else None,
                **reply_target(event, ephemeral=private),
            )
            for message, private in outcome.answers
        ]
        send_now = [
            (row["key"], message)
            for row, (message, _) in zip(rows, outcome.answers, strict=True)
            if row["lease_until"]
        ]
        try:
            if is_postgres(self.runtime.engine):
                params = inbox.finish_params(event, error=outcome.error)
                for i, row in enumerate(rows):
                    params |= {f"{name}_{i}": value for name, value in row.items()}
                with pg_autocommit(self.runtime.engine) as conn:
                    _pg_finish(len(rows)).run(conn, params)
            else:
                with self.runtime.engine.begin() as conn:
                    outbox.store(conn, rows)
                    inbox.finish(conn, event, error=outcome.error)
        except STORAGE_DOWN as exc:
            self.runtime.wake_outbox()
            raise StorageUnavailable("finish", outcome) from exc
        if ctx is not None:
            ctx.posted.extend(row["key"] for row in rows)
        if len(send_now) < len(rows):
            self.runtime.wake_outbox()
        for key, message in send_now:
            assert responder is not None and event.response_url
            self._respond(responder, event, key, message)
        if self.on_handled:
            self.on_handled(event)

    def _responder(self, event: Event, ctx: Context | None) -> Responder | None:
        """The platform API that answers this event's private answers from here, if any.

        Only while nothing else this event produced is waiting in the outbox (a `ctx.reply`
        earlier): the answer must not overtake it. A retried finish (no context) leaves
        everything to the outbox worker.
        """
        api = self.runtime.apis.get(event.platform)
        if ctx is None or ctx.posted or not event.response_url:
            return None
        return api if isinstance(api, Responder) else None

    def _respond(self, api: Responder, event: Event, key: str, message: Message) -> None:
        """Deliver one claimed answer now; on failure the outbox worker retries it."""
        engine, platform = self.runtime.engine, str(event.platform)
        try:
            api.respond(event.response_url or "", message, ephemeral=True)
        except Exception as exc:
            error = exc if isinstance(exc, DeliveryError) else DeliveryError(repr(exc)[:500])
            try:
                status = outbox.mark_retry(engine, key, error, now=datetime.now(UTC))
            except STORAGE_DOWN:
                status = "sending"  # the lease runs out and the worker retries it
            log.warning("answer not delivered", extra={"key": key, "reason": error.reason})
            self.metrics.deliveries.labels(platform=platform, result=status).inc()
            self.runtime.wake_outbox()
            return
        for attempt in range(outbox.MARK_SENT_TRIES):
            try:  # recorded even through a database blip: else the lease expires, a resend
                outbox.mark_sent_key(engine, key, ts=None, channel=event.channel.id)
                break
            except STORAGE_DOWN:
                if attempt == outbox.MARK_SENT_TRIES - 1:
                    log.error("could not record a delivered answer", extra={"key": key})
                    break
                time.sleep(min(0.5 * 2**attempt, 5.0))
        self.metrics.deliveries.labels(platform=platform, result="sent").inc()

    def _route(self, ctx: Context, tr: Translator) -> tuple[tuple[Message, bool], ...]:
        """Run the handler; its returned message is an answer (stored by `_finish`)."""
        router = self.runtime.router
        ev = ctx.event
        result: Message | None = None
        if ev.kind == EventKind.COMMAND:
            route = router.route(ev.command or "", ev.text, tr.t)
            if route.sub is None:
                return ((help_.group_help(route.group, route.help_topic or "", tr), True),)
            result = route.sub.handler(ctx, route.args)
        elif ev.kind == EventKind.ACTION:
            handler = router.actions.get(ev.action_id or "")
            if handler is None:
                raise UsageError(tr.t("This button is no longer supported."))
            result = handler(ctx, ev.action_value or "")
        elif ev.kind == EventKind.SUBMISSION:
            handler = router.submissions.get(ev.action_id or "")
            if handler is None:
                raise UsageError(tr.t("This form is no longer supported."))
            result = handler(ctx, ev.action_value or "")
        elif ev.kind == EventKind.WEBHOOK:
            webhook = router.webhooks.get(ev.action_id or "")
            if webhook is None:
                log.warning("no handler for webhook", extra={"name": ev.action_id})
                return ()
            result = webhook(ctx, ev.action_value or "")
        elif ev.kind == EventKind.MENTION:
            if router.mention_handler is None:
                result = help_.overview(router, tr)
            else:
                result = router.mention_handler(ctx)
        elif ev.kind == EventKind.MESSAGE:
            for matcher, thread_handler in router.thread_handlers:
                if matcher(ctx):
                    result = thread_handler(ctx)
                    break
        return () if result is None else ((result, False),)
