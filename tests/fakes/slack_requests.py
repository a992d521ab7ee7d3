"""Builders of signed incoming Slack HTTP requests, based on real payloads Slack sends."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

PAYLOADS = Path(__file__).parent.parent / "contracts" / "slack" / "payloads"
SECRET = "fake-signing-secret"
Request = tuple[bytes, dict[str, str]]


@cache
def _load(name: str) -> Any:
    path = PAYLOADS / name
    return path.read_text() if path.suffix == ".txt" else json.loads(path.read_text())


def load_payload(name: str) -> Any:
    """A fresh copy of a recorded payload file (dict, or str for *.txt)."""
    return copy.deepcopy(_load(name))


def sign(body: bytes, secret: str, timestamp: int | str) -> str:
    """The v0 X-Slack-Signature of a body."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed(
    body: bytes,
    content_type: str,
    secret: str = SECRET,
    timestamp: int | None = None,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
) -> Request:
    """Body plus Slack's headers: content type, timestamp, signature (and retry headers)."""
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(body, secret, ts),
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason
    return body, headers


# payloads ------------------------------------------------------------------------------------
def slash_command_form(**fields: str) -> dict[str, str]:
    """Fields of a slash command POST (from the recorded body), with overrides."""
    form = dict(parse_qsl(_load("slash_command.form-urlencoded.txt").strip()))
    form.update({"api_app_id": "A111", "is_enterprise_install": "false"})
    form.update(fields)
    return form


def app_mention_event(
    text: str,
    *,
    user: str = "W222",
    channel: str = "C111",
    ts: str = "1595926230.009600",
    thread_ts: str | None = None,
    event_id: str = "Ev111",
    team: str = "T111",
) -> dict[str, Any]:
    """An event_callback wrapping an app_mention."""
    body = load_payload("event_callback.app_mention.json")
    ev = body["event"]
    ev.update({"text": text, "user": user, "channel": channel, "ts": ts, "event_ts": ts})
    ev["team"] = team
    if thread_ts:
        ev["thread_ts"] = thread_ts
    body.update({"event_id": event_id, "team_id": team})
    return body


def thread_message_event(
    text: str,
    *,
    thread_ts: str,
    user: str = "W111",
    channel: str = "C111",
    ts: str = "1596183880.004200",
    event_id: str = "Ev112",
    parent_user_id: str = "W222",
) -> dict[str, Any]:
    """An event_callback wrapping a `message` posted as a reply in a thread."""
    body = load_payload("event_callback.message.json")
    ev = body["event"]
    ev.update({"text": text, "user": user, "channel": channel, "ts": ts, "event_ts": ts})
    ev["blocks"][0]["elements"][0]["elements"][0]["text"] = text
    ev.update({"thread_ts": thread_ts, "parent_user_id": parent_user_id})
    body["event_id"] = event_id
    return body


def url_verification_event(
    challenge: str = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
) -> dict[str, Any]:
    """Slack's url_verification handshake body."""
    body = load_payload("url_verification.json")
    body["challenge"] = challenge
    return body


def block_actions_payload(
    action_id: str,
    value: str,
    *,
    user: str = "W111",
    channel: str = "C111",
    message_ts: str = "111.222",
    response_url: str | None = None,
    trigger_id: str = "111.222.valid",
    block_id: str = "b",
    is_ephemeral: bool = False,
) -> dict[str, Any]:
    """A block_actions payload for one button click."""
    body = load_payload("block_actions.button.json")
    body["user"].update({"id": user})
    body["container"].update(
        {"message_ts": message_ts, "channel_id": channel, "is_ephemeral": is_ephemeral}
    )
    body["channel"]["id"] = channel
    body["trigger_id"] = trigger_id
    if response_url:
        body["response_url"] = response_url
    body["actions"][0].update({"action_id": action_id, "value": value, "block_id": block_id})
    return body


def view_submission_payload(
    callback_id: str,
    values: dict[str, dict[str, Any]],
    *,
    user: str = "W111",
    private_metadata: str = "",
    view_id: str = "V111",
) -> dict[str, Any]:
    """A view_submission payload; values is state.values ({block_id: {action_id: {...}}})."""
    body = load_payload("view_submission.json")
    body["user"]["id"] = user
    view = body["view"]
    view.update({"callback_id": callback_id, "private_metadata": private_metadata, "id": view_id})
    view["state"]["values"] = values
    return body


def view_state(view: dict[str, Any], values: dict[str, str]) -> dict[str, dict[str, Any]]:
    """`view.state.values` as Slack builds it for an opened modal from what a user entered
    ({action_id: text}; selects by option value): every input block appears, untouched ones
    with their initial value, empty ones with `value: null` / `selected_option: null`."""
    state: dict[str, dict[str, Any]] = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        el = block["element"]
        entered = values.get(el["action_id"])
        if el["type"] in ("static_select", "radio_buttons"):
            option = next((o for o in el["options"] if o["value"] == entered), None)
            if el["action_id"] not in values:
                option = el.get("initial_option")
            field: dict[str, Any] = {"type": el["type"], "selected_option": option}
        else:
            if el["action_id"] not in values:
                entered = el.get("initial_value")
            field = {"type": el["type"], "value": entered or None}
        state[block["block_id"]] = {el["action_id"]: field}
    return state


def view_submission_for(
    opened: dict[str, Any],
    values: dict[str, str],
    *,
    user: str,
    username: str,
    user_team: str,
    team: str,
    trigger_id: str = "111.222.valid",
) -> dict[str, Any]:
    """The view_submission Slack sends when `user` submits a modal the app opened (the view as
    views.open returned it), built on the recorded payload."""
    body = load_payload("view_submission.json")
    body["user"].update({"id": user, "username": username, "name": username, "team_id": user_team})
    body["team"]["id"] = team
    body["trigger_id"] = trigger_id
    view = body["view"]
    for key in ("id", "blocks", "callback_id", "private_metadata", "title", "submit", "team_id"):
        if key in opened:
            view[key] = copy.deepcopy(opened[key])
    view["state"] = {"values": view_state(opened, values)}
    view["hash"] = f"{int(time.time())}.{opened.get('id', 'V')}"
    view["root_view_id"] = opened.get("id")
    return body


# signed requests ----------------------------------------------------------------------------
def slash_command(secret: str = SECRET, timestamp: int | None = None, **fields: str) -> Request:
    """A signed slash command request (form body)."""
    body = urlencode(slash_command_form(**fields)).encode()
    return signed(body, "application/x-www-form-urlencoded", secret, timestamp)


def event(
    payload: dict[str, Any],
    secret: str = SECRET,
    timestamp: int | None = None,
    retry_num: int | None = None,
) -> Request:
    """A signed Events API request (JSON body)."""
    body = json.dumps(payload).encode()
    return signed(body, "application/json", secret, timestamp, retry_num)


def interactive(
    payload: dict[str, Any], secret: str = SECRET, timestamp: int | None = None
) -> Request:
    """A signed interactivity request: form body with a single `payload=` JSON field."""
    body = ("payload=" + quote(json.dumps(payload))).encode()
    return signed(body, "application/x-www-form-urlencoded", secret, timestamp)
