"""Implementations of the Slack Web API methods the fake serves: (fake, params) -> result."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.slack_api import FakeSlack

Params = dict[str, Any]
Result = dict[str, Any]
CHANNEL_NAME = re.compile(r"^[a-z0-9_\-]+$")
METHODS: dict[str, Callable[[FakeSlack, Params], Result]] = {}


class SlackError(Exception):
    """An `ok: false` answer."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def method(name: str) -> Callable[[Callable[[FakeSlack, Params], Result]], Any]:
    """Register a Web API method implementation."""

    def deco(fn: Callable[[FakeSlack, Params], Result]) -> Callable[[FakeSlack, Params], Result]:
        METHODS[name] = fn
        return fn

    return deco


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("true", "1")


def _channel(fake: FakeSlack, params: Params, key: str = "channel") -> str:
    ref = params.get(key)
    if not ref:
        raise SlackError("channel_not_found")
    cid = fake.resolve_channel(str(ref))
    if cid is None:
        raise SlackError("channel_not_found")
    if fake.channels[cid].get("is_archived"):
        raise SlackError("is_archived")
    return cid


def _user(fake: FakeSlack, uid: Any) -> dict[str, Any]:
    user = fake.users.get(str(uid))
    if user is None:
        raise SlackError("user_not_found")
    return user


def _content(params: Params) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("text", "blocks", "attachments", "metadata"):
        if key in params:
            out[key] = _json(params[key]) if key != "text" else params[key]
    return out


def _bot_message(fake: FakeSlack, params: Params) -> dict[str, Any]:
    return {
        "type": "message",
        "subtype": "bot_message",
        "user": fake.bot_user_id,
        "bot_id": fake.bot_id,
        "team": fake.team["id"],
        **_content(params),
    }


def _public(msg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in msg.items() if not k.startswith("_")}


@method("auth.test")
def auth_test(fake: FakeSlack, params: Params) -> Result:
    return {
        "url": "https://fake.slack.com/",
        "team": fake.team["name"],
        "user": "copilot",
        "team_id": fake.team["id"],
        "user_id": fake.bot_user_id,
        "bot_id": fake.bot_id,
        "is_enterprise_install": False,
    }


@method("chat.postMessage")
def chat_post_message(fake: FakeSlack, params: Params) -> Result:
    cid = _channel(fake, params)
    if not any(params.get(k) for k in ("text", "blocks", "attachments")):
        raise SlackError("no_text")
    if fake.bot_user_id not in fake.members.get(cid, []) and fake.channels[cid]["is_private"]:
        raise SlackError("not_in_channel")
    thread_ts = params.get("thread_ts") or None
    if thread_ts and fake.message(cid, thread_ts) is None:
        raise SlackError("thread_not_found")
    msg = fake.store_message(cid, _bot_message(fake, params), thread_ts)
    if _truthy(params.get("reply_broadcast", False)):
        msg["subtype"] = "thread_broadcast"
    return {"channel": cid, "ts": msg["ts"], "message": _public(msg)}


@method("chat.update")
def chat_update(fake: FakeSlack, params: Params) -> Result:
    cid = _channel(fake, params)
    msg = fake.message(cid, str(params.get("ts")))
    if msg is None:
        raise SlackError("message_not_found")
    if msg.get("user") != fake.bot_user_id:
        raise SlackError("cant_update_message")
    msg.update(_content(params))
    msg["edited"] = {"user": fake.bot_user_id, "ts": fake.next_ts()}
    return {"channel": cid, "ts": msg["ts"], "text": msg.get("text", ""), "message": _public(msg)}


@method("chat.postEphemeral")
def chat_post_ephemeral(fake: FakeSlack, params: Params) -> Result:
    cid = _channel(fake, params)
    user = _user(fake, params.get("user"))
    if user["id"] not in fake.members.get(cid, []):
        raise SlackError("user_not_in_channel")
    ts = fake.next_ts()
    fake.ephemerals.append({"channel": cid, "user": user["id"], "ts": ts, **_content(params)})
    return {"message_ts": ts}


@method("chat.delete")
def chat_delete(fake: FakeSlack, params: Params) -> Result:
    cid = _channel(fake, params)
    msg = fake.message(cid, str(params.get("ts")))
    if msg is None:
        raise SlackError("message_not_found")
    msg["_deleted"] = True
    return {"channel": cid, "ts": msg["ts"]}


