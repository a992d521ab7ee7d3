"""/incident commands and the header buttons."""

from __future__ import annotations

from bot.context import Context
from bot.i18n import N_
from bot.messages import Message, Section, channel_link
from bot.router import Args, Opt, Router, UsageError
from handlers.incidents import render, reports, service
from handlers.incidents.policy import load_incident_policy
from storage import incidents as repo

SEVERITIES = ("1", "2", "3", "4")
STATES = ("investigating", "identified", "monitoring")
ID_OPT = Opt("id", type=int, help=N_("the incident number (outside its channel)"), metavar="N")


def register(router: Router) -> None:
    g = router.command("incident", help=N_("Incidents: war rooms, status, summaries"))
    g.sub(
        "declare",
        incident_declare,
        help=N_("Declare an incident: a channel, a pinned header, an announcement"),
        usage="declare <title> [--sev 1..4] [--service NAME] [--commander @user]",
        options=[
            Opt("sev", type=int, choices=SEVERITIES, help=N_("severity, 1 is the worst")),
            Opt("service", help=N_("the affected service")),
            Opt("commander", help=N_("the incident commander")),
        ],
        min_args=1,
    )
    g.sub(
        "status",
        incident_status,
        help=N_("Post a status update (timeline, war room, announcement thread)"),
        usage="status <text> [--state investigating|identified|monitoring]",
        options=[Opt("state", choices=STATES, help=N_("the new state")), ID_OPT],
        min_args=1,
    )
    g.sub(
        "summarize",
        incident_summarize,
        help=N_("Summarize the war room so far"),
        usage="summarize [--id N]",
        options=[ID_OPT],
        max_args=0,
    )
    g.sub(
        "resolve",
        incident_resolve,
        help=N_("Resolve the incident"),
        usage="resolve [note] [--id N]",
        options=[ID_OPT],
    )
    g.sub(
        "list",
        incident_list,
        help=N_("List incidents"),
        usage="list [--open]",
        options=[Opt("open", flag=True, help=N_("only open incidents"))],
        max_args=0,
    )
    g.sub(
        "timeline",
        incident_timeline,
        help=N_("The incident's timeline"),
        usage="timeline [--id N]",
        options=[ID_OPT],
        max_args=0,
    )
    g.sub(
        "postmortem",
        incident_postmortem,
        help=N_("A postmortem draft from the timeline and summary"),
        usage="postmortem [--id N]",
        options=[ID_OPT],
        max_args=0,
    )
    router.action(render.ACTION_SUMMARIZE, on_summarize)
    router.action(render.ACTION_STATUS, on_status)
    router.action(render.ACTION_RESOLVE, on_resolve)


def _ack(text: str) -> Message:
    return Message(text=text, blocks=[Section(text=text)])


def incident_declare(ctx: Context, args: Args) -> Message | None:
    """Declare an incident."""
    title = args.rest.strip()
    if len(title) > 200:
        raise UsageError(ctx.t("The title is too long (at most 200 characters)."))
    severity = args.opt("sev") or load_incident_policy().default_severity
    commander = None
    if args.opt("commander"):
        try:
            commander = service.parse_user(str(args.opt("commander")))
        except ValueError:
            raise UsageError(
                ctx.t("--commander must be a @user mention."),
                usage="declare <title> [--sev 1..4] [--service NAME] [--commander @user]",
            ) from None
        try:
            commander = ctx.chat.user(commander.id)
        except Exception:  # the platform may not resolve names; keep what was typed
            pass
    svc = args.opt("service")
    result = service.declare(
        ctx,
        title=title,
        severity=int(severity),
        service=str(svc)[:120] if svc else None,
        commander=commander,
    )
    inc = result.incident
    link = channel_link(inc.channel_id or "", inc.channel_name or "")
    if result.created:
        text = ctx.t("{ref} declared: join {room}.", ref=render.ref(inc), room=link)
    else:
        text = ctx.t("{ref} is already open: {room}.", ref=render.ref(inc), room=link)
    ctx.answer(_ack(text), ephemeral=True)
    return None


def incident_status(ctx: Context, args: Args) -> Message | None:
    """Post a status update."""
    inc = service.find_incident(ctx, number=args.opt("id"))
    service.post_status(ctx, inc, args.rest.strip(), args.opt("state"))
    if inc.channel_id != ctx.channel.id:
        ctx.reply(_ack(ctx.t("Status of {ref} posted.", ref=render.ref(inc))), ephemeral=True)
    return None


def incident_resolve(ctx: Context, args: Args) -> Message | None:
    """Resolve the incident."""
    inc = service.find_incident(ctx, number=args.opt("id"))
    service.resolve(ctx, inc, args.rest.strip() or None)
    if inc.channel_id != ctx.channel.id:
        ctx.reply(_ack(ctx.t("{ref} resolved.", ref=render.ref(inc))), ephemeral=True)
    return None


def incident_summarize(ctx: Context, args: Args) -> Message | None:
    """Summarize the war room."""
    inc = service.find_incident(ctx, number=args.opt("id"))
    reports.summarize_incident(ctx, inc)
    if inc.channel_id != ctx.channel.id:
        ctx.reply(
            _ack(ctx.t("The summary of {ref} is in its channel.", ref=render.ref(inc))),
            ephemeral=True,
        )
    return None


def incident_list(ctx: Context, args: Args) -> Message | None:
    """List incidents."""
    with ctx.session() as s:
        rows = repo.list_incidents(s, open_only=bool(args.opt("open")))
    ctx.answer(render.incident_list(ctx.i18n, rows, ctx.now()), ephemeral=True)
    return None


def incident_timeline(ctx: Context, args: Args) -> Message | None:
    """Show the incident's timeline."""
    inc = service.find_incident(ctx, number=args.opt("id"))
    with ctx.session() as s:
        entries = repo.timeline(s, incident_id=inc.id or 0)
    links = service.timeline_links(ctx, entries)
    ctx.answer(render.timeline(ctx.i18n, inc, entries, links), ephemeral=True)
    return None


def incident_postmortem(ctx: Context, args: Args) -> Message | None:
    """Draft a postmortem."""
    inc = service.find_incident(ctx, number=args.opt("id"))
    ctx.answer(reports.postmortem_message(ctx, inc))
    return None


# -- buttons ------------------------------------------------------------------------------
def _by_value(ctx: Context, value: str):
    try:
        incident_id = int(value)
    except ValueError:
        raise UsageError(ctx.t("This button is no longer valid.")) from None
    return service.find_incident(ctx, incident_id=incident_id)


def on_summarize(ctx: Context, value: str) -> Message | None:
    reports.summarize_incident(ctx, _by_value(ctx, value))
    return None


def on_status(ctx: Context, value: str) -> Message | None:
    inc = _by_value(ctx, value)
    text = ctx.t(
        "Post a status update for {ref} with `/incident status <what changed> "
        "[--state investigating|identified|monitoring]` in its channel.",
        ref=render.ref(inc),
    )
    ctx.answer(_ack(text), ephemeral=True)
    return None


def on_resolve(ctx: Context, value: str) -> Message | None:
    inc = _by_value(ctx, value)
    if inc.status == "resolved":
        ctx.answer(_ack(ctx.t("{ref} is already resolved.", ref=render.ref(inc))), ephemeral=True)
        return None
    service.resolve(ctx, inc, None)
    return None
