"""The intake as a form (issue #7): the same questions, validators and records as the thread.

The root message's "Fill in a form" button opens the questionnaire as a form (a Slack modal, a
Mattermost dialog, a form in the local page), prefilled with the answers given so far.
Invalid fields go back as field errors before anything is stored; a valid submission records
each new or changed answer with who gave it, exactly like thread answers, and the intake
continues in its thread (the next missing item, or the checklist and review).

Forms hold at most FIELDS_PER_PAGE questions (a Slack modal holds 100 blocks; Mattermost
documents no element limit, so we stay well below what a dialog shows usably): a longer
questionnaire is split into pages, and each submitted page offers a button to the next.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bot.forms import Choice, FieldType, Form, FormField, Translate, yes_no
from bot.messages import Actions, Button, ButtonStyle, Message, user_text
from bot.platforms.base import ChatError
from handlers.partners import flow, questionnaire
from handlers.partners.questionnaire import Invalid, Question
from storage import partners as repo

if TYPE_CHECKING:
    from bot.context import Context
    from bot.router import Router
    from storage.models.partners import Intake

FORM_ID = "partner:intake_form"
OPEN_ACTION = "partner:form"
FIELDS_PER_PAGE = 25
ACTIVE = ("collecting", "checklist")
_TYPES = {
    "text": FieldType.TEXT,
    "url": FieldType.URL,
    "email": FieldType.EMAIL,
    "enum": FieldType.SELECT,
    "yesno": FieldType.YESNO,
    "list": FieldType.TEXTAREA,
    "percent": FieldType.TEXT,
}


def register(router: Router) -> None:
    """The "Fill in a form" button and the form's submission (with its field check)."""
    router.action(OPEN_ACTION, open_form)
    router.form(FORM_ID, on_submit, check=check)


def form_button(t: Translate, intake_id: int, page: int = 0) -> Button:
    return Button(
        label=t("Fill in a form"),
        action_id=OPEN_ACTION,
        value=_value(intake_id, page),
        style=ButtonStyle.PRIMARY,
    )


# -- pages and values ------------------------------------------------------------------------
def pages(questions: tuple[Question, ...], per_page: int | None = None) -> int:
    return max(1, math.ceil(len(questions) / (per_page or FIELDS_PER_PAGE)))


def page_questions(
    questions: tuple[Question, ...], page: int, per_page: int | None = None
) -> tuple[Question, ...]:
    size = per_page or FIELDS_PER_PAGE
    return questions[page * size : (page + 1) * size]


def _value(intake_id: int, page: int) -> str:
    return f"{intake_id}:{page}"


def _parse_value(value: str) -> tuple[int, int] | None:
    ident, _, page = value.partition(":")
    if not ident.isdigit() or not (page or "0").isdigit():
        return None
    return int(ident), int(page or "0")


def initial(value: Any) -> str:
    """A stored answer as the text a form field shows (skipped answers show empty)."""
    if value is None:
        return ""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# -- the form --------------------------------------------------------------------------------
def build(t: Translate, locale: str, intake: Intake, page: int = 0) -> Form:
    """The questionnaire page as a form, prefilled with the intake's answers."""
    questions = flow.questions()
    answers = repo.answers(intake)
    fields = []
    for q in page_questions(questions, page):
        kind = _TYPES[q.type]
        choices = [Choice(value=o, label=o) for o in q.options] if kind == FieldType.SELECT else []
        fields.append(
            FormField(
                name=q.key,
                label=q.short(locale),
                type=kind,
                # conditional questions are required only when they apply (checked on submit)
                required=not q.optional and not q.when,
                help=q.text(locale),
                placeholder=t("comma separated") if q.type == "list" else "",
                choices=yes_no(t) if kind == FieldType.YESNO else choices,
                initial=initial(answers.get(q.key)),
                max_length=500 if q.type == "text" else None,
            )
        )
    total = pages(questions)
    offer = user_text(intake.offer_name or intake.slug, limit=120)
    intro = t(
        "Intake #{id}: {offer}. Answers given so far are filled in; optional fields may stay "
        "empty. You can also keep answering in the thread.",
        id=intake.id,
        offer=offer,
    )
    title = t("Partner intake")
    if total > 1:
        title = t("Intake, page {n}/{total}", n=page + 1, total=total)
    return Form(
        form_id=FORM_ID,
        title=title,
        fields=fields,
        value=_value(intake.id or 0, page),
        intro=intro,
        submit_label=t("Submit"),
    )


