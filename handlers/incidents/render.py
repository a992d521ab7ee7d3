"""Incident messages: header, announcement, status posts, digests, lists and timelines."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from bot.i18n import N_, Translator
from bot.messages import (
    Actions,
    Button,
    ButtonStyle,
    Confirm,
    Context,
    Header,
    Message,
    Section,
    channel_link,
    mention,
    user_text,
)
from storage.models.incidents import Incident, TimelineEntry

Translate = Callable[..., str]

STATE_LABELS = {
    "investigating": N_("Investigating"),
    "identified": N_("Identified"),
    "monitoring": N_("Monitoring"),
    "resolved": N_("Resolved"),
}
KIND_LABELS = {
    "declare": N_("declared"),
    "status": N_("status"),
    "summary": N_("summary"),
    "action": N_("action"),
    "alert": N_("alert"),
    "resolve": N_("resolved"),
    "note": N_("note"),
}
STATE_ICON = {"investigating": "🔍", "identified": "🎯", "monitoring": "👀", "resolved": "✅"}
SEV_ICON = {1: "🔴", 2: "🟠", 3: "🟡", 4: "🔵"}

ACTION_SUMMARIZE = "incident:summarize"
ACTION_STATUS = "incident:status"
ACTION_RESOLVE = "incident:resolve"


def ref(inc: Incident) -> str:
    """`INC-12`."""
    return f"INC-{inc.number}"


def sev(inc: Incident) -> str:
    return f"{SEV_ICON.get(inc.severity, '')} SEV{inc.severity}".strip()


def state(t: Translate, status: str) -> str:
    return f"{STATE_ICON.get(status, '')} {t(STATE_LABELS.get(status, status))}".strip()


def commander(t: Translate, inc: Incident) -> str:
    if not inc.commander_id:
        return t("not assigned")
    return mention(inc.commander_id, inc.commander_name or "")


def room(inc: Incident) -> str:
    if not inc.channel_id:
        return "—"
    return channel_link(inc.channel_id, inc.channel_name or "")


def _minutes(seconds: float) -> int:
    return max(0, round(seconds / 60))


def header(tr: Translator, inc: Incident, now: datetime) -> Message:
    """The pinned header of the incident channel (title, severity, commander, state, links)."""
    t = tr.t
    title = user_text(inc.title, limit=140)
    fields = [
        (t("Severity"), sev(inc)),
        (t("Status"), state(t, inc.status)),
        (t("Commander"), commander(t, inc)),
        (t("Service"), user_text(inc.service, limit=80) if inc.service else "—"),
        (t("Declared"), tr.datetime(inc.declared_at)),
        (t("Declared by"), mention(inc.declared_by, inc.declared_by_name)),
    ]
    blocks: list = [Header(text=f"{ref(inc)}: {title}"), Section(fields=fields)]
    if inc.last_update_text:
        blocks.append(
            Section(
                text=t("**Latest update:** {text}", text=user_text(inc.last_update_text, limit=800))
            )
        )
    if inc.status == "resolved" and inc.resolved_at is not None:
        blocks.append(
            Section(
                text=t(
                    "Resolved {when}; time to resolve {minutes} min.",
                    when=tr.datetime(inc.resolved_at),
                    minutes=_minutes(inc.mttr_seconds or 0),
                )
            )
        )
    links = [t("War room: {room}", room=room(inc))]
    if inc.announce_channel_id:
        links.append(t("Announced in {channel}", channel=channel_link(inc.announce_channel_id)))
    blocks.append(Context(text=" · ".join(links)))
    blocks.append(Actions(buttons=header_buttons(t, inc)))
    text = t(
        "{ref}: {title} ({sev}, {state})",
        ref=ref(inc),
        title=title,
        sev=sev(inc),
        state=t(STATE_LABELS.get(inc.status, inc.status)),
    )
    return Message(text=text, blocks=blocks)


def header_buttons(t: Translate, inc: Incident) -> list[Button]:
    value = str(inc.id)
    buttons = [Button(label=t("Summarize"), action_id=ACTION_SUMMARIZE, value=value)]
    if inc.status != "resolved":
        buttons.append(Button(label=t("Post status"), action_id=ACTION_STATUS, value=value))
        buttons.append(
            Button(
                label=t("Resolve"),
                action_id=ACTION_RESOLVE,
                value=value,
                style=ButtonStyle.DANGER,
                confirm=Confirm(
                    title=t("Resolve {ref}?", ref=ref(inc)),
                    text=t("The incident will be marked resolved and the announcement updated."),
                    confirm=t("Resolve"),
                    deny=t("Cancel"),
                ),
            )
        )
    return buttons


def announcement(tr: Translator, inc: Incident) -> Message:
    """The announcement in the incidents channel (updated on every state change)."""
    t = tr.t
    title = user_text(inc.title, limit=140)
    if inc.status == "resolved":
        lead = t("✅ {ref} resolved: {title}", ref=ref(inc), title=title)
    else:
        lead = t("🚨 {ref} declared: {title}", ref=ref(inc), title=title)
    fields = [
        (t("Severity"), sev(inc)),
        (t("Status"), state(t, inc.status)),
        (t("Commander"), commander(t, inc)),
        (t("War room"), room(inc)),
    ]
    if inc.service:
        fields.append((t("Service"), user_text(inc.service, limit=80)))
    blocks: list = [Section(text=f"**{lead}**", fields=fields)]
    if inc.last_update_text:
        blocks.append(
            Context(
                text=t("Latest update: {text}", text=user_text(inc.last_update_text, limit=300))
            )
        )
    if inc.status == "resolved":
        blocks.append(
            Context(
                text=t("Time to resolve: {minutes} min.", minutes=_minutes(inc.mttr_seconds or 0))
            )
        )
    else:
        blocks.append(Context(text=t("Updates follow in this thread.")))
    return Message(text=lead, blocks=blocks)


def status_post(t: Translate, inc: Incident, text: str, by: str, by_name: str) -> Message:
    """A human status update, posted to the war room and the announcement thread."""
    lead = t(
        "📣 {ref} status: {state}",
        ref=ref(inc),
        state=t(STATE_LABELS.get(inc.status, inc.status)),
    )
    body = user_text(text, limit=2500)
    return Message(
        text=f"{lead}: {body}",
        blocks=[
            Section(text=f"**{lead}**\n{body}"),
            Context(text=t("Posted by {who}", who=mention(by, by_name))),
        ],
    )


def resolved_post(t: Translate, inc: Incident, note: str | None, by: str, by_name: str) -> Message:
    lead = t(
        "✅ {ref} resolved after {minutes} min.",
        ref=ref(inc),
        minutes=_minutes(inc.mttr_seconds or 0),
    )
    blocks: list = [Section(text=f"**{lead}**")]
    if note:
        blocks.append(Section(text=user_text(note, limit=2500)))
    blocks.append(
        Context(text=t("Resolved by {who}. Next: /incident postmortem", who=mention(by, by_name)))
    )
    return Message(text=lead, blocks=blocks)


def digest(tr: Translator, inc: Incident, now: datetime, *, stale: bool) -> Message:
    """The automated status digest (latest update, time since it, a nudge when stale)."""
    t = tr.t
    lead = t(
        "⏱ {ref} status digest: {state}, open for {minutes} min.",
        ref=ref(inc),
        state=t(STATE_LABELS.get(inc.status, inc.status)),
        minutes=_minutes((now - inc.declared_at).total_seconds()),
    )
    blocks: list = [Section(text=f"**{lead}**")]
    if inc.last_update_at and inc.last_update_text:
        blocks.append(
            Section(
                text=t(
                    "Latest update ({minutes} min ago): {text}",
                    minutes=_minutes((now - inc.last_update_at).total_seconds()),
                    text=user_text(inc.last_update_text, limit=1500),
                )
            )
        )
    else:
        blocks.append(Section(text=t("No status update has been posted yet.")))
    if stale:
        who = commander(t, inc) if inc.commander_id else mention(inc.declared_by)
        blocks.append(
            Section(
                text=t(
                    "{who}, the latest update is stale: please post one with /incident status.",
                    who=who,
                )
            )
        )
    return Message(text=lead, blocks=blocks)


def incident_list(tr: Translator, incidents: Sequence[Incident], now: datetime) -> Message:
    t = tr.t
    if not incidents:
        return Message.plain(t("No incidents."))
    lines = []
    for inc in incidents:
        when = tr.ago(inc.declared_at, now)
        lines.append(
            f"• **{ref(inc)}** {sev(inc)} · {state(t, inc.status)} · "
            f"{user_text(inc.title, limit=100)} · {room(inc)} · {when}"
        )
    text = t("Incidents") + "\n" + "\n".join(lines)
    return Message(text=text, blocks=[Section(text="\n".join(lines[:40]))])


def timeline(
    tr: Translator, inc: Incident, entries: Sequence[TimelineEntry], links: dict[int, str]
) -> Message:
    t = tr.t
    head = t("Timeline of {ref}: {title}", ref=ref(inc), title=user_text(inc.title, limit=140))
    lines = []
    for e in entries:
        kind = t(KIND_LABELS.get(e.kind, e.kind))
        actor = f" — {user_text(e.actor, limit=60)}" if e.actor else ""
        link = links.get(e.id or 0)
        tail = f" [↗]({link})" if link and link.startswith(("http://", "https://")) else ""
        text = user_text(e.text.replace("\n", " "), limit=300)
        lines.append(f"`{tr.time(e.at)}` **{kind}** {text}{actor}{tail}")
    blocks: list = [Header(text=head[:150])]
    # sections of at most ~2,800 characters
    chunk: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) > 2800 and chunk:
            blocks.append(Section(text="\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        blocks.append(Section(text="\n".join(chunk)))
    return Message(text=head, blocks=blocks[:50])