@method("chat.getPermalink")
def chat_get_permalink(fake: FakeSlack, params: Params) -> Result:
    cid = _channel(fake, params)
    ts = str(params.get("message_ts"))
    if fake.message(cid, ts) is None:
        raise SlackError("message_not_found")
    return {
        "channel": cid,
        "permalink": f"https://fake.slack.com/archives/{cid}/p{ts.replace('.', '')}",
    }


@method("conversations.create")
def conversations_create(fake: FakeSlack, params: Params) -> Result:
    name = str(params.get("name", ""))
    if not name:
        raise SlackError("invalid_name_required")
    if len(name) > 80:
        raise SlackError("invalid_name_maxlength")
    if not CHANNEL_NAME.match(name):
        raise SlackError("invalid_name_specials")
    if any(ch["name"] == name for ch in fake.channels.values()):
        raise SlackError("name_taken")
    channel = fake.seed_channel(name, is_private=_truthy(params.get("is_private", False)))
    return {"channel": channel}


@method("conversations.invite")
def conversations_invite(fake: FakeSlack, params: Params) -> Result:
    cid = _channel(fake, params)
    users = [u.strip() for u in str(params.get("users", "")).split(",") if u.strip()]
    if not users:
        raise SlackError("no_user")
    members = fake.members.setdefault(cid, [])
    for uid in users:
        _user(fake, uid)
        if uid == fake.bot_user_id:
            raise SlackError("cant_invite_self")
        if uid in members:
            if len(users) == 1:
                raise SlackError("already_in_channel")
            continue
        members.append(uid)
    return {"channel": fake.channels[cid]}


@method("conversations.join")
def conversations_join(fake: FakeSlack, params: Params) -> Result:
    cid = _channel(fake, params)
    if fake.channels[cid]["is_private"]:
        raise SlackError("method_not_supported_for_channel_type")
    if fake.bot_user_id not in fake.members[cid]:
        fake.members[cid].append(fake.bot_user_id)
    fake.channels[cid]["is_member"] = True
    return {"channel": fake.channels[cid]}


@method("conversations.info")
def conversations_info(fake: FakeSlack, params: Params) -> Result:
    ref = str(params.get("channel", ""))
    if ref not in fake.channels:
        raise SlackError("channel_not_found")
    return {"channel": fake.channels[ref]}


@method("conversations.list")
def conversations_list(fake: FakeSlack, params: Params) -> Result:
    types = set(str(params.get("types") or "public_channel").split(","))
    chans = [
        ch
        for ch in fake.channels.values()
        if not ch.get("is_im")
        and ("private_channel" if ch["is_private"] else "public_channel") in types
        and not (_truthy(params.get("exclude_archived", False)) and ch["is_archived"])
    ]
    page, meta = _page(chans, params)
    return {"channels": page, **meta}


@method("conversations.setTopic")
def conversations_set_topic(fake: FakeSlack, params: Params) -> Result:
    cid = _channel(fake, params)
    topic = str(params.get("topic", ""))
    if len(topic) > 250:
        raise SlackError("too_long")
    fake.channels[cid]["topic"] = {"value": topic, "creator": fake.bot_user_id, "last_set": 0}
    return {"channel": fake.channels[cid]}


def _page(items: list[Any], params: Params, default: int = 100) -> tuple[list[Any], Result]:
    limit = int(params.get("limit") or default)
    start = int(params.get("cursor") or 0)
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, {
        "has_more": more,
        "response_metadata": {"next_cursor": str(start + limit) if more else ""},
    }


def _in_window(msg: dict[str, Any], params: Params) -> bool:
    ts = float(msg["ts"])
    if "oldest" in params and ts < float(params["oldest"]):
        return False
    return not ("latest" in params and ts > float(params["latest"]))


