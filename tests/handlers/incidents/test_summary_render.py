from __future__ import annotations

from datetime import UTC, datetime

from bot.i18n import translator
from bot.messages import Context, Header, Section
from handlers.incidents.extractive import extractive_summary
from handlers.incidents.summary_render import render_summary
from handlers.incidents.summary_types import Ref, Summary, SummaryItem
from tests.fakes.warroom import incident, war_room


def t(msgid: str, **kw: object) -> str:
    return msgid.format(**kw)


def test_sections_links_and_authors() -> None:
    s = Summary(
        mode="llm",
        model="claude-x",
        message_count=3,
        actions=[
            SummaryItem(
                text="restarted pods [click](https://evil) @channel",
                by="bob",
                refs=[Ref(id="m2", permalink="https://chat.example.com/p/m2"), Ref(id="m3")],
            )
        ],
    )
    msg = render_summary(s, t, title="Checkout down")
    header = msg.blocks[0]
    assert isinstance(header, Header) and header.text == "Summary: Checkout down"
    assert isinstance(msg.blocks[1], Context) and "claude-x" in msg.blocks[1].text
    section = next(b for b in msg.blocks if isinstance(b, Section))
    assert section.text.startswith("**Actions taken**\n• restarted pods \\[click\\](https://evil)")
    assert "@\u200bchannel" in section.text  # broadcast defanged
    assert "_bob_" in section.text
    assert "[1](https://chat.example.com/p/m2) `m3`" in section.text


def test_slack_limits_on_a_huge_summary() -> None:
    item = SummaryItem(text="x" * 400, refs=[Ref(id="m1", permalink="https://c/p/1")])
    names = ("what_happened", "impact", "current_state", "actions", "open_questions", "next_steps")
    s = Summary(mode="extractive").model_copy(update={name: [item] * 100 for name in names})
    msg = render_summary(s, t)
    assert len(msg.blocks) <= 50
    for block in msg.blocks:
        if isinstance(block, Section):
            assert len(block.text) <= 3000
            assert "more_" in block.text


def test_translated_headings_and_extractive_note() -> None:
    s = extractive_summary(incident(), war_room(300), language="ru", note="нет модели")
    ru = translator("ru").t
    msg = render_summary(s, ru)
    texts = [getattr(b, "text", "") for b in msg.blocks]
    assert texts[0] == ru("Incident summary") != "Incident summary"
    assert ru("Extractive summary") in texts[1] and any("нет модели" in x for x in texts)
    assert any(x.startswith(f"**{ru('What happened')}**") for x in texts)
    assert ru("What happened") != "What happened"


def test_empty_summary() -> None:
    msg = render_summary(Summary(mode="llm", generated_at=datetime(2026, 1, 1, tzinfo=UTC)), t)
    assert any(getattr(b, "text", "") == "Nothing to summarize yet." for b in msg.blocks)


def test_block_kit_and_mattermost_renderings_stay_within_limits() -> None:
    from bot.platforms import mattermost_render, slack_render

    s = extractive_summary(incident(), war_room(5000))
    msg = render_summary(s, t, title="Checkout errors")
    kit = slack_render.render(msg)
    assert len(kit["blocks"]) <= 50
    sections = [b["text"]["text"] for b in kit["blocks"] if b["type"] == "section"]
    assert all(len(x) <= 3000 for x in sections)
    assert sections[0].startswith("*What happened*\n")
    assert "<https://chat.example.com/archives/C1/p" in sections[0]  # Slack link syntax
    post = mattermost_render.render(
        msg, action_url="http://bot/mattermost/actions", secret="s", channel_id="c1"
    )
    assert "**What happened**" in str(post)
