"""Builders of the HTTP requests a Mattermost server sends to the bot (commands, actions)."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any
from urllib.parse import urlencode

Request = tuple[bytes, dict[str, str]]

USER_ID = "erj6qck3rfgtujs86w5r6rckzh"
CHANNEL_ID = "fukxanjgjbnp7ng383at53k1sy"
TEAM_ID = "wx4zz8t4ttgmtxqiwfohijayzc"
POST_ID = "gqrnh3675jfxzftnjyjfe4udeh"


_CLICKS = itertools.count()


def trigger_id(user_id: str = USER_ID, at_ms: int | None = None) -> str:
    """A trigger id shaped like the server's: base64 of `id:user_id:millis:signature`.

    Unique per call (like the server's), so two commands by one person are two requests.
    """
    if at_ms is None:
        at_ms = 1662041696896 + next(_CLICKS)
    raw = f"efyf4gw4xbbq8reehx1zdhz3nr:{user_id}:{at_ms}:MEQCID9q6w2DGSTZ68rh8uLiuI9RTxvGW3Iv"
    return base64.b64encode(raw.encode()).decode()


def slash_command_form(
    token: str,
    *,
    command: str = "/copilot",
    text: str = "",
    user_id: str = USER_ID,
    user_name: str = "alan",
    channel_id: str = CHANNEL_ID,
    channel_name: str = "town-square",
    team_id: str = TEAM_ID,
    team_domain: str = "team-awesome",
    response_url: str = "http://localhost:8066/hooks/commands/i11f6nnfgfyk8eg56x9omc6dpa",
    user_mentions: dict[str, str] | None = None,
    channel_mentions: dict[str, str] | None = None,
) -> list[tuple[str, str]]:
    """Form fields, in the server's order; mentions become repeated keys as the server sends."""
    fields = [
        ("channel_id", channel_id),
        ("channel_name", channel_name),
        ("command", command),
        ("response_url", response_url),
        ("team_domain", team_domain),
        ("team_id", team_id),
        ("text", text),
        ("token", token),
        ("trigger_id", trigger_id(user_id)),
        ("user_id", user_id),
        ("user_name", user_name),
    ]
    for name, uid in (user_mentions or {}).items():
        fields += [("user_mentions", name), ("user_mentions_ids", uid)]
    for name, cid in (channel_mentions or {}).items():
        fields += [("channel_mentions", name), ("channel_mentions_ids", cid)]
    return fields


def slash_command(token: str, **fields: Any) -> Request:
    """A slash command POST: form body, `Authorization: Token <command token>`."""
    body = urlencode(slash_command_form(token, **fields)).encode()
    headers = {
        "Accept": "application/json",
        "Authorization": f"Token {token}",
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "Mattermost-Bot/1.1",
    }
    return body, headers


def action_payload(
    context: dict[str, Any],
    *,
    user_id: str = USER_ID,
    user_name: str = "alan",
    channel_id: str = CHANNEL_ID,
    channel_name: str = "town-square",
    team_id: str = TEAM_ID,
    team_domain: str = "team-awesome",
    post_id: str = POST_ID,
    type: str = "button",
    data_source: str = "",
    selected_option: str | None = None,
) -> dict[str, Any]:
    """The 11 fields of PostActionIntegrationRequest (the docs show 5)."""
    ctx = dict(context)
    if selected_option is not None:
        ctx["selected_option"] = selected_option
    return {
        "user_id": user_id,
        "user_name": user_name,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "team_id": team_id,
        "team_domain": team_domain,
        "post_id": post_id,
        "trigger_id": trigger_id(user_id),
        "type": type,
        "data_source": data_source,
        "context": ctx,
    }


def action(context: dict[str, Any], **fields: Any) -> Request:
    """An interactive button/menu POST to the integration URL: a JSON body, no auth header."""
    body = json.dumps(action_payload(context, **fields)).encode()
    return body, {"Content-Type": "application/json", "User-Agent": "Mattermost-Bot/1.1"}


def dialog_submission(
    callback_id: str,
    submission: dict[str, Any],
    *,
    state: str = "",
    user_id: str = USER_ID,
    channel_id: str = CHANNEL_ID,
    team_id: str = TEAM_ID,
    cancelled: bool = False,
) -> Request:
    """An interactive dialog submission POST (JSON)."""
    payload = {
        "type": "dialog_submission",
        "callback_id": callback_id,
        "state": state,
        "user_id": user_id,
        "channel_id": channel_id,
        "team_id": team_id,
        "submission": {} if cancelled else submission,
        "cancelled": cancelled,
    }
    body = json.dumps(payload).encode()
    return body, {"Content-Type": "application/json", "User-Agent": "Mattermost-Bot/1.1"}