@method("conversations.history")
def conversations_history(fake: FakeSlack, params: Params) -> Result:
    cid = _channel(fake, params)
    msgs = [
        _public(m)
        for m in fake.messages(cid)
        if (m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast")
        and _in_window(m, params)
    ]
    page, meta = _page(list(reversed(msgs)), params)
    return {"messages": page, **meta}


@method("conversations.replies")
def conversations_replies(fake: FakeSlack, params: Params) -> Result:
    cid = _channel(fake, params)
    ts = str(params.get("ts"))
    if fake.message(cid, ts) is None:
        raise SlackError("thread_not_found")
    msgs = [_public(m) for m in fake.messages(cid, thread_ts=ts) if _in_window(m, params)]
    page, meta = _page(msgs, params)
    return {"messages": page, **meta}


@method("conversations.members")
def conversations_members(fake: FakeSlack, params: Params) -> Result:
    cid = _channel(fake, params)
    page, meta = _page(fake.members.get(cid, []), params)
    return {"members": page, **meta}


@method("pins.add")
def pins_add(fake: FakeSlack, params: Params) -> Result:
    cid = _channel(fake, params)
    ts = str(params.get("timestamp"))
    msg = fake.message(cid, ts)
    if msg is None:
        raise SlackError("message_not_found")
    if ts in fake.pins[cid]:
        raise SlackError("already_pinned")
    fake.pins[cid].append(ts)
    msg.setdefault("pinned_to", []).append(cid)
    return {}


@method("reactions.add")
def reactions_add(fake: FakeSlack, params: Params) -> Result:
    cid = _channel(fake, params)
    msg = fake.message(cid, str(params.get("timestamp")))
    if msg is None:
        raise SlackError("message_not_found")
    name = str(params.get("name", "")).strip(":")
    reactions = msg.setdefault("reactions", [])
    for r in reactions:
        if r["name"] == name:
            if fake.bot_user_id in r["users"]:
                raise SlackError("already_reacted")
            r["users"].append(fake.bot_user_id)
            r["count"] += 1
            return {}
    reactions.append({"name": name, "users": [fake.bot_user_id], "count": 1})
    return {}


@method("users.info")
def users_info(fake: FakeSlack, params: Params) -> Result:
    user = dict(_user(fake, params.get("user")))
    if not _truthy(params.get("include_locale", False)):
        user.pop("locale", None)
    return {"user": user}


@method("usergroups.list")
def usergroups_list(fake: FakeSlack, params: Params) -> Result:
    groups = []
    for g in fake.usergroups.values():
        g = dict(g)
        if not _truthy(params.get("include_users", False)):
            g.pop("users")
        groups.append(g)
    return {"usergroups": groups}


@method("usergroups.users.list")
def usergroups_users_list(fake: FakeSlack, params: Params) -> Result:
    group = fake.usergroups.get(str(params.get("usergroup")))
    if group is None:
        raise SlackError("no_such_subteam")
    return {"users": list(group["users"])}


@method("views.open")
def views_open(fake: FakeSlack, params: Params) -> Result:
    if not params.get("trigger_id") and not params.get("interactivity_pointer"):
        raise SlackError("invalid_arguments")
    view = _json(params.get("view"))
    if not isinstance(view, dict):
        raise SlackError("invalid_arguments")
    opened = {"id": fake.next_id("V"), "team_id": fake.team["id"], **view, "state": {"values": {}}}
    fake.views.append({"trigger_id": params.get("trigger_id"), "view": opened})
    return {"view": opened}


@method("files.getUploadURLExternal")
def files_get_upload_url(fake: FakeSlack, params: Params) -> Result:
    if not params.get("filename") or not str(params.get("length", "")).isdigit():
        raise SlackError("invalid_arguments")
    fid = fake.next_id("F")
    fake.files[fid] = {
        "id": fid,
        "name": params["filename"],
        "length": int(params["length"]),
        "content": None,
    }
    return {"upload_url": f"{fake.root_url}upload/v1/{fid}", "file_id": fid}


@method("files.completeUploadExternal")
def files_complete_upload(fake: FakeSlack, params: Params) -> Result:
    entries = _json(params.get("files"))
    done = []
    for entry in entries:
        f = fake.files.get(entry.get("id"))
        if f is None or f["content"] is None:
            raise SlackError("file_not_found")
        f["title"] = entry.get("title") or f["name"]
        done.append({k: v for k, v in f.items() if k != "content"})
    channel = params.get("channel_id") or params.get("channels")
    if channel:
        cid = _channel(fake, {"channel": str(channel).split(",")[0]})
        msg = _bot_message(fake, {"text": params.get("initial_comment", "")})
        msg["files"] = done
        msg["subtype"] = "file_share"
        fake.store_message(cid, msg, params.get("thread_ts") or None)
    return {"files": done}


@method("apps.connections.open")
def apps_connections_open(fake: FakeSlack, params: Params) -> Result:
    return {"url": fake.socket_url()}
