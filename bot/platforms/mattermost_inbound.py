"""Mattermost requests → neutral Events (pure). Parse leniently: the server sends more
fields than its docs show, and the websocket `posted` event carries the post as a JSON string.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from bot.events import Actor, ChannelRef, Event, EventKind, Platform
from bot.forms import FormState


def _channel(body: dict[str, Any]) -> ChannelRef:
    return ChannelRef(
        platform=Platform.MATTERMOST,
        id=str(body.get("channel_id", "")),
        team=str(body.get("team_id", "")),
        name=str(body.get("channel_name", "")),
    )


def command_event(form: dict[str, str]) -> Event:
    """A slash command request (form fields)."""
    trigger = form.get("trigger_id") or uuid.uuid4().hex
    return Event(
        kind=EventKind.COMMAND,
        platform=Platform.MATTERMOST,
        event_id=f"cmd:{trigger}",
        channel=_channel(form),
        actor=Actor(id=form.get("user_id", ""), name=form.get("user_name", "")),
        command=form.get("command", "").lstrip("/").lower(),
        text=form.get("text", ""),
        response_url=form.get("response_url") or None,
        trigger_id=form.get("trigger_id") or None,
        received_at=time.time(),
    )


def action_event(body: dict[str, Any]) -> Event:
    """An interactive button callback (its context was verified by the caller)."""
    ctx = body.get("context") or {}
    trigger = body.get("trigger_id") or uuid.uuid4().hex
    return Event(
        kind=EventKind.ACTION,
        platform=Platform.MATTERMOST,
        event_id=f"act:{trigger}",
        channel=_channel(body),
        actor=Actor(id=str(body.get("user_id", "")), name=str(body.get("user_name", ""))),
        message_id=str(body.get("post_id") or "") or None,
        thread_id=str(ctx.get("thread") or "") or None,
        action_id=str(ctx.get("action_id", "")),
        action_value=str(ctx.get("value", "")),
        trigger_id=body.get("trigger_id") or None,
        received_at=time.time(),
    )


def dialog_event(body: dict[str, Any], state: FormState) -> Event:
    """An interactive dialog submission; `state` is its verified FormState."""
    submission = body.get("submission") or {}
    return Event(
        kind=EventKind.SUBMISSION,
        platform=Platform.MATTERMOST,
        event_id=f"dlg:{body.get('callback_id', '')}:{uuid.uuid4().hex}",
        channel=ChannelRef(
            platform=Platform.MATTERMOST, id=state.channel_id, team=str(body.get("team_id", ""))
        ),
        actor=Actor(id=str(body.get("user_id", "")), locale=state.locale or None),
        thread_id=state.thread_id,
        action_id=str(body.get("callback_id", "")),
        action_value=state.value,
        form={str(k): _value(v) for k, v in submission.items()},
        received_at=time.time(),
    )


def _value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):  # a `bool` element
        return "true" if v else "false"
    return str(v)


def posted_event(frame: dict[str, Any], bot_user_id: str, bot_username: str) -> Event | None:
    """A websocket `posted` frame → a mention or a thread message; None to ignore."""
    if frame.get("event") != "posted":
        return None
    data = frame.get("data") or {}
    try:
        post = json.loads(data.get("post") or "{}")
    except json.JSONDecodeError:
        return None
    if not isinstance(post, dict) or post.get("user_id") == bot_user_id or post.get("type"):
        return None
    try:
        mentions = json.loads(data.get("mentions") or "[]")
    except json.JSONDecodeError:
        mentions = []
    text = str(post.get("message", ""))
    mentioned = bot_user_id in mentions or f"@{bot_username}" in text
    root = post.get("root_id") or None
    if not mentioned and not root:
        return None
    broadcast = frame.get("broadcast") or {}
    channel = ChannelRef(
        platform=Platform.MATTERMOST,
        id=str(post.get("channel_id", "")),
        team=str(data.get("team_id") or broadcast.get("team_id") or ""),
        name=str(data.get("channel_name", "")),
        is_shared=bool(data.get("channel_type") == "S" or post.get("remote_id")),
    )
    if mentioned:
        text = text.replace(f"@{bot_username}", "").strip()
    return Event(
        kind=EventKind.MENTION if mentioned else EventKind.MESSAGE,
        platform=Platform.MATTERMOST,
        event_id=f"post:{post.get('id')}",
        channel=channel,
        actor=Actor(
            id=str(post.get("user_id", "")),
            name=str(data.get("sender_name", "")).lstrip("@"),
            is_external=bool(post.get("remote_id")),
        ),
        thread_id=root,
        message_id=str(post.get("id", "")),
        text=text,
        received_at=time.time(),
    )
