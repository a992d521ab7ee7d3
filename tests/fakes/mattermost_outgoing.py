"""What the Mattermost server does toward an integration: run a slash command, click a button.

Both POST to the bot like the real server (fields from `mattermost_requests`) and apply the
bot's answer to the fake's state the way the server does.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import aiohttp

from tests.fakes import mattermost_contract as contract
from tests.fakes import mattermost_requests as mr

if TYPE_CHECKING:
    from tests.fakes.mattermost import FakeMattermost


async def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, str]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
        http.post(url, data=body, headers=headers) as resp,
    ):
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


def _apply_command_response(
    fake: FakeMattermost, resp: dict[str, Any], channel_id: str, user_id: str
) -> None:
    post = {"channel_id": resp.get("channel_id") or channel_id, "message": resp.get("text", "")}
    if resp.get("attachments"):
        post["props"] = {"attachments": resp["attachments"]}
    if resp.get("props"):
        post["props"] = {**post.get("props", {}), **resp["props"]}
    for problem in contract.check_post(post):
        fake.violate("command response", problem, resp)
    if not post["message"] and "props" not in post:
        return
    if resp.get("response_type") == "in_channel":
        fake.create_post(fake.bot["id"], post)
    else:
        fake.ephemerals.append({"user_id": user_id, "post": post})


async def run_command(
    fake: FakeMattermost,
    trigger: str,
    text: str = "",
    *,
    user_id: str,
    channel_id: str,
) -> dict[str, Any]:
    """Run a registered slash command as `user_id`; returns the parsed CommandResponse."""
    channel = fake.channels[channel_id]
    team_id = channel["team_id"]
    cmd = next(
        c for c in fake.commands.values() if c["trigger"] == trigger and c["team_id"] == team_id
    )
    user = fake.users[user_id]
    body, headers = mr.slash_command(
        cmd["token"],
        command="/" + trigger,
        text=text,
        user_id=user_id,
        user_name=user["username"],
        channel_id=channel_id,
        channel_name=channel["name"],
        team_id=team_id,
        team_domain=fake.teams[team_id]["name"],
        response_url=fake.command_response_url(channel_id, user_id),
    )
    status, ctype, raw = await _post(cmd["url"], body, headers)
    if status != 200:
        raise RuntimeError(f"command {trigger!r} failed: HTTP {status}: {raw[:200]}")
    # The server parses JSON only with a JSON content type; anything else is plain text.
    if ctype.startswith("application/json"):
        resp = json.loads(raw) if raw.strip() else {}
    else:
        resp = {"text": raw, "response_type": "ephemeral"}
    _apply_command_response(fake, resp, channel_id, user_id)
    for extra in resp.get("extra_responses") or []:
        _apply_command_response(fake, extra, channel_id, user_id)
    return resp


async def click(
    fake: FakeMattermost,
    post_id: str,
    action_id: str,
    *,
    user_id: str,
    selected_option: str | None = None,
) -> dict[str, Any]:
    """Click an attachment button (or pick a menu option) as `user_id`; returns the response."""
    post = fake.posts[post_id]
    actions = [a for att in post["props"].get("attachments", []) for a in att.get("actions") or []]
    action = next(a for a in actions if a.get("id") == action_id)
    channel = fake.channels[post["channel_id"]]
    team = fake.teams.get(channel["team_id"], {"id": "", "name": ""})
    body, headers = mr.action(
        action["integration"].get("context") or {},
        user_id=user_id,
        user_name=fake.users[user_id]["username"],
        channel_id=channel["id"],
        channel_name=channel["name"],
        team_id=team["id"],
        team_domain=team["name"],
        post_id=post_id,
        type=action.get("type", "button"),
        data_source=action.get("data_source", ""),
        selected_option=selected_option,
    )
    status, _, raw = await _post(action["integration"]["url"], body, headers)
    if status != 200:
        raise RuntimeError(f"action {action_id!r} failed: HTTP {status}: {raw[:200]}")
    resp = json.loads(raw) if raw.strip() else {}
    update = resp.get("update")
    if update:
        for key in ("message", "props"):
            if key in update:
                post[key] = update[key]
        post["update_at"] = post["edit_at"] = fake.now_ms()
        for problem in contract.check_post(post):
            fake.violate("action response", problem, resp)
    if resp.get("ephemeral_text"):
        message = {"channel_id": channel["id"], "message": resp["ephemeral_text"]}
        fake.ephemerals.append({"user_id": user_id, "post": message})
    return dict(resp)


async def submit_dialog(
    fake: FakeMattermost,
    opened: dict[str, Any],
    submission: dict[str, Any],
    *,
    user_id: str,
    channel_id: str,
) -> tuple[int, dict[str, Any]]:
    """Submit a dialog the bot opened (`opened`: the body of its /actions/dialogs/open) as
    `user_id`, like the server forwards POST /actions/dialogs/submit to the dialog's URL.
    Returns the HTTP status and the integration's answer (`{"errors": {...}}` keeps the
    dialog open). Untouched elements submit their `default`; empty ones are sent like the
    webapp does: text as "", selects left out."""
    dialog = opened["dialog"]
    full: dict[str, Any] = {}
    for el in dialog.get("elements") or []:
        name = el["name"]
        if name in submission:
            full[name] = submission[name]
        elif el.get("default"):
            full[name] = el["default"]
        elif el["type"] in ("text", "textarea"):
            full[name] = ""
    channel = fake.channels[channel_id]
    body, headers = mr.dialog_submission(
        dialog["callback_id"],
        full,
        state=dialog.get("state", ""),
        user_id=user_id,
        channel_id=channel_id,
        team_id=channel["team_id"],
    )
    status, _, raw = await _post(opened["url"], body, headers)
    resp = json.loads(raw) if raw.strip() else {}
    if status == 200 and resp.get("errors") is not None:
        names = {el["name"] for el in dialog.get("elements") or []}
        unknown = set(resp["errors"]) - names
        if unknown:
            fake.violate("dialog submission response", f"errors for unknown fields {unknown}")
    return status, resp
