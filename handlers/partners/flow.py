"""The intake conversation: one question at a time in the intake thread, all state in the DB."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot import outbox
from bot.i18n import N_
from bot.messages import Actions, Button, ButtonStyle, Confirm, Context, Message, Section, user_text
from handlers.incidents.service import slugify
from handlers.partners import compliance, questionnaire
from handlers.partners.questionnaire import Invalid, Question
from storage import partners as repo
from storage.models.partners import Intake

if TYPE_CHECKING:
    from sqlmodel import Session

    from bot.context import Context as Ctx

STATUS_ICON = {compliance.MET: "✅", compliance.MISSING: "❌", compliance.REVIEW: "🔎"}
STATUS_LABEL = {
    compliance.MET: N_("met"),
    compliance.MISSING: N_("missing"),
    compliance.REVIEW: N_("needs review"),
}
STATE_LABEL = {
    "collecting": N_("collecting answers"),
    "checklist": N_("waiting for missing items"),
    "review": N_("in review"),
    "changes_requested": N_("changes requested"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
    "published": N_("published"),
    "cancelled": N_("cancelled"),
}
THREAD_WORDS = ("back", "skip", "status", "cancel", "submit", "retry", "change", "help")


def questions() -> tuple[Question, ...]:
    return questionnaire.load()


def rules() -> compliance.Rules:
    return compliance.load()


def next_question(
    answers: dict[str, Any], meta: dict[str, Any], t: Any
) -> tuple[str, compliance.Item | None] | None:
    """The next question: unanswered ones, then missing checklist items (once each per pass)."""
    for q in questions():
        if q.applies(answers) and q.key not in answers:
            return q.key, None
    asked = set(meta.get("followups") or [])
    for item in compliance.checklist(answers, rules(), t).missing:
        if item.question and item.question not in asked:
            return item.question, item
    return None


def unique_slug(s: Session, name: str, fallback: str) -> str:
    base = slugify(name, limit=60) if name else fallback
    slug, n = base, 1
    while repo.slug_taken(s, slug=slug):
        n += 1
        slug = f"{base}-{n}"
    return slug


# -- messages --------------------------------------------------------------------------------
def question_message(ctx: Ctx, intake: Intake, key: str, note: str = "") -> Message:
    """The prompt for one question, with its options and whether `skip` is allowed."""
    t = ctx.t
    q = questionnaire.by_key(questions(), key)
    assert q is not None
    answers = repo.answers(intake)
    asked = [x for x in questions() if x.applies(answers)]
    pos = next((i + 1 for i, x in enumerate(asked) if x.key == key), len(asked))
    lines = [f"**{t('Question {n} of {total}', n=pos, total=len(asked))}:** {q.text(ctx.locale)}"]
    if note:
        lines.insert(0, note)
    if q.options:
        lines.append(t("Options: {options}", options=", ".join(f"`{o}`" for o in q.options)))
    hint = (
        t("Reply in this thread. `skip` (optional), `back`, `status`, `cancel`.")
        if q.optional
        else t("Reply in this thread. `back`, `status`, `cancel`.")
    )
    return Message(
        text=q.text(ctx.locale), blocks=[Section(text="\n".join(lines)), Context(text=hint)]
    )


def checklist_message(ctx: Ctx, intake: Intake) -> Message:
    """The checklist with statuses, rule ids and coverage."""
    t = ctx.t
    check = compliance.checklist(repo.answers(intake), rules(), t)
    lines = [
        f"{STATUS_ICON[i.status]} `{i.rule}` {i.label(ctx.locale)}: "
        f"**{t(STATUS_LABEL[i.status])}** — {i.reason}"
        for i in check.items
    ]
    title = t(
        "Compliance checklist for {offer} (#{id}): {pct}% covered",
        offer=user_text(intake.offer_name or intake.slug, limit=120),
        id=intake.id,
        pct=round(check.coverage * 100),
    )
    return Message(
        text=title, blocks=[Section(text=f"**{title}**"), Section(text="\n".join(lines))]
    )


def status_message(ctx: Ctx, intake: Intake) -> Message:
    """State, progress, coverage and the quality score with its breakdown."""
    t = ctx.t
    answers = repo.answers(intake)
    check = compliance.checklist(answers, rules(), t)
    sc = compliance.score(questions(), answers, check, rules())
    names = {
        "completeness": t("Completeness"),
        "compliance": t("Compliance coverage"),
        "sla": t("SLA"),
        "support": t("Support"),
        "documentation": t("Documentation"),
    }
    weights = rules().score
    breakdown = "\n".join(f"• {names[k]}: {v:g} / {weights.get(k, 0)}" for k, v in sc.parts.items())
    title = t(
        "{offer} (#{id}): {state}",
        offer=user_text(intake.offer_name or intake.slug, limit=120),
        id=intake.id,
        state=t(STATE_LABEL.get(intake.state, intake.state)),
    )
    fields = [
        (t("Quality score"), f"{sc.total}/100"),
        (t("Checklist coverage"), f"{round(check.coverage * 100)}%"),
        (t("Answered"), f"{round(compliance.completeness(questions(), answers) * 100)}%"),
    ]
    if intake.current:
        fields.append((t("Current question"), f"`{intake.current}`"))
    return Message(
        text=title,
        blocks=[Section(text=f"**{title}**", fields=fields), Section(text=breakdown)],
    )


def review_message(ctx: Ctx, intake: Intake) -> Message:
    """The review request with Approve / Request changes / Reject (each confirmed)."""
    t = ctx.t
    answers = repo.answers(intake)
    check = compliance.checklist(answers, rules(), t)
    sc = compliance.score(questions(), answers, check, rules())
    offer = user_text(intake.offer_name or intake.slug, limit=120)
    title = t("Partner offer ready for review: {offer} (#{id})", offer=offer, id=intake.id)
    summary = "\n".join(
        f"• `{q.key}`: {user_text(questionnaire.display(answers.get(q.key), t), limit=200)}"
        for q in questions()
        if q.key in answers
    )
    state = intake.state
    blocks: list[Any] = [
        Section(
            text=f"**{title}**",
            fields=[
                (t("Quality score"), f"{sc.total}/100"),
                (t("Checklist coverage"), f"{round(check.coverage * 100)}%"),
                (t("Requested by"), ctx.mention(intake.requester_id, intake.requester_name)),
                (t("State"), t(STATE_LABEL.get(state, state))),
            ],
        ),
        Section(text=summary or "—"),
    ]
    if state == "review":
        value = str(intake.id)

        def confirm(what: str) -> Confirm:
            return Confirm(
                title=what,
                text=t("{what} {offer}?", what=what, offer=offer),
                confirm=what,
                deny=t("Cancel"),
            )

        blocks.append(
            Actions(
                buttons=[
                    Button(
                        label=t("Approve"),
                        action_id="partner:approve",
                        value=value,
                        style=ButtonStyle.PRIMARY,
                        confirm=confirm(t("Approve")),
                    ),
                    Button(
                        label=t("Request changes"),
                        action_id="partner:changes",
                        value=value,
                        confirm=confirm(t("Request changes")),
                    ),
                    Button(
                        label=t("Reject"),
                        action_id="partner:reject",
                        value=value,
                        style=ButtonStyle.DANGER,
                        confirm=confirm(t("Reject")),
                    ),
                ]
            )
        )
    elif intake.reviewer_id:
        blocks.append(Context(text=t("Decision by {who}", who=ctx.mention(intake.reviewer_id))))
    return Message(text=title, blocks=blocks)


# -- posting ---------------------------------------------------------------------------------
def post_thread(ctx: Ctx, intake: Intake, message: Message) -> str:
    """Post into the intake thread (works before the root message is delivered)."""
    if intake.thread_ts:
        return ctx.post(
            intake.channel_id, message, thread_id=intake.thread_ts, platform=_platform(intake)
        )
    return ctx.post(
        intake.channel_id, message, thread_key=intake.root_key, platform=_platform(intake)
    )


def _platform(intake: Intake) -> Any:
    from bot.events import Platform

    return Platform(intake.platform)


def ask_next(ctx: Ctx, s: Session, intake: Intake, note: str = "") -> None:
    """Move to the next question (or finish the questionnaire) and post it in the thread."""
    answers, meta = repo.answers(intake), repo.meta(intake)
    found = next_question(answers, meta, ctx.t)
    now = ctx.now()
    if found is not None:
        key, item = found
        if item is not None:
            meta.setdefault("followups", []).append(key)
            note = note or ctx.t(
                "Checklist item `{rule}` is missing: {reason}", rule=item.rule, reason=item.reason
            )
        repo.advance(
            s,
            intake_id=intake.id or 0,
            expect_state=intake.state,
            expect_current=intake.current,
            now=now,
            current=key,
            state="collecting",
            meta_json=repo.dumps(meta),
        )
        fresh = repo.get(s, intake_id=intake.id or 0)
        assert fresh is not None
        post_thread(ctx, fresh, question_message(ctx, fresh, key, note))
        return
    finish_questions(ctx, s, intake, note)


def finish_questions(ctx: Ctx, s: Session, intake: Intake, note: str = "") -> None:
    """All questions done: review if the checklist is complete, else wait for missing items."""
    check = compliance.checklist(repo.answers(intake), rules(), ctx.t)
    now = ctx.now()
    if check.complete:
        submit_for_review(ctx, s, intake, note)
        return
    repo.advance(
        s,
        intake_id=intake.id or 0,
        expect_state=intake.state,
        expect_current=intake.current,
        now=now,
        current=None,
        state="checklist",
        coverage=check.coverage,
    )
    fresh = repo.get(s, intake_id=intake.id or 0)
    assert fresh is not None
    post_thread(ctx, fresh, checklist_message(ctx, fresh))
    post_thread(
        ctx,
        fresh,
        Message.plain(
            ctx.t(
                "{n} checklist items are still missing. Reply `retry` to answer them, "
                "`change <question>` to change an answer, or `submit` to send the offer for review "
                "as it is.",
                n=len(check.missing),
            )
        ),
    )


def submit_for_review(ctx: Ctx, s: Session, intake: Intake, note: str = "") -> bool:
    """Move to review (CAS), store score/coverage and post the review request."""
    answers = repo.answers(intake)
    check = compliance.checklist(answers, rules(), ctx.t)
    sc = compliance.score(questions(), answers, check, rules())
    now = ctx.now()
    ok = repo.transition(
        s,
        intake_id=intake.id or 0,
        from_states=("collecting", "checklist"),
        now=now,
        state="review",
        current=None,
        completed_at=now,
        score=sc.total,
        coverage=check.coverage,
    )
    if not ok:
        return False
    fresh = repo.get(s, intake_id=intake.id or 0)
    assert fresh is not None
    channel = review_channel(ctx, fresh)
    key = ctx.post(channel, review_message(ctx, fresh), platform=_platform(fresh))
    fresh.review_key = key
    s.add(fresh)
    ctx.audit(
        "partner.submit",
        f"partner_intake:{fresh.id}",
        {"score": sc.total, "coverage": round(check.coverage, 3)},
    )
    post_thread(
        ctx,
        fresh,
        Message.plain(
            ctx.t(
                "Thank you! All questions are answered. Quality score {score}/100, "
                "checklist {pct}% covered. The offer went to review.",
                score=sc.total,
                pct=round(check.coverage * 100),
            )
        ),
    )
    return True


def review_channel(ctx: Ctx, intake: Intake) -> str:
    """COPILOT_PARTNER_REVIEW_CHANNEL (by id or name), else the intake channel."""
    name = ctx.settings.copilot_partner_review_channel
    if name:
        api = ctx.runtime.apis.get(_platform(intake))
        try:
            found = api.find_channel(name) if api is not None else None
        except Exception:
            found = None
        if found is not None:
            return found.id
    return intake.channel_id


# -- starting and answering ------------------------------------------------------------------
def form_button(t: Any, intake_id: int) -> Button:
    from handlers.partners.form import form_button as button

    return button(t, intake_id)


def start(ctx: Ctx, offer_name: str) -> Intake:
    """Create an intake, post its root message in the channel and the first question in it."""
    t = ctx.t
    ev = ctx.event
    with ctx.session() as s:
        answers: dict[str, Any] = {}
        if offer_name:
            answers["offer_name"] = offer_name[:200]
        key = outbox.new_key()  # the root's outbox key, known before it is posted
        intake = repo.create(
            s,
            platform=str(ev.platform),
            channel_id=ev.channel.id,
            channel_name=ev.channel.name,
            root_key=key,
            offer_name=offer_name[:200],
            slug=unique_slug(s, offer_name, f"offer-{key[:8]}"),
            answers_json=repo.dumps(answers),
            locale=ctx.locale,
            requester_id=ev.actor.id,
            requester_name=ev.actor.label,
            started_at=ctx.now(),
            updated_at=ctx.now(),
        )
        title = t(
            "Partner intake: {offer}", offer=user_text(offer_name or t("new offer"), limit=120)
        )
        root = Message(
            text=title,
            blocks=[
                Section(text="**" + title + "**"),
                Section(
                    text=t(
                        "{who} started an intake for a marketplace offer. I will ask the questions "
                        "one at a time in this thread; anyone in the channel can answer.",
                        who=ctx.mention(),
                    )
                ),
                Context(text=t("Prefer one form with all the questions? Use the button.")),
                Actions(buttons=[form_button(t, intake.id or 0)]),
            ],
        )
        ctx.post(ev.channel.id, root, key=key)
        ctx.audit("partner.intake", f"partner_intake:{intake.id}", {"offer": offer_name[:200]})
        ask_next(ctx, s, intake)
        return intake


def find_for_thread(ctx: Ctx) -> Intake | None:
    ev = ctx.event
    if not ev.thread_id:
        return None
    with ctx.session() as s:
        return repo.by_thread(
            s, platform=str(ev.platform), channel_id=ev.channel.id, thread_ts=ev.thread_id
        )


def matches(ctx: Ctx) -> bool:
    """Router matcher: a plain message in an intake thread (not from a bot)."""
    if ctx.event.actor.is_bot:
        return False
    intake = find_for_thread(ctx)
    return intake is not None and intake.state in ("collecting", "checklist")


def on_thread_message(ctx: Ctx) -> Message | None:
    """An answer, or one of the thread words (back, skip, status, cancel, submit, retry...)."""
    t = ctx.t
    text = ctx.event.text.strip()
    word, _, rest = text.partition(" ")
    word = word.lower().lstrip("/")
    with ctx.session() as s:
        intake = find_for_thread(ctx)
        if intake is None:
            return None
        if word == "status" and not rest:
            return status_message(ctx, intake)
        if word == "help" and not rest:
            return Message.plain(
                t(
                    "Reply with the answer to the current question, or: `back`, "
                    "`skip` (optional questions), `status`, `cancel`, "
                    "`change <question>`, `submit`."
                )
            )
        if word == "cancel" and not rest:
            return cancel(ctx, s, intake)
        if word == "back" and not rest:
            return back(ctx, s, intake)
        if word == "change" and rest:
            return change(ctx, s, intake, rest.strip())
        if intake.state == "checklist":
            if word == "submit" and not rest:
                submit_for_review(ctx, s, intake)
                return None
            if word == "retry" and not rest:
                meta = repo.meta(intake)
                meta["followups"] = []
                intake.meta_json = repo.dumps(meta)
                s.add(intake)
                ask_next(ctx, s, intake)
                return None
            return Message.plain(
                t("All questions are answered. Reply `retry`, `change <question>` or `submit`.")
            )
        if word == "skip" and not rest:
            return skip(ctx, s, intake)
        return answer(ctx, s, intake, text)


def answer(ctx: Ctx, s: Session, intake: Intake, text: str) -> Message | None:
    """Validate and store the answer to the current question, then ask the next."""
    q = questionnaire.by_key(questions(), intake.current or "")
    if q is None:
        return None
    try:
        value = questionnaire.validate(q, text, ctx.t)
    except Invalid as exc:
        return Message.plain(
            ctx.t("⚠️ {reason} {question}", reason=str(exc), question=q.text(ctx.locale))
        )
    return store(ctx, s, intake, q, value, text)


def store(
    ctx: Ctx, s: Session, intake: Intake, q: Question, value: Any, raw: str
) -> Message | None:
    answers = repo.answers(intake)
    answers[q.key] = value
    # answers that depend on a changed one (`when`) are dropped when they no longer apply
    for other in questions():
        if other.key in answers and not other.applies(answers):
            answers.pop(other.key)
    actor = ctx.event.actor
    if not repo.advance(
        s,
        intake_id=intake.id or 0,
        expect_state=intake.state,
        expect_current=q.key,
        now=ctx.now(),
        answers_json=repo.dumps(answers),
    ):
        return Message.plain(ctx.t("That question was just answered by someone else."))
    repo.add_answer(
        s,
        intake_id=intake.id or 0,
        question=q.key,
        value=value,
        raw=raw,
        user_id=actor.id,
        user_name=actor.label,
        is_external=actor.is_external,
        now=ctx.now(),
    )
    fresh = repo.get(s, intake_id=intake.id or 0)
    assert fresh is not None
    ask_next(ctx, s, fresh)
    return None


def skip(ctx: Ctx, s: Session, intake: Intake) -> Message | None:
    q = questionnaire.by_key(questions(), intake.current or "")
    if q is None:
        return None
    if not q.optional:
        return Message.plain(
            ctx.t(
                "This question is required and cannot be skipped. {question}",
                question=q.text(ctx.locale),
            )
        )
    answers = repo.answers(intake)
    if q.key in answers:  # a follow-up: keep the earlier (empty) answer and move on
        fresh = intake
    else:
        return store(ctx, s, intake, q, None, "skip")
    ask_next(ctx, s, fresh)
    return None


def back(ctx: Ctx, s: Session, intake: Intake) -> Message | None:
    """Go back to the previous applicable question (its answer is asked again)."""
    answers = repo.answers(intake)
    asked = [q.key for q in questions() if q.applies(answers)]
    idx = asked.index(intake.current) if intake.current in asked else len(asked)
    if idx == 0:
        return Message.plain(ctx.t("This is the first question."))
    key = asked[idx - 1]
    answers.pop(key, None)
    if not repo.advance(
        s,
        intake_id=intake.id or 0,
        expect_state=intake.state,
        expect_current=intake.current,
        now=ctx.now(),
        current=key,
        state="collecting",
        answers_json=repo.dumps(answers),
    ):
        return Message.plain(ctx.t("The intake changed meanwhile; try again."))
    fresh = repo.get(s, intake_id=intake.id or 0)
    assert fresh is not None
    return question_message(ctx, fresh, key)


def change(ctx: Ctx, s: Session, intake: Intake, key: str) -> Message | None:
    q = questionnaire.by_key(questions(), key.strip("`"))
    if q is None:
        return Message.plain(
            ctx.t(
                "Unknown question {key}. Questions: {keys}",
                key=key[:40],
                keys=", ".join(x.key for x in questions()),
            )
        )
    if not repo.advance(
        s,
        intake_id=intake.id or 0,
        expect_state=intake.state,
        expect_current=intake.current,
        now=ctx.now(),
        current=q.key,
        state="collecting",
    ):
        return Message.plain(ctx.t("The intake changed meanwhile; try again."))
    fresh = repo.get(s, intake_id=intake.id or 0)
    assert fresh is not None
    return question_message(ctx, fresh, q.key)


def cancel(ctx: Ctx, s: Session, intake: Intake) -> Message | None:
    if ctx.event.actor.is_external:
        return Message.plain(ctx.t("Only the partner manager can cancel the intake."))
    if not repo.transition(
        s,
        intake_id=intake.id or 0,
        from_states=("collecting", "checklist"),
        now=ctx.now(),
        state="cancelled",
        current=None,
    ):
        return Message.plain(ctx.t("The intake is no longer active."))
    ctx.audit("partner.cancel", f"partner_intake:{intake.id}", {})
    return Message.plain(ctx.t("Intake #{id} cancelled.", id=intake.id))
