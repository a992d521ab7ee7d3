from __future__ import annotations

from datetime import UTC, datetime

from bot.platforms import slack_render
from runbooks.catalog import load_catalog
from runbooks.messages import RunbookAction, catalog_message, run_message, runbook_message
from runbooks.service import RunView, StepView

T = lambda s, **kw: s.format(**kw)  # noqa: E731


def view(state: str, **kw: object) -> RunView:
    base = dict(
        id=7,
        runbook="scale-deployment",
        title="Scale a deployment",
        risk="medium",
        state=state,
        params={"namespace": "shop", "deployment": "@channel"},
        requester="U1",
        requester_name="Alice",
        platform="slack",
        channel="C1",
        level="approval",
        policy={"reason": "Needs 1 approval(s) from sre", "approvals_required": 1},
        plan=["deployment shop/cart: replicas 3 → 5"],
        steps=(StepView(0, "step", "Scale", "scale", "pending"),),
        approvals=(),
        reason=None,
        message_key=None,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        expires_at=None,
        started_at=None,
        finished_at=None,
    )
    base.update(kw)
    return RunView(**base)  # type: ignore[arg-type]


def _buttons(msg) -> list[str]:
    return [b.action_id for blk in msg.blocks if blk.type == "actions" for b in blk.buttons]


def test_pending_message_has_diff_and_confirmed_buttons() -> None:
    msg = run_message(view("pending_approval"), T)
    assert _buttons(msg) == [RunbookAction.APPROVE, RunbookAction.REJECT]
    texts = " ".join(getattr(b, "text", "") or "" for b in msg.blocks)
    assert "replicas 3 → 5" in texts
    assert "@channel" not in str(msg.blocks)  # user input is neutralized
    actions = next(b for b in msg.blocks if b.type == "actions")
    assert all(b.confirm is not None for b in actions.buttons)


def test_progress_and_terminal_messages() -> None:
    running = view(
        "running",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        steps=(StepView(0, "step", "Scale", "scale", "running"),),
    )
    assert "🔄 1. Scale" in str(run_message(running, T).blocks)
    assert _buttons(run_message(running, T)) == []
    failed = view(
        "failed",
        reason="403",
        steps=(StepView(0, "step", "Scale", "scale", "failed", 1, None, "not allowed"),),
    )
    assert _buttons(run_message(failed, T)) == [RunbookAction.RESUME, RunbookAction.CANCEL]
    demo = run_message(view("succeeded", demo=True), T)
    assert "Demo cluster" in str(demo.blocks)


def test_catalog_and_show_render_on_slack() -> None:
    catalog = load_catalog()
    for msg in (
        catalog_message(catalog, T),
        runbook_message(catalog["ddos-mitigation"], T),
        run_message(view("pending_approval"), T),
    ):
        assert slack_render.render(msg)
