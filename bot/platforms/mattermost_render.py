"""Neutral Message → Mattermost post (Markdown message + attachments with actions), pure."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from bot.messages import Actions, Button, ButtonStyle, Context, Divider, Header, Image, Message
from bot.messages import Section as SectionBlock
from bot.platforms.markdown import to_mattermost, truncate

POST_LIMIT = 16383


def sign_context(secret: str, action_id: str, value: str, channel_id: str) -> str:
    """HMAC the bot puts in every button's context; callbacks without a valid one are refused."""
    payload = json.dumps([action_id, value, channel_id], separators=(",", ":")).encode()
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def verify_context(secret: str, context: dict[str, Any], channel_id: str) -> bool:
    sig = context.get("sig")
    if not isinstance(sig, str):
        return False
    expected = sign_context(
        secret, str(context.get("action_id", "")), str(context.get("value", "")), channel_id
    )
    # bytes: compare_digest raises TypeError on non-ASCII str (a forged sig may carry any)
    return hmac.compare_digest(sig.encode(), expected.encode())


def render(
    message: Message,
    *,
    action_url: str,
    secret: str,
    channel_id: str,
    truncated_note: str = "…",
    usernames: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Return `{"message": ..., "props": {"attachments": [...]}}` for POST/PUT /posts."""
    parts: list[str] = []
    buttons: list[Button] = []
    images: list[Image] = []
    for block in message.blocks:
        if isinstance(block, Header):
            parts.append(f"#### {to_mattermost(block.text, usernames)}")
        elif isinstance(block, SectionBlock):
            if block.text:
                parts.append(to_mattermost(block.text, usernames))
            if block.fields:
                parts.append(
                    "\n".join(
                        f"**{to_mattermost(k, usernames)}:** {to_mattermost(v, usernames)}"
                        for k, v in block.fields
                    )
                )
        elif isinstance(block, Context):
            parts.append(f"<sub>{to_mattermost(block.text, usernames)}</sub>")
        elif isinstance(block, Divider):
            parts.append("---")
        elif isinstance(block, Image):
            images.append(block)
        elif isinstance(block, Actions):
            buttons.extend(block.buttons)
    text = "\n\n".join(parts) if parts else to_mattermost(message.text, usernames)
    text = truncate(text, POST_LIMIT, f"\n\n{truncated_note}")
    props: dict[str, Any] = {}
    attachments: list[dict[str, Any]] = []
    if buttons:
        attachments.append(
            {
                "fallback": truncate(message.text, 300),
                "actions": [
                    _action(i, b, action_url, secret, channel_id) for i, b in enumerate(buttons)
                ],
            }
        )
    for img in images:
        attachments.append({"fallback": img.alt, "image_url": img.url})
    if attachments:
        props["attachments"] = attachments
    return {"message": text, "props": props}


_STYLES = {ButtonStyle.PRIMARY: "primary", ButtonStyle.DANGER: "danger"}


def _action(
    index: int, button: Button, action_url: str, secret: str, channel_id: str
) -> dict[str, Any]:
    if button.url:
        context: dict[str, Any] = {"action_id": "link", "value": button.url}
    else:
        context = {"action_id": button.action_id, "value": button.value}
    context["sig"] = sign_context(secret, context["action_id"], context["value"], channel_id)
    if button.confirm:
        context["confirm"] = {
            "title": button.confirm.title,
            "text": button.confirm.text,
            "confirm": button.confirm.confirm,
            "deny": button.confirm.deny,
        }
    return {
        "id": f"a{index}",
        "name": truncate(button.label, 75),
        "type": "button",
        "style": _STYLES.get(button.style, "default"),
        "integration": {"url": action_url, "context": context},
    }
