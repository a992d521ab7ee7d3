"""Renderers: neutral messages → Block Kit and Mattermost posts, within platform limits."""

from __future__ import annotations

from bot.messages import (
    Actions,
    Button,
    ButtonStyle,
    Confirm,
    Context,
    Header,
    Message,
    Section,
    mention,
    user_text,
)
from bot.platforms import mattermost_render, slack_render


def _sample() -> Message:
    return Message(
        text="Run **42** needs approval",
        blocks=[
            Header(text="Approval needed"),
            Section(
                text=f"{mention('U1', 'alice')} asks to run [restart](https://x.example/r?a=1&b=2)",
                fields=[("Risk", "low"), ("Namespace", "shop")],
            ),
            Actions(
                buttons=[
                    Button(
                        label="Approve",
                        action_id="runbook:approve",
                        value="42",
                        style=ButtonStyle.PRIMARY,
                        confirm=Confirm(title="Sure?", text="Runs now", confirm="Yes", deny="No"),
                    ),
                    Button(label="Reject", action_id="runbook:approve", value="43"),
                ]
            ),
            Context(text="a < b & c"),
        ],
    )


def test_slack_block_kit() -> None:
    out = slack_render.render(_sample())
    blocks = out["blocks"]
    assert out["text"] == "Run 42 needs approval"  # notification text is plain
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Approval needed", "emoji": True},
    }
    assert blocks[1]["text"]["text"] == (
        "<@U1> asks to run <https://x.example/r?a=1&amp;b=2|restart>"
    )
    assert blocks[2]["fields"][0]["text"] == "*Risk*\nlow"
    approve, reject = blocks[3]["elements"]
    assert approve["style"] == "primary" and approve["confirm"]["confirm"]["text"] == "Yes"
    assert approve["action_id"] == "runbook:approve"
    assert reject["action_id"] == "runbook:approve#1"  # unique within the message
    assert slack_render.action_id_in(reject["action_id"]) == "runbook:approve"
    assert blocks[4]["elements"][0]["text"] == "a &lt; b &amp; c"


def test_slack_limits_split_and_truncate() -> None:
    long_text = "\n".join(f"line {i} {'x' * 80}" for i in range(200))
    msg = Message(text="t", blocks=[Section(text=long_text)] + [Header(text="h")] * 60)
    out = slack_render.render(msg)
    assert len(out["blocks"]) == 50
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in out["blocks"])
    assert out["blocks"][-1]["type"] == "context"


def test_mattermost_post_and_signed_actions() -> None:
    post = mattermost_render.render(
        _sample(),
        action_url="https://bot/mattermost/actions",
        secret="s3",
        channel_id="ch1",
        usernames={"U1": "alice"},
    )
    assert post["message"].startswith("#### Approval needed")
    assert "@alice asks to run [restart](https://x.example/r?a=1&b=2)" in post["message"]
    actions = post["props"]["attachments"][0]["actions"]
    assert [a["id"] for a in actions] == ["a0", "a1"]
    ctx = actions[0]["integration"]["context"]
    assert mattermost_render.verify_context("s3", ctx, "ch1")
    assert not mattermost_render.verify_context("s3", ctx, "other-channel")  # no replay
    assert not mattermost_render.verify_context("wrong", ctx, "ch1")
    forged = {**ctx, "value": "999"}
    assert not mattermost_render.verify_context("s3", forged, "ch1")


def test_mattermost_size_limit() -> None:
    post = mattermost_render.render(
        Message(text="x", blocks=[Section(text="y" * 20000)]),
        action_url="u",
        secret="s",
        channel_id="c",
    )
    assert len(post["message"]) <= 16383


def test_user_text_neutralizes_broadcasts_and_links() -> None:
    evil = "<!channel> @here ping [click](https://evil) \u202eabc"
    safe = user_text(evil)
    assert "<!channel>" not in safe and "@here" not in safe
    assert "\u202e" not in safe
    out = slack_render.render(Message(text="x", blocks=[Section(text=safe)]))
    rendered = out["blocks"][0]["text"]["text"]
    assert "<!channel>" not in rendered and "<https://evil|" not in rendered
