"""Chat messages for runbooks (platform-neutral): the approval request with its dry-run diff,
live step progress, results, the catalog. Buttons carry only the run id; state is in the DB."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum

from bot.i18n import N_
from bot.messages import (
    Actions,
    Button,
    ButtonStyle,
    Confirm,
    Context,
    Divider,
    Header,
    Message,
    Section,
    mention,
    user_text,
)
from runbooks.model import RUN_STATE, Runbook
from runbooks.service import Outcome, Plan, RunView

Translate = Callable[..., str]


class RunbookAction(StrEnum):
    APPROVE = "runbook:approve"
    REJECT = "runbook:reject"
    CANCEL = "runbook:cancel"
    RESUME = "runbook:resume"


STATE_ICON = {
    "pending": "⚪",
    "running": "🔄",
    "succeeded": "✅",
    "failed": "❌",
    "skipped": "⏭️",
    "interrupted": "⚠️",
}
RISK = {"low": N_("low"), "medium": N_("medium"), "high": N_("high"), "critical": N_("critical")}
DEMO = N_("Demo cluster (emulated): nothing real is changed.")


def _params(params: Mapping[str, object]) -> str:
    shown = [f"`{k}={user_text(str(v), limit=200)}`" for k, v in params.items() if v is not None]
    return " ".join(shown) or "—"


def _changes(lines: list[str], t: Translate) -> str:
    if not lines:
        return t("No changes to Kubernetes objects.")
    return "\n".join(f"• {user_text(c, limit=300)}" for c in lines[:30])


def plan_message(
    runbook: Runbook, plan: Plan, params: Mapping[str, object], t: Translate, *, demo: bool = False
) -> Message:
    """The dry run (`/runbook run ... --dry-run`): what would change, step by step."""
    blocks: list = [
        Header(text=t("Dry run: {title}", title=runbook.title)),
        Section(
            fields=[
                (t("Runbook"), f"`{runbook.name}`"),
                (t("Risk"), t(RISK[runbook.risk])),
                (t("Parameters"), _params(params)),
            ]
        ),
    ]
    for s in plan.steps:
        line = f"{s.idx + 1}. **{user_text(s.name)}** ({s.kind})"
        if s.error:
            line += f"\n❌ {user_text(s.error)}"
        elif s.changes:
            line += "\n" + _changes(list(s.changes), t)
        elif s.summary:
            line += f" — {user_text(s.summary)}"
        blocks.append(Section(text=line))
    if demo:
        blocks.append(Context(text=t(DEMO)))
    return Message(text=t("Dry run of {name}", name=runbook.name), blocks=blocks)


def run_message(view: RunView, t: Translate) -> Message:
    """The run's message: request, diff, policy, approvals, live steps, and the buttons that
    fit its state (Approve/Reject while pending; Resume/Cancel when interrupted or failed)."""
    state = t(RUN_STATE.get(view.state, view.state))
    pol = view.policy
    policy_txt = pol.get("reason") or view.level
    fields = [
        (t("Runbook"), f"`{view.runbook}`"),
        (t("Risk"), t(RISK.get(view.risk, view.risk))),
        (t("Requested by"), mention(view.requester, view.requester_name)),
        (t("State"), state),
        (t("Parameters"), _params(view.params)),
        (t("Policy"), user_text(str(policy_txt))),
    ]
    blocks: list = [
        Header(text=t("Run #{id}: {title}", id=view.id, title=view.title)),
        Section(fields=fields),
        Section(text="**" + t("What will change") + "**\n" + _changes(view.plan, t)),
    ]
    approvals = [mention(u, n) + (" ✅" if d == "approve" else " ❌") for u, n, d in view.approvals]
    if approvals or view.state == "pending_approval":
        need = pol.get("approvals_required", 0)
        got = sum(1 for *_, d in view.approvals if d == "approve")
        blocks.append(
            Context(
                text=t(
                    "Approvals {got}/{need}: {who}",
                    got=got,
                    need=need,
                    who=", ".join(approvals) or "—",
                )
            )
        )
    if view.started_at is not None or view.state not in ("pending_approval", "approved"):
        lines = []
        for s in view.steps:
            icon = STATE_ICON.get(s.state, "•")
            text = f"{icon} {s.idx + 1}. {user_text(s.name)}"
            if s.output:
                text += f" — {user_text(s.output, limit=300)}"
            if s.error:
                text += f"\n    {user_text(s.error, limit=500)}"
            lines.append(text)
        blocks.append(Divider())
        blocks.append(Section(text="\n".join(lines)))
    if view.reason and view.state in ("failed", "interrupted", "cancelled", "expired", "rejected"):
        blocks.append(Context(text=user_text(view.reason)))
    value = str(view.id)
    if view.state == "pending_approval":
        blocks.append(
            Actions(
                buttons=[
                    Button(
                        label=t("Approve"),
                        action_id=RunbookAction.APPROVE,
                        value=value,
                        style=ButtonStyle.PRIMARY,
                        confirm=Confirm(
                            title=t("Approve run #{id}?", id=view.id),
                            text=t("{title} will change the infrastructure.", title=view.title),
                            confirm=t("Approve"),
                            deny=t("Back"),
                        ),
                    ),
                    Button(
                        label=t("Reject"),
                        action_id=RunbookAction.REJECT,
                        value=value,
                        style=ButtonStyle.DANGER,
                        confirm=Confirm(
                            title=t("Reject run #{id}?", id=view.id),
                            text=t("The run will not execute."),
                            confirm=t("Reject"),
                            deny=t("Back"),
                        ),
                    ),
                ]
            )
        )
    elif view.state in ("interrupted", "failed"):
        blocks.append(
            Actions(
                buttons=[
                    Button(
                        label=t("Resume"),
                        action_id=RunbookAction.RESUME,
                        value=value,
                        style=ButtonStyle.PRIMARY,
                        confirm=Confirm(
                            title=t("Resume run #{id}?", id=view.id),
                            text=t("The step that did not finish runs again."),
                            confirm=t("Resume"),
                            deny=t("Back"),
                        ),
                    ),
                    Button(
                        label=t("Cancel run"),
                        action_id=RunbookAction.CANCEL,
                        value=value,
                        style=ButtonStyle.DANGER,
                    ),
                ]
            )
        )
    if view.demo:
        blocks.append(Context(text=t(DEMO)))
    return Message(
        text=t("Run #{id} of {name}: {state}", id=view.id, name=view.runbook, state=state),
        blocks=blocks,
    )


def outcome_message(outcome: Outcome, t: Translate) -> Message:
    """A short answer for an outcome without a run to show (invalid, refused, not pending)."""
    if outcome.run is not None and outcome.status in (
        "pending",
        "approved",
        "succeeded",
        "failed",
        "duplicate",
    ):
        return run_message(outcome.run, t)
    return Message.plain(user_text(outcome.message, limit=3000))


def catalog_message(catalog: Mapping[str, Runbook], t: Translate) -> Message:
    """`/runbook list`."""
    lines = [f"• `{rb.name}` — {rb.title} ({t(RISK[rb.risk])})" for rb in catalog.values()]
    return Message(
        text=t("Runbooks"),
        blocks=[Header(text=t("Runbooks")), Section(text="\n".join(lines) or "—")],
    )


def runbook_message(rb: Runbook, t: Translate) -> Message:
    """`/runbook show <name>`: description, parameters, steps."""
    params = []
    for p in rb.parameters:
        bits = [p.type]
        if p.required:
            bits.append(t("required"))
        if p.default is not None:
            bits.append(t("default {value}", value=p.default))
        if p.enum:
            bits.append(" | ".join(map(str, p.enum)))
        if p.min is not None or p.max is not None:
            bits.append(
                f"{p.min if p.min is not None else ''}..{p.max if p.max is not None else ''}"
            )
        params.append(f"• `{p.name}` ({', '.join(bits)}) {p.description}")
    steps = [
        f"{i + 1}. {s.name} ({s.kind}, {phase})" for i, (phase, s) in enumerate(rb.all_steps())
    ]
    usage = f"/runbook run {rb.name} " + " ".join(
        f"{p.name}=…" for p in rb.parameters if p.required
    )
    return Message(
        text=rb.title,
        blocks=[
            Header(text=rb.title),
            Section(
                text=rb.description,
                fields=[(t("Risk"), t(RISK[rb.risk])), (t("Usage"), f"`{usage}`")],
            ),
            Section(text="**" + t("Parameters") + "**\n" + ("\n".join(params) or "—")),
            Section(text="**" + t("Steps") + "**\n" + "\n".join(steps)),
        ],
    )