def parse(
    questions: tuple[Question, ...],
    values: Mapping[str, str],
    t: Translate,
    known: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed answers of a submitted page and field errors, with the thread's validators.

    Empty optional fields become skipped (None). A conditional question is required when it
    applies given this page and the `known` answers.
    """
    typed: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for q in questions:
        raw = str(values.get(q.key) or "").strip()
        if not raw:
            continue
        try:
            typed[q.key] = questionnaire.validate(q, raw, t)
        except Invalid as exc:
            errors[q.key] = str(exc)
    merged = {**(known or {}), **typed}
    for q in questions:
        if q.key in typed or q.key in errors or not q.applies(merged):
            continue
        if q.optional:
            typed[q.key] = None
        else:
            errors[q.key] = t("This field is required.")
    return typed, errors


def check(values: Mapping[str, str], value: str, t: Translate) -> dict[str, str]:
    """The synchronous field check (pure: it runs while the platform waits)."""
    parsed = _parse_value(value)
    if parsed is None:
        return {}
    return parse(page_questions(flow.questions(), parsed[1]), values, t)[1]


def _external(ctx: Context, user_id: str) -> bool:
    """Dialog submissions do not say whether the user is remote; the user API does."""
    try:
        return bool(ctx.chat.user(user_id).is_external)
    except (ChatError, KeyError):
        return False


# -- handlers --------------------------------------------------------------------------------
def open_form(ctx: Context, value: str) -> Message | None:
    """The "Fill in a form" button: open the questionnaire (this page) as a form."""
    parsed = _parse_value(value)
    with ctx.session() as s:
        intake = repo.get(s, intake_id=parsed[0]) if parsed else None
    if intake is None or parsed is None or intake.state not in ACTIVE:
        ctx.answer(Message.plain(ctx.t("The intake is no longer active.")), ephemeral=True)
        return None
    form = build(ctx.t, ctx.locale, intake, min(parsed[1], pages(flow.questions()) - 1))
    try:
        opened = ctx.open_form(form)
    except ChatError:
        opened = False
    if not opened:
        ctx.reply(
            Message.plain(ctx.t("The form could not be opened; please answer in the thread.")),
            ephemeral=True,
        )
    return None


def on_submit(ctx: Context, value: str) -> Message | None:
    """A submitted page: record the new and changed answers, then continue the intake."""
    t = ctx.t
    parsed = _parse_value(value)
    with ctx.session() as s:
        intake = repo.get(s, intake_id=parsed[0]) if parsed else None
        if intake is None or parsed is None or intake.state not in ACTIVE:
            ctx.answer(Message.plain(t("The intake is no longer active.")), ephemeral=True)
            return None
        page = parsed[1]
        questions = page_questions(flow.questions(), page)
        before = repo.answers(intake)
        typed, errors = parse(questions, ctx.event.form, t, before)
        if errors:  # the platform check passed, but earlier answers changed the conditions
            lines = [f"• `{k}`: {v}" for k, v in errors.items()]
            ctx.answer(
                Message.plain("\n".join([t("Nothing was recorded:"), *lines])), ephemeral=True
            )
            return None
        answers = {**before, **typed}
        # answers that depend on a changed one (`when`) are dropped when they no longer apply
        for q in flow.questions():
            if q.key in answers and not q.applies(answers):
                answers.pop(q.key)
        changed = [
            q for q in questions if q.key in typed and before.get(q.key, ...) != typed[q.key]
        ]
        # the form showed every question of the page: missing checklist items among them are
        # not asked again one by one; the checklist lists what is left
        meta = repo.meta(intake)
        meta["followups"] = sorted({*(meta.get("followups") or []), *(q.key for q in questions)})
        if not repo.advance(
            s,
            intake_id=intake.id or 0,
            expect_state=intake.state,
            expect_current=intake.current,
            now=ctx.now(),
            answers_json=repo.dumps(answers),
            meta_json=repo.dumps(meta),
        ):
            ctx.answer(Message.plain(t("The intake changed meanwhile; try again.")), ephemeral=True)
            return None
        actor = ctx.event.actor
        external = actor.is_external or _external(ctx, actor.id)
        for q in changed:
            repo.add_answer(
                s,
                intake_id=intake.id or 0,
                question=q.key,
                value=typed[q.key],
                raw=str(ctx.event.form.get(q.key) or "")[:4000],
                user_id=actor.id,
                user_name=actor.label,
                is_external=external,
                now=ctx.now(),
            )
        ctx.audit(
            "partner.form",
            f"partner_intake:{intake.id}",
            {"page": page, "answers": [q.key for q in changed]},
        )
        fresh = repo.get(s, intake_id=intake.id or 0)
        assert fresh is not None
        note = ctx.tn(
            "{who} filled in the form: {n} answer recorded.",
            "{who} filled in the form: {n} answers recorded.",
            len(changed),
            who=ctx.mention(),
        )
        if page + 1 < pages(flow.questions()):
            flow.post_thread(
                ctx,
                fresh,
                Message(
                    text=note,
                    blocks=[
                        *Message.plain(note).blocks,
                        Actions(buttons=[form_button(t, fresh.id or 0, page + 1)]),
                    ],
                ),
            )
            return None
        flow.post_thread(ctx, fresh, Message.plain(note))
        flow.ask_next(ctx, s, fresh)
    return None
