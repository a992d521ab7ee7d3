"""A fake Slack Web API (plus Socket Mode and response_url) speaking Slack's real HTTP protocol."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes import slack_contract
from tests.fakes._server import Call, FakeServer
from tests.fakes.slack_methods import METHODS, SlackError
from tests.fakes.slack_socket import SocketModeMixin

BOT_TOKEN = "xoxb-fake-bot-token"
APP_TOKEN = "xapp-fake-app-token"
TEAM_ID = "T0000FAKE"
BOT_USER_ID = "U0000BOT1"
BOT_ID = "B0000BOT1"


class FakeSlack(SocketModeMixin, FakeServer):
    """Stateful fake of the Slack Web API; base_url ends in /api/ like slack_sdk expects."""

    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        tokens: set[str] | None = None,
        clock: Callable[[], float] = time.time,
        check_contract: bool = True,
    ) -> None:
        super().__init__()
        self.bot_token = bot_token
        self.app_token = app_token
        self.tokens = {bot_token} | (tokens or set())
        self.clock = clock
        self.check_contract = check_contract
        self.team = {"id": TEAM_ID, "name": "Fake Team", "domain": "fake"}
        self.bot_user_id = BOT_USER_ID
        self.bot_id = BOT_ID
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.members: dict[str, list[str]] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.pins: dict[str, list[str]] = {}
        self.usergroups: dict[str, dict[str, Any]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.views: list[dict[str, Any]] = []
        self.files: dict[str, dict[str, Any]] = {}
        self.responses: dict[str, list[dict[str, Any]]] = {}
        self._seq = 0
        self.seed_user(BOT_USER_ID, "copilot", is_bot=True)
        self.app.router.add_route("*", "/api/{method}", self._handle_api)
        self.app.router.add_post("/upload/v1/{file_id}", self._handle_upload)
        self.app.router.add_post("/response/{rid}", self._handle_response_url)
        self.init_socket_mode()

    @property
    def base_url(self) -> str:
        """The Web API base URL to give slack_sdk (`.../api/`)."""
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def root_url(self) -> str:
        """The server root URL."""
        return f"http://127.0.0.1:{self.port}/"

    # ids and seeding -----------------------------------------------------------------------
    def next_id(self, prefix: str) -> str:
        """Deterministic Slack-looking id: prefix + 8 digits."""
        self._seq += 1
        return f"{prefix}{self._seq:08d}"

    def next_ts(self) -> str:
        """A unique, increasing message timestamp."""
        self._seq += 1
        return f"{int(self.clock())}.{self._seq:06d}"

    def seed_user(
        self,
        user_id: str | None = None,
        name: str = "user",
        *,
        real_name: str | None = None,
        locale: str = "en-US",
        tz: str = "Europe/Paris",
        is_bot: bool = False,
        email: str | None = None,
        team_id: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Add a user; `team_id` other than the fake's makes an external (Slack Connect) user."""
        uid = user_id or self.next_id("U")
        user = {
            "id": uid,
            "team_id": team_id or TEAM_ID,
            "name": name,
            "real_name": real_name or name.title(),
            "deleted": False,
            "tz": tz,
            "is_bot": is_bot,
            "is_app_user": False,
            "profile": {
                "real_name": real_name or name.title(),
                "display_name": name,
                "email": email or f"{name}@example.com",
            },
            "locale": locale,
            **extra,
        }
        self.users[uid] = user
        return user

    def seed_channel(
        self,
        name: str,
        channel_id: str | None = None,
        *,
        members: list[str] | tuple[str, ...] = (),
        is_private: bool = False,
        is_ext_shared: bool = False,
        bot_member: bool = True,
        **extra: Any,
    ) -> dict[str, Any]:
        """Add a channel (the bot is a member unless bot_member=False)."""
        cid = channel_id or self.next_id("G" if is_private else "C")
        channel = {
            "id": cid,
            "name": name,
            "is_channel": not is_private,
            "is_group": False,
            "is_im": False,
            "is_private": is_private,
            "is_archived": False,
            "is_general": False,
            "is_shared": is_ext_shared,
            "is_ext_shared": is_ext_shared,
            "is_org_shared": False,
            "is_member": bot_member,
            "created": int(self.clock()),
            "creator": BOT_USER_ID,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            **extra,
        }
        self.channels[cid] = channel
        self.members[cid] = list(members) + ([BOT_USER_ID] if bot_member else [])
        self.history[cid] = []
        self.pins[cid] = []
        return channel

    def seed_usergroup(
        self, handle: str, users: list[str], usergroup_id: str | None = None, name: str = ""
    ) -> dict[str, Any]:
        """Add a user group (subteam)."""
        gid = usergroup_id or self.next_id("S")
        group = {
            "id": gid,
            "team_id": TEAM_ID,
            "is_usergroup": True,
            "name": name or handle,
            "handle": handle,
            "description": "",
            "date_delete": 0,
            "users": list(users),
            "user_count": len(users),
        }
        self.usergroups[gid] = group
        return group

    def user_message(
        self, channel: str, user: str, text: str, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """Store a message as if a human posted it (no event is delivered)."""
        msg = {"type": "message", "user": user, "text": text, "team": TEAM_ID}
        return self.store_message(channel, msg, thread_ts)

    def store_message(
        self, channel: str, msg: dict[str, Any], thread_ts: str | None = None
    ) -> dict[str, Any]:
        """Append a message to a channel's history, maintaining thread counters."""
        msg = {**msg, "ts": self.next_ts()}
        if thread_ts:
            msg["thread_ts"] = thread_ts
            parent = self.message(channel, thread_ts)
            if parent is not None:
                parent["thread_ts"] = thread_ts
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent.setdefault("reply_users", [])
                if msg.get("user") not in parent["reply_users"]:
                    parent["reply_users"].append(msg.get("user"))
                parent["latest_reply"] = msg["ts"]
        self.history.setdefault(channel, []).append(msg)
        return msg

    # queries -------------------------------------------------------------------------------
    def resolve_channel(self, ref: str) -> str | None:
        """Channel id from an id, `name` or `#name`."""
        if ref in self.channels:
            return ref
        name = ref.lstrip("#")
        for cid, ch in self.channels.items():
            if ch["name"] == name:
                return cid
        if ref in self.users:  # a DM: open one on the fly
            dm = "D" + ref[1:]
            if dm not in self.channels:
                self.seed_channel(ref, dm, members=[ref], is_im=True, is_channel=False)
            return dm
        return None

    def messages(
        self, channel: str, thread_ts: str | None = None, include_deleted: bool = False
    ) -> list[dict[str, Any]]:
        """Messages of a channel (or one thread) oldest first."""
        cid = self.resolve_channel(channel) or channel
        out = [m for m in self.history.get(cid, []) if include_deleted or not m.get("_deleted")]
        if thread_ts is not None:
            out = [m for m in out if m["ts"] == thread_ts or m.get("thread_ts") == thread_ts]
        return out

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """One message by channel and ts."""
        cid = self.resolve_channel(channel) or channel
        for m in self.history.get(cid, []):
            if m["ts"] == ts and not m.get("_deleted"):
                return m
        return None

    def response_url(self) -> str:
        """A fresh response_url that records what is posted to it."""
        rid = self.next_id("R")
        self.responses[rid] = []
        return f"{self.root_url}response/{rid}"

    def response_posts(self, url: str | None = None) -> list[dict[str, Any]]:
        """JSON bodies posted to one response_url (or to all)."""
        if url is None:
            return [p for posts in self.responses.values() for p in posts]
        return self.responses.get(url.rstrip("/").rsplit("/", 1)[-1], [])

    # HTTP ----------------------------------------------------------------------------------
    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                form = await request.post()
                for key in form:
                    value = form.get(key)
                    params[key] = (
                        value if isinstance(value, str) else getattr(value, "filename", "")
                    )
        return params

    def _token(self, request: web.Request, params: dict[str, Any]) -> str | None:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth[len("Bearer ") :]
        return params.get("token")

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = await self._read_params(request)
        self.record(
            Call(method, params, dict(request.headers), time.time(), request.path, request.method)
        )
        if self.check_contract:
            for problem in slack_contract.check_call(method, params):
                self.violate(method, problem, params)
        fault = self.next_fault(method)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status == 429:
                return web.json_response(
                    {"ok": False, "error": "ratelimited"},
                    status=429,
                    headers={"Retry-After": str(fault.retry_after or 1)},
                )
            if fault.status != 200:
                return web.Response(status=fault.status, text="upstream connect error")
            if fault.error:
                return web.json_response({"ok": False, "error": fault.error})
        token = self._token(request, params)
        expected = {self.app_token} if method == "apps.connections.open" else self.tokens
        if not token:
            return web.json_response({"ok": False, "error": "not_authed"})
        if token not in expected:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        impl = METHODS.get(method)
        if impl is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        try:
            result = impl(self, params)
        except SlackError as exc:
            return web.json_response({"ok": False, "error": exc.error})
        return web.json_response({"ok": True, **result})

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["file_id"]
        entry = self.files.get(file_id)
        if entry is None:
            return web.Response(status=404, text="not found")
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            field = form.get("file") or next(iter(form.values()), b"")
            data = field.file.read() if hasattr(field, "file") else str(field).encode()
        else:
            data = await request.read()
        entry["content"] = data
        self.record(Call("upload", {"file_id": file_id, "size": len(data)}, {}, time.time()))
        return web.Response(text=f"OK - {len(data)}")

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        rid = request.match_info["rid"]
        if rid not in self.responses:
            return web.Response(status=404, text="no_such_response_url")
        body = await request.json()
        self.record(Call("response_url", body, dict(request.headers), time.time(), request.path))
        fault = self.next_fault("response_url")  # Slack's own statuses for a response_url
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status == 429:
                return web.Response(
                    status=429, text="rate_limited", headers={"Retry-After": str(fault.retry_after)}
                )
            if fault.status != 200:
                return web.Response(status=fault.status, text="upstream connect error")
        if "blocks" in body:
            for problem in slack_contract.check_blocks(body["blocks"]):
                self.violate("response_url", problem, body)
        self.responses[rid].append(body)
        return web.json_response({"ok": True})
