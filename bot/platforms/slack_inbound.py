"""Slack payloads → neutral Events (pure functions, tested on Slack's real payloads)."""

from __future__ import annotations

import re
import time
from typing import Any

from bot.events import Actor, ChannelRef, Event, EventKind, Platform
from bot.forms import FormState
from bot.platforms.slack_render import action_id_in

_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")


def _channel(team: str, channel_id: str, name: str = "", shared: bool = False) -> ChannelRef:
    return ChannelRef(
        platform=Platform.SLACK, id=channel_id, team=team, name=name, is_shared=shared
    )


def command_event(body: dict[str, Any]) -> Event:
    """A slash command (form fields of Slack's request)."""
    team = str(body.get("team_id", ""))
    return Event(
        kind=EventKind.COMMAND,
        platform=Platform.SLACK,
        event_id="cmd:"
        + str(body.get("trigger_id") or body.get("command", "") + body.get("text", "")),
        channel=_channel(
            team,
            str(body.get("channel_id", "")),
            str(body.get("channel_name", "")),
            shared=bool(body.get("is_enterprise_install") == "true"),
        ),
        actor=Actor(
            id=str(body.get("user_id", "")),
            name=str(body.get("user_name", "")),
            is_external=bool(body.get("enterprise_id")) and body.get("enterprise_id") != team,
        ),
        command=str(body.get("command", "")).lstrip("/").lower(),
        text=str(body.get("text", "")),
        response_url=body.get("response_url") or None,
        trigger_id=body.get("trigger_id") or None,
        received_at=time.time(),
    )


def action_events(body: dict[str, Any]) -> list[Event]:
    """block_actions: one event per clicked action."""
    user = body.get("user") or {}
    team = str((body.get("team") or {}).get("id", "") or user.get("team_id", ""))
    channel = body.get("channel") or {}
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel_id = str(channel.get("id") or container.get("channel_id") or "")
    message_ts = container.get("message_ts") or message.get("ts")
    thread_ts = message.get("thread_ts") if message.get("thread_ts") != message_ts else None
    events = []
    for i, action in enumerate(body.get("actions") or []):
        trigger = body.get("trigger_id") or action.get("action_ts", "")
        events.append(
            Event(
                kind=EventKind.ACTION,
                platform=Platform.SLACK,
                event_id=f"act:{trigger}:{i}",
                channel=_channel(team, channel_id, str(channel.get("name", ""))),
                actor=Actor(
                    id=str(user.get("id", "")),
                    name=str(user.get("username") or user.get("name") or ""),
                    is_external=bool(user.get("team_id")) and user.get("team_id") != team,
                ),
                thread_id=thread_ts,
                message_id=message_ts,
                action_id=action_id_in(str(action.get("action_id", ""))),
                action_value=str(action.get("value") or _selected(action) or ""),
                response_url=body.get("response_url") or None,
                trigger_id=body.get("trigger_id") or None,
                received_at=time.time(),
            )
        )
    return events


def _selected(action: dict[str, Any]) -> str:
    option = action.get("selected_option") or {}
    return str(option.get("value", ""))


def mention_event(body: dict[str, Any]) -> Event:
    """app_mention from the Events API."""
    ev = body.get("event") or {}
    team = str(body.get("team_id", ""))
    text = _MENTION.sub("", str(ev.get("text", ""))).strip()
    return Event(
        kind=EventKind.MENTION,
        platform=Platform.SLACK,
        event_id="evt:" + str(body.get("event_id") or ev.get("client_msg_id") or ev.get("ts")),
        channel=_channel(team, str(ev.get("channel", ""))),
        actor=Actor(
            id=str(ev.get("user", "")),
            is_external=bool(ev.get("user_team")) and ev.get("user_team") != team,
        ),
        thread_id=ev.get("thread_ts") or None,
        message_id=ev.get("ts") or None,
        text=text,
        received_at=time.time(),
    )


def message_event(body: dict[str, Any], bot_user_id: str | None = None) -> Event | None:
    """A plain message in a thread (intake answers, war-room chatter); None to ignore."""
    ev = body.get("event") or {}
    if ev.get("subtype") or ev.get("bot_id") or not ev.get("thread_ts"):
        return None
    if bot_user_id and f"<@{bot_user_id}>" in str(ev.get("text", "")):
        return None  # the app_mention event handles it
    team = str(body.get("team_id", ""))
    return Event(
        kind=EventKind.MESSAGE,
        platform=Platform.SLACK,
        event_id="evt:" + str(body.get("event_id") or ev.get("client_msg_id") or ev.get("ts")),
        channel=_channel(team, str(ev.get("channel", ""))),
        actor=Actor(
            id=str(ev.get("user", "")),
            is_external=bool(ev.get("user_team")) and ev.get("user_team") != team,
        ),
        thread_id=ev.get("thread_ts"),
        message_id=ev.get("ts"),
        text=str(ev.get("text", "")),
        received_at=time.time(),
    )


def view_event(body: dict[str, Any]) -> Event:
    """view_submission: a modal form; values flattened to {field: value}.

    The view's private_metadata is the FormState the bot wrote when it opened the modal: the
    channel and thread it belongs to, the language it was shown in and the form's value.
    """
    user = body.get("user") or {}
    view = body.get("view") or {}
    values: dict[str, str] = {}
    for block_id, fields in ((view.get("state") or {}).get("values") or {}).items():
        for action_id, field in fields.items():
            value = field.get("value")
            if value is None:
                value = (field.get("selected_option") or {}).get("value")
            values[action_id or block_id] = "" if value is None else str(value)
    state = FormState.decode(str(view.get("private_metadata", "")))
    team = str((body.get("team") or {}).get("id", ""))
    return Event(
        kind=EventKind.SUBMISSION,
        platform=Platform.SLACK,
        event_id="view:" + str(view.get("id", "")) + ":" + str(view.get("hash", "")),
        channel=_channel(team, state.channel_id),
        actor=Actor(
            id=str(user.get("id", "")),
            name=str(user.get("username", "")),
            locale=state.locale or None,
            is_external=bool(user.get("team_id")) and user.get("team_id") != team,
        ),
        thread_id=state.thread_id,
        action_id=str(view.get("callback_id", "")),
        action_value=state.value,
        trigger_id=body.get("trigger_id") or None,
        form=values,
        received_at=time.time(),
    )
