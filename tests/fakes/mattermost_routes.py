"""REST handlers of the fake Mattermost: (MMRequest) -> (status, JSON body)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.fakes import mattermost_contract as contract

if TYPE_CHECKING:
    from tests.fakes.mattermost import FakeMattermost

Result = tuple[int, Any]
CHANNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
ROUTES: list[tuple[str, str, Callable[[MMRequest], Result]]] = []


class MMError(Exception):
    """A Mattermost AppError answer."""

    def __init__(self, status: int, err_id: str, message: str = "") -> None:
        super().__init__(err_id)
        self.status, self.id, self.message = status, err_id, message or err_id


@dataclass
class MMRequest:
    """What a handler gets: the fake, the authenticated user, path/query/body."""

    fake: FakeMattermost
    user_id: str
    path: dict[str, str]
    query: dict[str, str]
    body: Any
    form: dict[str, Any] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        """The JSON object body (400 when absent)."""
        if not isinstance(self.body, dict):
            raise MMError(400, "api.context.invalid_body_param.app_error", "Invalid body")
        return self.body


def route(method: str, pattern: str) -> Callable[[Callable[[MMRequest], Result]], Any]:
    """Register a handler for METHOD /api/v4<pattern>."""

    def deco(fn: Callable[[MMRequest], Result]) -> Callable[[MMRequest], Result]:
        ROUTES.append((method, pattern, fn))
        return fn

    return deco


def _get(table: dict[str, dict[str, Any]], key: str, what: str) -> dict[str, Any]:
    item = table.get(key)
    if item is None or item.get("delete_at"):
        raise MMError(404, f"app.{what}.get.existing.app_error", f"Unable to find the {what}.")
    return item


def _user_view(user: dict[str, Any]) -> dict[str, Any]:
    return dict(user)


# users and teams -----------------------------------------------------------------------------
@route("GET", "/users/username/{username}")
def get_user_by_username(r: MMRequest) -> Result:
    for user in r.fake.users.values():
        if user["username"] == r.path["username"]:
            return 200, _user_view(user)
    raise MMError(404, "app.user.get_by_username.app_error", "Unable to find the user.")


@route("POST", "/users/ids")
def get_users_by_ids(r: MMRequest) -> Result:
    ids = r.body if isinstance(r.body, list) else []
    return 200, [_user_view(r.fake.users[i]) for i in ids if i in r.fake.users]


@route("GET", "/users/{user_id}/teams")
def get_user_teams(r: MMRequest) -> Result:
    uid = r.user_id if r.path["user_id"] == "me" else r.path["user_id"]
    return 200, [t for tid, t in r.fake.teams.items() if uid in r.fake.team_members.get(tid, [])]


@route("GET", "/teams/{team_id}/members")
def get_team_members(r: MMRequest) -> Result:
    team = _get(r.fake.teams, r.path["team_id"], "team")
    members = [
        {
            "team_id": team["id"],
            "user_id": uid,
            "roles": "team_user",
            "delete_at": 0,
            "scheme_user": True,
            "scheme_admin": False,
            "explicit_roles": "",
        }
        for uid in r.fake.team_members.get(team["id"], [])
    ]
    return 200, _page(members, r.query)


def _page(items: list[Any], query: dict[str, str]) -> list[Any]:
    page, per_page = int(query.get("page", 0)), int(query.get("per_page", 60))
    return items[page * per_page : (page + 1) * per_page]


@route("GET", "/users/{user_id}")
def get_user(r: MMRequest) -> Result:
    uid = r.user_id if r.path["user_id"] == "me" else r.path["user_id"]
    return 200, _user_view(_get(r.fake.users, uid, "user"))


@route("GET", "/teams/name/{name}")
def get_team_by_name(r: MMRequest) -> Result:
    for team in r.fake.teams.values():
        if team["name"] == r.path["name"]:
            return 200, team
    raise MMError(404, "app.team.get_by_name.missing.app_error", "Unable to find the team.")


@route("GET", "/teams/{team_id}")
def get_team(r: MMRequest) -> Result:
    return 200, _get(r.fake.teams, r.path["team_id"], "team")


# channels ------------------------------------------------------------------------------------
@route("POST", "/channels")
def create_channel(r: MMRequest) -> Result:
    body = r.json()
    name, team_id = str(body.get("name", "")), str(body.get("team_id", ""))
    _get(r.fake.teams, team_id, "team")
    if not 1 <= len(name) <= 64 or not CHANNEL_NAME.match(name):
        raise MMError(400, "model.channel.is_valid.name.app_error", "Invalid name.")
    if not body.get("display_name") or len(body["display_name"]) > 64:
        raise MMError(400, "model.channel.is_valid.display_name.app_error", "Invalid display name.")
    if body.get("type") not in ("O", "P"):
        raise MMError(400, "model.channel.is_valid.type.app_error", "Invalid type.")
    if any(c["name"] == name and c["team_id"] == team_id for c in r.fake.channels.values()):
        raise MMError(
            400,
            "store.sql_channel.save_channel.exists.app_error",
            "A channel with that name already exists on the same team.",
        )
    channel = r.fake.seed_channel(
        team_id, name, type=body["type"], display_name=body["display_name"]
    )
    channel.update({k: body[k] for k in ("header", "purpose") if k in body})
    return 201, channel


@route("GET", "/channels/{channel_id}")
def get_channel(r: MMRequest) -> Result:
    return 200, _get(r.fake.channels, r.path["channel_id"], "channel")


@route("GET", "/teams/{team_id}/channels/name/{channel_name}")
def get_channel_by_name(r: MMRequest) -> Result:
    for ch in r.fake.channels.values():
        if ch["team_id"] == r.path["team_id"] and ch["name"] == r.path["channel_name"]:
            return 200, ch
    raise MMError(404, "app.channel.get_by_name.missing.app_error", "Channel does not exist.")


def _channel_member(r: MMRequest, channel_id: str, user_id: str) -> dict[str, Any]:
    return {
        "channel_id": channel_id,
        "user_id": user_id,
        "roles": "channel_user",
        "last_viewed_at": 0,
        "msg_count": 0,
        "mention_count": 0,
        "notify_props": {},
        "last_update_at": r.fake.now_ms(),
    }


@route("GET", "/channels/{channel_id}/members")
def get_channel_members(r: MMRequest) -> Result:
    channel = _get(r.fake.channels, r.path["channel_id"], "channel")
    members = [_channel_member(r, channel["id"], uid) for uid in r.fake.members[channel["id"]]]
    return 200, _page(members, r.query)


@route("POST", "/channels/{channel_id}/members")
def add_channel_member(r: MMRequest) -> Result:
    channel = _get(r.fake.channels, r.path["channel_id"], "channel")
    user = _get(r.fake.users, str(r.json().get("user_id", "")), "user")
    members = r.fake.members.setdefault(channel["id"], [])
    if user["id"] not in members:
        members.append(user["id"])
    return 201, _channel_member(r, channel["id"], user["id"])


@route("GET", "/channels/{channel_id}/posts")
def get_channel_posts(r: MMRequest) -> Result:
    channel = _get(r.fake.channels, r.path["channel_id"], "channel")
    posts = r.fake.channel_posts(channel["id"])
    since = int(r.query.get("since", 0))
    if since:
        posts = [
            p
            for p in r.fake.channel_posts(channel["id"], include_deleted=True)
            if max(p["update_at"], p["create_at"]) > since
        ]
    else:
        page, per_page = int(r.query.get("page", 0)), int(r.query.get("per_page", 60))
        newest = list(reversed(posts))[page * per_page : (page + 1) * per_page]
        posts = list(reversed(newest))
    return 200, _post_list(posts)


def _post_list(posts: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(posts, key=lambda p: (p["create_at"], p["id"]), reverse=True)
    return {
        "order": [p["id"] for p in ordered],
        "posts": {p["id"]: p for p in ordered},
        "next_post_id": "",
        "prev_post_id": "",
        "has_next": False,
    }


# posts ---------------------------------------------------------------------------------------
def _check_post(r: MMRequest, name: str, post: dict[str, Any]) -> None:
    if r.fake.check_contract:
        for problem in contract.check_post(post):
            r.fake.violate(name, problem, post)


@route("POST", "/posts/ephemeral")
def create_ephemeral(r: MMRequest) -> Result:
    body = r.json()
    post = body.get("post") or {}
    _get(r.fake.channels, str(post.get("channel_id", "")), "channel")
    _get(r.fake.users, str(body.get("user_id", "")), "user")
    _check_post(r, "POST /posts/ephemeral", post)
    now = r.fake.now_ms()
    stored = {
        "id": r.fake.new_id("e"),
        "create_at": now,
        "update_at": now,
        "edit_at": 0,
        "delete_at": 0,
        "user_id": r.user_id,
        "root_id": "",
        "type": "system_ephemeral",
        "props": {},
        "message": "",
        **post,
    }
    r.fake.ephemerals.append({"user_id": body["user_id"], "post": stored})
    r.fake.push_event(
        "ephemeral_message",
        {"post": json.dumps(stored)},
        {"channel_id": stored["channel_id"]},
        [body["user_id"]],
    )
    return 201, stored


@route("POST", "/posts")
def create_post(r: MMRequest) -> Result:
    body = r.json()
    channel = _get(r.fake.channels, str(body.get("channel_id", "")), "channel")
    if r.user_id not in r.fake.members.get(channel["id"], []):
        raise MMError(
            403, "api.context.permissions.app_error", "You do not have the appropriate permissions."
        )
    if body.get("root_id"):
        root = _get(r.fake.posts, body["root_id"], "post")
        if root["channel_id"] != channel["id"] or root["root_id"]:
            raise MMError(400, "api.post.create_post.root_id.app_error", "Invalid RootId.")
    _check_post(r, "POST /posts", body)
    if len(body.get("message", "")) > contract.MESSAGE_MAX_RUNES:
        raise MMError(400, "model.post.is_valid.message_length.app_error", "Message too long.")
    post, _ = r.fake.create_post(r.user_id, body)
    return 201, post


@route("GET", "/posts/{post_id}")
def get_post(r: MMRequest) -> Result:
    return 200, _get(r.fake.posts, r.path["post_id"], "post")


def _edit(r: MMRequest, post: dict[str, Any], changes: dict[str, Any], name: str) -> Result:
    if post["user_id"] != r.user_id:
        raise MMError(
            403, "api.context.permissions.app_error", "You do not have the appropriate permissions."
        )
    for key in ("message", "props", "file_ids", "is_pinned", "has_reactions"):
        if key in changes:
            post[key] = changes[key]
    _check_post(r, name, post)
    now = r.fake.now_ms()
    post["update_at"] = now
    if "message" in changes:
        post["edit_at"] = now
    r.fake.push_event(
        "post_edited",
        {"post": json.dumps(post)},
        {"channel_id": post["channel_id"]},
        r.fake.members[post["channel_id"]],
    )
    return 200, post


@route("PUT", "/posts/{post_id}")
def update_post(r: MMRequest) -> Result:
    post = _get(r.fake.posts, r.path["post_id"], "post")
    body = r.json()
    if body.get("id") != post["id"]:
        raise MMError(400, "api.context.invalid_body_param.app_error", "Invalid post id.")
    return _edit(r, post, {"props": {}, **body}, "PUT /posts/{post_id}")


@route("PUT", "/posts/{post_id}/patch")
def patch_post(r: MMRequest) -> Result:
    post = _get(r.fake.posts, r.path["post_id"], "post")
    return _edit(r, post, r.json(), "PUT /posts/{post_id}/patch")


@route("DELETE", "/posts/{post_id}")
def delete_post(r: MMRequest) -> Result:
    post = _get(r.fake.posts, r.path["post_id"], "post")
    post["delete_at"] = r.fake.now_ms()
    return 200, {"status": "OK"}


@route("POST", "/posts/{post_id}/pin")
def pin_post(r: MMRequest) -> Result:
    post = _get(r.fake.posts, r.path["post_id"], "post")
    post["is_pinned"] = True
    return 200, {"status": "OK"}


@route("GET", "/posts/{post_id}/thread")
def get_thread(r: MMRequest) -> Result:
    post = _get(r.fake.posts, r.path["post_id"], "post")
    root_id = post["root_id"] or post["id"]
    posts = [
        p
        for p in r.fake.posts.values()
        if (p["id"] == root_id or p["root_id"] == root_id) and not p["delete_at"]
    ]
    return 200, _post_list(posts)


# files, commands, dialogs --------------------------------------------------------------------
@route("POST", "/files")
def upload_files(r: MMRequest) -> Result:
    channel_id = r.form.get("channel_id") or r.query.get("channel_id", "")
    _get(r.fake.channels, channel_id, "channel")
    infos = []
    for filename, data in r.form.get("files", []):
        fid = r.fake.new_id("f")
        ext = filename.rsplit(".", 1)[-1] if "." in filename else ""
        info = {
            "id": fid,
            "user_id": r.user_id,
            "post_id": "",
            "channel_id": channel_id,
            "create_at": r.fake.now_ms(),
            "update_at": r.fake.now_ms(),
            "delete_at": 0,
            "name": filename,
            "extension": ext,
            "size": len(data),
            "mime_type": "application/octet-stream",
            "has_preview_image": False,
        }
        r.fake.files[fid] = {"info": info, "content": data}
        infos.append(info)
    if not infos:
        raise MMError(400, "api.file.upload_file.incorrect_number_of_files.app_error", "No file.")
    return 201, {"file_infos": infos, "client_ids": []}


@route("POST", "/commands")
def create_command(r: MMRequest) -> Result:
    body = r.json()
    _get(r.fake.teams, str(body.get("team_id", "")), "team")
    trigger = str(body.get("trigger", ""))
    if not trigger or trigger.startswith("/") or " " in trigger or not body.get("url"):
        raise MMError(400, "model.command.is_valid.trigger.app_error", "Invalid trigger.")
    cid = r.fake.new_id("m")
    now = r.fake.now_ms()
    cmd = {
        "id": cid,
        "token": r.fake.new_id("k"),
        "create_at": now,
        "update_at": now,
        "delete_at": 0,
        "creator_id": r.user_id,
        "team_id": body["team_id"],
        "trigger": trigger,
        "method": body.get("method", "P"),
        "username": "",
        "icon_url": "",
        "auto_complete": bool(body.get("auto_complete", False)),
        "auto_complete_desc": body.get("auto_complete_desc", ""),
        "auto_complete_hint": body.get("auto_complete_hint", ""),
        "display_name": body.get("display_name", ""),
        "description": "",
        "url": body["url"],
    }
    r.fake.commands[cid] = cmd
    return 201, cmd


@route("GET", "/commands")
def list_commands(r: MMRequest) -> Result:
    team_id = r.query.get("team_id", "")
    return 200, [c for c in r.fake.commands.values() if c["team_id"] == team_id]


@route("POST", "/actions/dialogs/open")
def open_dialog(r: MMRequest) -> Result:
    body = r.json()
    if not body.get("trigger_id") or not body.get("url") or not body.get("dialog"):
        raise MMError(400, "api.context.invalid_body_param.app_error", "Invalid dialog.")
    if r.fake.check_contract:
        for problem in contract.check_dialog(body):
            r.fake.violate("POST /actions/dialogs/open", problem, body)
    r.fake.dialogs.append(body)
    return 200, {"status": "OK"}
