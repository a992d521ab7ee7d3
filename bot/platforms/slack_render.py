"""Neutral Message → Slack Block Kit JSON (pure). Limits: 50 blocks, 3000 chars per section."""

from __future__ import annotations

from typing import Any

from bot.messages import Actions, Button, ButtonStyle, Context, Divider, Header, Image, Message
from bot.messages import Section as SectionBlock
from bot.platforms.markdown import split_text, to_plain, to_slack, truncate

MAX_BLOCKS = 50
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
HEADER_LIMIT = 150
TEXT_LIMIT = 40000
ACTION_SEP = "#"


def render(message: Message, *, truncated_note: str = "…") -> dict[str, Any]:
    """Return `{"text": ..., "blocks": [...]}` ready for chat.postMessage / chat.update."""
    blocks: list[dict[str, Any]] = []
    seen_ids: dict[str, int] = {}
    for block in message.blocks:
        blocks.extend(_block(block, seen_ids))
    if len(blocks) > MAX_BLOCKS:
        hidden = len(blocks) - (MAX_BLOCKS - 1)
        blocks = blocks[: MAX_BLOCKS - 1]
        blocks.append(_context(f"{truncated_note} (+{hidden})"))
    text = truncate(to_slack(to_plain(message.text)) or " ", TEXT_LIMIT)
    return {"text": text, "blocks": blocks}


def _block(block: Any, seen_ids: dict[str, int]) -> list[dict[str, Any]]:
    if isinstance(block, Header):
        return [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": truncate(to_plain(block.text), HEADER_LIMIT),
                    "emoji": True,
                },
            }
        ]
    if isinstance(block, SectionBlock):
        out: list[dict[str, Any]] = []
        if block.text:
            for chunk in split_text(to_slack(block.text), SECTION_LIMIT):
                out.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk or " "}})
        if block.fields:
            fields = [
                {"type": "mrkdwn", "text": truncate(to_slack(f"**{k}**\n{v}"), FIELD_LIMIT)}
                for k, v in block.fields
            ]
            for i in range(0, len(fields), 10):
                out.append({"type": "section", "fields": fields[i : i + 10]})
        return out
    if isinstance(block, Context):
        return [_context(to_slack(block.text))]
    if isinstance(block, Divider):
        return [{"type": "divider"}]
    if isinstance(block, Image):
        return [{"type": "image", "image_url": block.url, "alt_text": truncate(block.alt, 2000)}]
    if isinstance(block, Actions):
        elements = [_button(b, seen_ids) for b in block.buttons[:25]]
        return [{"type": "actions", "elements": elements}] if elements else []
    return []


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, 3000)}]}


def _button(button: Button, seen_ids: dict[str, int]) -> dict[str, Any]:
    # Slack wants action ids unique within a message: suffix repeats, strip on the way in.
    n = seen_ids.get(button.action_id, 0)
    seen_ids[button.action_id] = n + 1
    action_id = button.action_id if n == 0 else f"{button.action_id}{ACTION_SEP}{n}"
    out: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": truncate(button.label, 75), "emoji": True},
        "action_id": action_id[:255],
    }
    if button.value:
        out["value"] = button.value[:2000]
    if button.url:
        out["url"] = button.url
    if button.style != ButtonStyle.DEFAULT:
        out["style"] = str(button.style)
    if button.confirm:
        c = button.confirm
        out["confirm"] = {
            "title": {"type": "plain_text", "text": truncate(c.title, 100)},
            "text": {"type": "mrkdwn", "text": truncate(to_slack(c.text), 300)},
            "confirm": {"type": "plain_text", "text": truncate(c.confirm, 30)},
            "deny": {"type": "plain_text", "text": truncate(c.deny, 30)},
        }
        if button.style == ButtonStyle.DANGER:
            out["confirm"]["style"] = "danger"
    return out


def action_id_in(raw: str) -> str:
    """The neutral action id of an incoming Slack action id (undoes the uniqueness suffix)."""
    return raw.split(ACTION_SEP, 1)[0]
