"""Incident operations on a handler Context: declare, status, resolve, summarize, postmortem."""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from bot import outbox
from bot.context import Context
from bot.events import Actor
from bot.i18n import translator
from bot.platforms.base import ChatError
from bot.router import UsageError
from handlers.incidents import render
from handlers.incidents.policy import load_incident_policy
from storage import incidents as repo
from storage.db import unit_of_work
from storage.models.incidents import OPEN_STATES, Incident

log = logging.getLogger(__name__)

PIN_WAIT_SECONDS = 5.0
_CYR_LETTERS = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
_CYR_LATIN = "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch - y - e yu ya"
_CYRILLIC = dict(zip(_CYR_LETTERS, _CYR_LATIN.split(), strict=True))
_USER = re.compile(r"^<@([A-Za-z0-9._-]+)(?:\|([^>]*))?>$|^\[@([^\]]*)\]\(user:([^)]+)\)$")


@dataclass(frozen=True)
class Declared:
    incident: Incident
    created: bool


def slugify(title: str, *, limit: int = 40) -> str:
    """`Checkout 500s in EU` → `checkout-500s-in-eu`; Cyrillic is transliterated."""
    out = []
    for ch in title.lower():
        if ch in _CYRILLIC:
            sub = _CYRILLIC[ch]
            out.append("" if sub == "-" else sub)
            continue
        ch = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
        out.append(ch if ch.isalnum() else "-")
    slug = re.sub(r"-+", "-", "".join(out)).strip("-")
    return slug[:limit].rstrip("-") or "incident"


def channel_base(now: datetime, title: str) -> str:
    return f"inc-{now.strftime('%Y%m%d')}-{slugify(title)}"


def parse_user(text: str) -> Actor:
    """A `@name`, Slack `<@U123|name>` or Markdown mention → an Actor (id as given)."""
    text = text.strip()
    m = _USER.match(text)
    if m:
        if m.group(1):
            return Actor(id=m.group(1), name=m.group(2) or "")
        return Actor(id=m.group(4), name=m.group(3).lstrip("@"))
    name = text.lstrip("@")
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,80}", name):
        raise ValueError(name)
    return Actor(id=name, name=name)


def actor_label(actor: Actor) -> str:
    return actor.label


# -- lookup -------------------------------------------------------------------------------
def find_incident(ctx: Context, *, number: int | None = None, incident_id: int | None = None):
    """The incident by number/id, else the one whose war room this channel is."""
    from sqlmodel import select

    with ctx.session() as s:
        if incident_id is not None:
            inc = repo.get(s, incident_id=incident_id)
        elif number is not None:
            inc = s.exec(select(Incident).where(Incident.number == number)).first()
        else:
            inc = repo.by_channel(s, platform=str(ctx.event.platform), channel_id=ctx.channel.id)
    if inc is None:
        if number is not None:
            raise UsageError(ctx.t("There is no incident INC-{n}.", n=number))
        raise UsageError(
            ctx.t(
                "This is not an incident channel: run it in the incident's channel or "
                "give --id NUMBER."
            )
        )
    return inc


def _announce_channel(ctx: Context) -> str:
    configured = ctx.settings.copilot_incidents_channel
    if configured:
        try:
            found = ctx.chat.find_channel(configured)
        except ChatError:
            found = None
        if found is not None:
            return found.id
        log.warning("COPILOT_INCIDENTS_CHANNEL not found", extra={"channel": configured})
    return ctx.channel.id


