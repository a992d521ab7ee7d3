"""`/partner` commands and the review buttons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.i18n import N_
from bot.messages import Message
from bot.router import Opt, UsageError
from handlers.partners import flow
from handlers.partners import sandbox as sandboxes
from policies.engine import is_member
from storage import partners as repo
from storage.models.partners import Intake

if TYPE_CHECKING:
    from bot.context import Context
    from bot.router import Args, Router


def register(router: Router) -> None:
    g = router.command("partner", help=N_("Partner intake, compliance checklist, Trust Center"))
    g.sub(
        "intake",
        intake,
        help=N_("Start an intake thread for an offer"),
        usage="intake [offer name]",
    )
    g.sub(
        "status",
        status,
        help=N_("State and quality score of an intake"),
        usage="status <id>",
        min_args=1,
        max_args=1,
    )
    g.sub(
        "checklist",
        checklist,
        help=N_("Compliance checklist of an intake"),
        usage="checklist <id>",
        min_args=1,
        max_args=1,
    )
    g.sub(
        "scorecard",
        scorecard,
        help=N_("Link to the Trust Center scorecard"),
        usage="scorecard <id>",
        min_args=1,
        max_args=1,
    )
    g.sub(
        "publish",
        publish,
        help=N_("Publish an approved offer"),
        usage="publish <id>",
        min_args=1,
        max_args=1,
    )
    g.sub(
        "sandbox",
        sandbox,
        help=N_("Request a Kubernetes sandbox for an approved offer, or show it"),
        usage="sandbox <id> [--days N] [--status]",
        options=[
            Opt(
                "days", type=int, help=N_("days until it is deleted (1-30, default 7)"), metavar="N"
            ),
            Opt("status", flag=True, help=N_("show the sandbox state and expiry")),
        ],
        min_args=1,
        max_args=1,
    )
    router.thread_message(flow.matches, flow.on_thread_message)
    router.action("partner:approve", lambda ctx, v: decide(ctx, v, "approved"))
    router.action("partner:changes", lambda ctx, v: decide(ctx, v, "changes_requested"))
    router.action("partner:reject", lambda ctx, v: decide(ctx, v, "rejected"))


def _load(ctx: Context, ref: str) -> Intake:
    """An intake by id (`7`, `#7`) or slug; a usage error when there is none."""
    ref = ref.strip().lstrip("#")
    with ctx.session() as s:
        row = repo.get(s, intake_id=int(ref)) if ref.isdigit() else repo.by_slug(s, slug=ref)
    if row is None:
        raise UsageError(ctx.t("No partner intake {ref}.", ref=ref[:40]))
    return row


def _internal(ctx: Context) -> None:
    if ctx.event.actor.is_external:
        raise UsageError(ctx.t("Only the partner manager can do this."))


def intake(ctx: Context, args: Args) -> Message | None:
    """Start an intake thread in this channel."""
    _internal(ctx)
    row = flow.start(ctx, args.rest.strip())
    ctx.answer(
        Message.plain(ctx.t("Intake #{id} started in a thread here.", id=row.id)), ephemeral=True
    )
    return None


def status(ctx: Context, args: Args) -> Message | None:
    ctx.answer(flow.status_message(ctx, _load(ctx, args.positional[0])), ephemeral=True)
    return None


def checklist(ctx: Context, args: Args) -> Message | None:
    """Show the checklist; when items are missing, ask for them again in the intake thread."""
    row = _load(ctx, args.positional[0])
    ctx.reply(flow.checklist_message(ctx, row), ephemeral=True)
    if row.state == "checklist":
        with ctx.session() as s:
            fresh = repo.get(s, intake_id=row.id or 0)
            assert fresh is not None
            meta = repo.meta(fresh)
            meta["followups"] = []
            fresh.meta_json = repo.dumps(meta)
            s.add(fresh)
            flow.ask_next(ctx, s, fresh)
    return None


def public_url(ctx: Context, slug: str) -> str:
    base = (ctx.settings.copilot_public_url or "").rstrip("/")
    return f"{base}/trust/{slug}"


def scorecard(ctx: Context, args: Args) -> Message | None:
    row = _load(ctx, args.positional[0])
    url = public_url(ctx, row.slug)
    text = ctx.t(
        "Trust Center scorecard of {offer}: {url}", offer=row.offer_name or row.slug, url=url
    )
    if row.state != "published":
        text += "\n" + ctx.t("(Not published yet: the page is visible only after publishing.)")
    ctx.answer(Message.plain(text), ephemeral=True)
    return None


def publish(ctx: Context, args: Args) -> Message | None:
    """Publish an approved offer to the Trust Center (compare-and-set, audited)."""
    _internal(ctx)
    row = _load(ctx, args.positional[0])
    with ctx.session() as s:
        ok = repo.transition(
            s,
            intake_id=row.id or 0,
            from_states=("approved",),
            now=ctx.now(),
            state="published",
            published_at=ctx.now(),
        )
        if not ok:
            raise UsageError(
                ctx.t(
                    "Only an approved offer can be published (#{id} is {state}).",
                    id=row.id,
                    state=ctx.t(flow.STATE_LABEL.get(row.state, row.state)),
                )
            )
        ctx.audit("partner.publish", f"partner_intake:{row.id}", {"slug": row.slug})
        fresh = repo.get(s, intake_id=row.id or 0)
        assert fresh is not None
        flow.post_thread(
            ctx,
            fresh,
            Message.plain(
                ctx.t("Published to the Trust Center: {url}", url=public_url(ctx, fresh.slug))
            ),
        )
    return Message.plain(
        ctx.t(
            "{offer} published: {url}",
            offer=row.offer_name or row.slug,
            url=public_url(ctx, row.slug),
        )
    )


def sandbox(ctx: Context, args: Args) -> Message | None:
    """Request a sandbox namespace (approval-gated runbook) for an approved offer, or --status."""
    row = _load(ctx, args.positional[0])
    if args.opt("status"):
        return sandboxes.status(ctx, row)
    return sandboxes.request(ctx, row, days=args.opt("days"))


def may_review(ctx: Context, row: Intake) -> str | None:
    """Why this user may not review (None when allowed)."""
    actor = ctx.event.actor
    if actor.id == row.requester_id:
        return ctx.t("You started this intake; another reviewer must decide.")
    platform = str(ctx.event.platform)

    def resolve(ref: str, plat: str, user_id: str) -> bool:
        api = ctx.runtime.apis.get(ctx.event.platform)
        return api is not None and user_id in api.group_members(ref)

    rules = flow.rules()
    if actor.is_external or not is_member(rules.reviewers, platform, actor.id, resolve):
        return ctx.t(
            "Only members of {groups} may review partner offers.",
            groups=", ".join(rules.review_groups),
        )
    return None


def decide(ctx: Context, value: str, decision: str) -> Message | None:
    """Approve / request changes / reject (compare-and-set from `review`, audited)."""
    if not value.isdigit():
        raise UsageError(ctx.t("This button is no longer valid."))
    row = _load(ctx, value)
    reason = may_review(ctx, row)
    if reason:
        ctx.answer(Message.plain("⛔ " + reason), ephemeral=True)
        return None
    with ctx.session() as s:
        values: dict[str, object] = {
            "state": decision,
            "reviewer_id": ctx.event.actor.id,
            "reviewed_at": ctx.now(),
        }
        if decision == "changes_requested":
            values["state"] = "checklist"
        if not repo.transition(
            s, intake_id=row.id or 0, from_states=("review",), now=ctx.now(), **values
        ):
            ctx.answer(Message.plain(ctx.t("This offer was already decided.")), ephemeral=True)
            return None
        ctx.audit(f"partner.{decision}", f"partner_intake:{row.id}", {})
        fresh = repo.get(s, intake_id=row.id or 0)
        assert fresh is not None
        if fresh.review_key:
            ctx.update(fresh.review_key, flow.review_message(ctx, fresh))
        note = {
            "approved": ctx.t(
                "Approved by {who}. It can be published with `/partner publish {id}`.",
                who=ctx.mention(),
                id=fresh.id,
            ),
            "changes_requested": ctx.t(
                "{who} requested changes. Reply `change <question>` to update an answer, then "
                "`submit`.",
                who=ctx.mention(),
            ),
            "rejected": ctx.t("Rejected by {who}.", who=ctx.mention()),
        }[decision]
        flow.post_thread(ctx, fresh, Message.plain(note))
    return None
