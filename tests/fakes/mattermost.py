"""A fake Mattermost server: REST /api/v4 subset plus the websocket, speaking the real protocol."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from tests.fakes import mattermost_contract as contract
from tests.fakes._server import Call, FakeServer
from tests.fakes.mattermost_routes import ROUTES, MMError, MMRequest
from tests.fakes.mattermost_ws import MattermostWebsocketMixin

BOT_TOKEN = "fake-mm-bot-token"


class FakeMattermost(MattermostWebsocketMixin, FakeServer):
    """Stateful fake Mattermost; `driver_options()` gives mattermostdriver.Driver's options."""

    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        clock: Callable[[], float] = time.time,
        check_contract: bool = True,
        check_responses: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(ssl_context)
        self.clock = clock
        self.check_contract = check_contract
        self.check_responses = check_responses
        self.tokens: dict[str, str] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.teams: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.members: dict[str, list[str]] = {}
        self.team_members: dict[str, list[str]] = {}
        self.posts: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, str] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.commands: dict[str, dict[str, Any]] = {}
        self.dialogs: list[dict[str, Any]] = []
        self.ephemerals: list[dict[str, Any]] = []
        self.sockets: list[tuple[web.WebSocketResponse, str, list[int]]] = []
        self.ws_received: list[dict[str, Any]] = []
        self._seq = 0
        self.bot = self.seed_user("copilot", token=bot_token, is_bot=True, user_id=self.new_id("b"))
        self.hooks: dict[str, dict[str, Any]] = {}
        self.app.router.add_get("/api/v4/websocket", self._handle_ws)
        self.app.router.add_post("/hooks/commands/{hook_id}", self._handle_command_hook)
        for method, pattern, handler in ROUTES:
            self.app.router.add_route(method, "/api/v4" + pattern, self._wrap(handler, pattern))

    @property
    def base_url(self) -> str:
        """REST base URL (`.../api/v4`)."""
        return f"{self.scheme}://127.0.0.1:{self.port}/api/v4"

    def driver_options(self, token: str | None = None, **extra: Any) -> dict[str, Any]:
        """Options for mattermostdriver.Driver pointing at this fake."""
        return {
            "url": "127.0.0.1",
            "port": self.port,
            "scheme": self.scheme,
            "basepath": "/api/v4",
            "token": token or self.bot_token,
            "timeout": 5,
            **extra,
        }

    @property
    def bot_token(self) -> str:
        """The bot's personal access token."""
        return next(t for t, uid in self.tokens.items() if uid == self.bot["id"])

    # ids, time, seeding --------------------------------------------------------------------
    def new_id(self, prefix: str = "") -> str:
        """Deterministic 26-character Mattermost-style id."""
        self._seq += 1
        return (prefix + str(self._seq).rjust(26 - len(prefix), "0"))[:26]

    def now_ms(self) -> int:
        """Current time in epoch milliseconds (the fake's clock)."""
        return int(self.clock() * 1000)

    def seed_user(
        self,
        username: str,
        *,
        user_id: str | None = None,
        token: str | None = None,
        is_bot: bool = False,
        locale: str = "en",
        remote_id: str | None = None,
        roles: str = "system_user",
        **extra: Any,
    ) -> dict[str, Any]:
        """Add a user; remote_id marks a user from a shared channel's remote cluster."""
        uid = user_id or self.new_id("u")
        now = self.now_ms()
        user = {
            "id": uid,
            "create_at": now,
            "update_at": now,
            "delete_at": 0,
            "username": username,
            "auth_service": "",
            "email": f"{username}@example.com",
            "nickname": "",
            "first_name": username.title(),
            "last_name": "",
            "position": "",
            "roles": roles,
            "locale": locale,
            "timezone": {
                "useAutomaticTimezone": "true",
                "automaticTimezone": "Europe/Paris",
                "manualTimezone": "",
            },
            "is_bot": is_bot,
            "props": {},
            **extra,
        }
        if remote_id:
            user["remote_id"] = remote_id
        self.users[uid] = user
        if token:
            self.tokens[token] = uid
        return user

    def seed_team(
        self,
        name: str,
        *,
        team_id: str | None = None,
        display_name: str = "",
        members: list[str] | tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """Add a team (the bot is a member)."""
        tid = team_id or self.new_id("t")
        team = {
            "id": tid,
            "create_at": self.now_ms(),
            "update_at": self.now_ms(),
            "delete_at": 0,
            "display_name": display_name or name.title(),
            "name": name,
            "description": "",
            "email": "",
            "type": "O",
            "allowed_domains": "",
            "invite_id": "",
            "allow_open_invite": False,
        }
        self.teams[tid] = team
        self.team_members[tid] = [self.bot["id"], *members]
        return team

    def seed_channel(
        self,
        team_id: str,
        name: str,
        *,
        channel_id: str | None = None,
        type: str = "O",
        display_name: str = "",
        members: list[str] | tuple[str, ...] = (),
        shared: bool = False,
        bot_member: bool = True,
    ) -> dict[str, Any]:
        """Add a channel (the bot joins unless bot_member=False); shared=True: a shared channel."""
        cid = channel_id or self.new_id("c")
        now = self.now_ms()
        channel = {
            "id": cid,
            "create_at": now,
            "update_at": now,
            "delete_at": 0,
            "team_id": team_id,
            "type": type,
            "display_name": display_name or name,
            "name": name,
            "header": "",
            "purpose": "",
            "last_post_at": 0,
            "total_msg_count": 0,
            "extra_update_at": 0,
            "creator_id": self.bot["id"],
            "shared": shared,
        }
        self.channels[cid] = channel
        self.members[cid] = list(members) + ([self.bot["id"]] if bot_member else [])
        return channel

    # posts ---------------------------------------------------------------------------------
    def create_post(self, user_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Store a post (dedupe on pending_post_id like the server); returns (post, created)."""
        with self._lock:
            pending = body.get("pending_post_id") or ""
            if pending and pending in self.pending:
                return self.posts[self.pending[pending]], False
            now = self.now_ms()
            post = {
                "id": self.new_id("p"),
                "create_at": now,
                "update_at": now,
                "edit_at": 0,
                "delete_at": 0,
                "is_pinned": False,
                "user_id": user_id,
                "channel_id": body["channel_id"],
                "root_id": body.get("root_id", ""),
                "original_id": "",
                "message": body.get("message", ""),
                "type": body.get("type", ""),
                "props": body.get("props") or {},
                "hashtags": " ".join(re.findall(r"#\w+", body.get("message", ""))),
                "file_ids": body.get("file_ids") or [],
                "pending_post_id": pending,
                "remote_id": "",
                "reply_count": 0,
                "last_reply_at": 0,
                "participants": None,
                "metadata": {},
            }
            for fid in post["file_ids"]:
                if fid in self.files:
                    self.files[fid]["info"]["post_id"] = post["id"]
            self.posts[post["id"]] = post
            if pending:
                self.pending[pending] = post["id"]
            root = self.posts.get(post["root_id"])
            if root is not None:
                root["reply_count"] += 1
                root["last_reply_at"] = now
                post["reply_count"] = root["reply_count"]
            self.channels[post["channel_id"]]["last_post_at"] = now
            self.channels[post["channel_id"]]["total_msg_count"] += 1
        self._schedule(self._broadcast_posted(post))
        return post, True

    def user_post(
        self, user_id: str, channel_id: str, message: str, *, root_id: str = "", **fields: Any
    ) -> dict[str, Any]:
        """A test user posts (as from the webapp): stored and pushed as a `posted` event."""
        pending = f"{user_id}:{self.now_ms()}{self._seq}"
        body = {
            "channel_id": channel_id,
            "message": message,
            "root_id": root_id,
            "pending_post_id": pending,
            **fields,
        }
        return self.create_post(user_id, body)[0]

    def channel_posts(self, channel_id: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Posts of a channel, oldest first."""
        return sorted(
            (
                p
                for p in self.posts.values()
                if p["channel_id"] == channel_id and (include_deleted or not p["delete_at"])
            ),
            key=lambda p: (p["create_at"], p["id"]),
        )

    # HTTP plumbing -------------------------------------------------------------------------
    def _auth_user(self, header: str) -> str | None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        return self.tokens.get(token.strip())

    def _wrap(self, handler: Any, pattern: str) -> Any:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            return await self._dispatch(request, handler, pattern)

        return endpoint

    async def _dispatch(
        self, request: web.Request, handler: Any, pattern: str
    ) -> web.StreamResponse:
        ctype = request.content_type
        body: Any = None
        form: dict[str, Any] = {}
        raw = b""
        if ctype.startswith("multipart/"):
            for key, value in (await request.post()).items():
                if isinstance(value, str):
                    form[key] = value
                elif isinstance(value, FileField):
                    form.setdefault("files", []).append((value.filename, value.file.read()))
        else:
            raw = await request.read()
            if raw and request.method != "GET":
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
        name = f"{request.method} {pattern}"
        params = body if isinstance(body, dict) else {**form, "files": len(form.get("files", []))}
        self.record(
            Call(
                name,
                {**dict(request.query), **(params or {})},
                dict(request.headers),
                time.time(),
                request.path,
                request.method,
            )
        )
        if self.check_contract:
            for p in contract.check_request(
                request.method, request.path, dict(request.query), dict(request.headers), raw, ctype
            ):
                self.violate(name, p, params)
        fault = self.next_fault(name)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status == 429:
                return self._error(
                    429,
                    "api.context.rate_limit.app_error",
                    "Too many requests",
                    {"Retry-After": str(fault.retry_after or 1)},
                )
            if fault.status != 200:
                return self._error(fault.status, "fake.injected.app_error", "Injected failure")
            if fault.error:
                return self._error(400, fault.error, fault.error)
        uid = self._auth_user(request.headers.get("Authorization", ""))
        if uid is None:
            return self._error(
                401,
                "api.context.session_expired.app_error",
                "Invalid or expired session, please login again.",
            )
        req = MMRequest(self, uid, dict(request.match_info), dict(request.query), body, form)
        try:
            status, result = handler(req)
        except MMError as exc:
            return self._error(exc.status, exc.id, exc.message)
        if self.check_contract and self.check_responses:
            for p in contract.check_response(
                request.method, request.path, dict(request.query), status, result
            ):
                self.violate(name, p, params)
        return self._json(result, status)

    @staticmethod
    def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        # Exactly `application/json` like the server: mattermostdriver compares it verbatim.
        return web.Response(
            body=json.dumps(data).encode(),
            status=status,
            headers={"Content-Type": "application/json", **(headers or {})},
        )

    def _error(
        self, status: int, err_id: str, message: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        body = {
            "id": err_id,
            "message": message,
            "detailed_error": "",
            "request_id": self.new_id("r"),
            "status_code": status,
        }
        return self._json(body, status, headers)

    # slash command response_url ------------------------------------------------------------
    def command_response_url(self, channel_id: str, user_id: str) -> str:
        """A response_url like the server gives a slash command (`/hooks/commands/<id>`)."""
        hook_id = self.new_id("h")
        self.hooks[hook_id] = {"channel_id": channel_id, "user_id": user_id, "responses": []}
        return f"{self.scheme}://127.0.0.1:{self.port}/hooks/commands/{hook_id}"

    def command_responses(self, url: str) -> list[dict[str, Any]]:
        """CommandResponse bodies posted to one response_url."""
        return self.hooks[url.rstrip("/").rsplit("/", 1)[-1]]["responses"]

    async def _handle_command_hook(self, request: web.Request) -> web.StreamResponse:
        hook = self.hooks.get(request.match_info["hook_id"])
        if hook is None:
            return self._error(404, "web.command_webhook.invalid.app_error", "Invalid webhook")
        body = await request.json()
        self.record(Call("POST /hooks/commands", body, dict(request.headers), time.time()))
        hook["responses"].append(body)
        post = {
            "channel_id": hook["channel_id"],
            "message": body.get("text", ""),
            "props": {"attachments": body["attachments"]} if "attachments" in body else {},
        }
        for problem in contract.check_post(post):
            self.violate("POST /hooks/commands", problem, body)
        if body.get("response_type") == "in_channel":
            self.create_post(self.bot["id"], post)
        else:
            self.ephemerals.append({"user_id": hook["user_id"], "post": post})
        return web.Response(text="ok")

    # queries -------------------------------------------------------------------------------
    def posts_calls(self) -> list[Call]:
        """Recorded `POST /posts` calls."""
        return self.calls("POST /posts")