# -- declare ------------------------------------------------------------------------------
def declare(
    ctx: Context,
    *,
    title: str,
    severity: int,
    service: str | None = None,
    commander: Actor | None = None,
    source: str = "command",
    dedupe_key: str | None = None,
    first_note: str | None = None,
) -> Declared:
    """Open an incident: row, channel, invitations, pinned header, announcement, timeline."""
    now = ctx.now()
    platform = str(ctx.event.platform)
    key = dedupe_key or f"{platform}:{ctx.event.event_id}"
    window = timedelta(minutes=load_incident_policy().redeclare_window_minutes)
    declarer = ctx.actor
    inc: Incident | None = None
    for _attempt in range(5):
        try:
            with ctx.session() as s:
                existing = repo.by_dedupe_key(s, dedupe_key=key)
                if existing is None and source == "command":
                    existing = repo.recent_open_by(
                        s, declared_by=declarer.id, title=title, since=now - window
                    )
                if existing is not None:
                    return Declared(existing, False)
                inc = Incident(
                    number=repo.next_number(s),
                    title=title,
                    severity=severity,
                    service=service,
                    commander_id=commander.id if commander else None,
                    commander_name=commander.label if commander else None,
                    declared_by=declarer.id,
                    declared_by_name=declarer.label,
                    platform=platform,
                    locale=ctx.locale,
                    declared_at=now,
                    source=source,
                    dedupe_key=key,
                )
                s.add(inc)
                s.flush()
            break
        except IntegrityError:
            inc = None  # a concurrent declare took the number or the dedupe key: look again
            time.sleep(0.02)
    if inc is None or inc.id is None:
        raise RuntimeError("could not allocate an incident number")

    try:
        channel = _create_channel(ctx, channel_base(now, title), title, unique=str(inc.id))
    except ChatError as exc:
        with ctx.session() as s:
            row = repo.get(s, incident_id=inc.id)
            if row is not None:
                s.delete(row)
        raise UsageError(
            ctx.t("Could not create the incident channel: {reason}", reason=str(exc)[:200])
        ) from None
    members = [u for u in {declarer.id, commander.id if commander else ""} if u]
    members = [u for u in members if not (u == declarer.id and declarer.is_bot)]
    if members:
        try:
            ctx.chat.invite(channel.id, members)
        except ChatError:
            log.warning("could not invite", extra={"channel": channel.id}, exc_info=True)
    announce_to = _announce_channel(ctx)
    tr = ctx.i18n
    with ctx.session() as s:
        row = repo.get(s, incident_id=inc.id)
        assert row is not None
        row.channel_id = channel.id
        row.channel_name = channel.name or None
        row.announce_channel_id = announce_to
        row.header_key = ctx.post(channel.id, render.header(tr, row, now))
        row.announce_key = ctx.post(announce_to, render.announcement(tr, row))
        s.add(row)
        text = ctx.t(
            "{ref} declared: {title} (SEV{sev})", ref=render.ref(row), title=title, sev=severity
        )
        repo.add_timeline(
            s, incident_id=inc.id, kind="declare", text=text, actor=declarer.label, at=now
        )
        if first_note:
            repo.add_timeline(
                s, incident_id=inc.id, kind="alert", text=first_note, actor="alertmanager", at=now
            )
        ctx.audit(
            "incident.declare",
            render.ref(row),
            {"title": title, "severity": severity, "channel": channel.id, "source": source},
        )
        inc = row
    pin_header(ctx, inc, wait=PIN_WAIT_SECONDS)
    return Declared(inc, True)


def _create_channel(ctx: Context, base: str, title: str, *, unique: str):
    """`base`, then `base-2` … `base-9`, then `base-<incident id>` (an alert storm declares
    many incidents with the same title on one day; the id is never taken twice)."""
    topic = title[:200]
    names = [base, *(f"{base}-{n}" for n in range(2, 10)), f"{base}-{unique}"]
    for name in names:
        try:
            return ctx.chat.create_channel(name, topic=topic)
        except ChatError as exc:
            reason = str(exc).lower()
            if "name_taken" in reason or "exists" in reason:
                continue
            raise
    raise ChatError("name_taken: no free channel name")


def pin_header(ctx: Context, inc: Incident, *, wait: float = 0.0) -> bool:
    """Pin the header once the outbox delivered it (waits up to `wait` seconds)."""
    return pin_header_with(ctx.runtime, inc, wait=wait)


def pin_header_with(runtime, inc: Incident, *, wait: float = 0.0) -> bool:
    """Pin the header of `inc` with the runtime's chat API (False when not delivered yet)."""
    if inc.header_pinned or not inc.header_key or not inc.channel_id:
        return inc.header_pinned
    deadline = time.monotonic() + wait
    ts = None
    while True:
        with unit_of_work(runtime.engine) as s:
            row = outbox.find(s, inc.header_key)
            ts = row.platform_ts if row is not None else None
        if ts or time.monotonic() >= deadline:
            break
        runtime.wake_outbox()
        time.sleep(0.05)
    if not ts:
        return False
    api = runtime.apis.get(inc.platform)
    if api is None:
        return False
    try:
        api.pin(inc.channel_id, ts)
    except ChatError:
        log.warning("could not pin the header", extra={"incident": inc.id}, exc_info=True)
        return False
    with unit_of_work(runtime.engine) as s:
        row = repo.get(s, incident_id=inc.id or 0)
        if row is not None:
            row.header_pinned = True
            s.add(row)
    inc.header_pinned = True
    return True


# -- updates ------------------------------------------------------------------------------
def _refresh_posts(ctx: Context, inc: Incident, now: datetime) -> None:
    """Update the pinned header and the announcement with the incident's current state."""
    tr = translator(inc.locale)
    if inc.header_key:
        ctx.update(inc.header_key, render.header(tr, inc, now))
    if inc.announce_key:
        ctx.update(inc.announce_key, render.announcement(tr, inc))


def _broadcast(ctx: Context, inc: Incident, message) -> str | None:
    """Post to the war room and the announcement thread; returns the war-room message key."""
    key = None
    if inc.channel_id:
        key = ctx.post(inc.channel_id, message)
    if inc.announce_channel_id and inc.announce_key:
        ctx.post(inc.announce_channel_id, message, thread_key=inc.announce_key)
    return key


def post_status(ctx: Context, inc: Incident, text: str, new_state: str | None) -> Incident:
    """Record a human status update; post it; update header and announcement."""
    now = ctx.now()
    actor = ctx.actor
    with ctx.session() as s:
        row = repo.get(s, incident_id=inc.id or 0)
        assert row is not None
        if row.status not in OPEN_STATES:
            raise UsageError(
                ctx.t("{ref} is resolved: no more status updates.", ref=render.ref(row))
            )
        values: dict[str, object] = {"last_update_at": now, "last_update_text": text}
        if row.first_update_at is None:
            values["first_update_at"] = now
            values["time_to_first_update_seconds"] = (now - row.declared_at).total_seconds()
        target = new_state or row.status
        if not repo.set_state(
            s, incident_id=row.id or 0, from_states=[row.status], to=target, **values
        ):
            raise UsageError(ctx.t("The incident changed meanwhile: try again."))
        row = repo.get(s, incident_id=inc.id or 0)
        assert row is not None
        key = _broadcast(ctx, row, render.status_post(ctx.t, row, text, actor.id, actor.label))
        label = f"[{target}] {text}" if new_state else text
        repo.add_timeline(
            s,
            incident_id=row.id or 0,
            kind="status",
            text=label,
            actor=actor.label,
            at=now,
            message_key=key,
        )
        _refresh_posts(ctx, row, now)
        ctx.audit("incident.status", render.ref(row), {"state": target, "text": text[:500]})
        return row


def resolve(ctx: Context, inc: Incident, note: str | None) -> Incident:
    """Resolve: MTTR, timeline, posts, header and announcement."""
    now = ctx.now()
    actor = ctx.actor
    with ctx.session() as s:
        row = repo.get(s, incident_id=inc.id or 0)
        assert row is not None
        mttr = (now - row.declared_at).total_seconds()
        if not repo.set_state(
            s,
            incident_id=row.id or 0,
            from_states=OPEN_STATES,
            to="resolved",
            resolved_at=now,
            mttr_seconds=mttr,
            resolution_note=note,
        ):
            raise UsageError(ctx.t("{ref} is already resolved.", ref=render.ref(row)))
        row = repo.get(s, incident_id=inc.id or 0)
        assert row is not None
        key = _broadcast(ctx, row, render.resolved_post(ctx.t, row, note, actor.id, actor.label))
        repo.add_timeline(
            s,
            incident_id=row.id or 0,
            kind="resolve",
            text=note or ctx.t("Resolved"),
            actor=actor.label,
            at=now,
            message_key=key,
        )
        _refresh_posts(ctx, row, now)
        ctx.audit("incident.resolve", render.ref(row), {"mttr_seconds": mttr, "note": note})
        return row


def timeline_links(ctx: Context, entries: list) -> dict[int, str]:
    """Permalinks of the messages timeline entries point at (once delivered)."""
    links: dict[int, str] = {}
    with ctx.session() as s:
        for e in entries:
            if e.link:
                links[e.id] = e.link
                continue
            if not e.message_key:
                continue
            row = outbox.find(s, e.message_key)
            if row is None or not row.platform_ts:
                continue
            try:
                link = ctx.chat.permalink(row.platform_channel or row.channel_id, row.platform_ts)
            except ChatError:
                link = None
            if link:
                links[e.id] = link
    return links
