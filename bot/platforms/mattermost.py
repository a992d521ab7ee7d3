"""Mattermost via mattermostdriver: REST for posts and channels, the websocket for mentions and
thread replies, `/mattermost/command` (token-verified) and `/mattermost/actions` (HMAC-verified
button callbacks and dialog submissions).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import requests
from aiohttp import web
from cachetools import TTLCache
from mattermostdriver import Driver
from mattermostdriver import exceptions as mm_exc

from bot.events import Actor, ChannelRef, Event, Platform
from bot.forms import Form, FormState
from bot.messages import Message
from bot.platforms import mattermost_inbound as inbound
from bot.platforms.base import ChatError, Delivered, DeliveryError, HistoryMessage, OutboxOp
from bot.platforms.markdown import LINK
from bot.platforms.mattermost_forms import error_response as dialog_errors
from bot.platforms.mattermost_forms import render_dialog, sign_state, verify_state
from bot.platforms.mattermost_render import render, verify_context
from bot.platforms.mattermost_ws import ClientTLSWebsocket

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bot.config import Settings
    from bot.metrics import Metrics

log = logging.getLogger(__name__)
WS_RECORD_TRIES = 30  # ~4.5 minutes of backoff for a post pushed while the database is down
_ID = re.compile(r"^[a-z0-9]{26}$")
_DRIVER_ERRORS = (
    mm_exc.InvalidOrMissingParameters,
    mm_exc.NoAccessTokenProvided,
    mm_exc.NotEnoughPermissions,
    mm_exc.ResourceNotFound,
    mm_exc.MethodNotAllowed,
    mm_exc.ContentTooLarge,
    mm_exc.FeatureDisabled,
)


def driver_options(url: str, token: str) -> dict[str, Any]:
    u = urlparse(url)
    scheme = u.scheme or "https"
    return {
        "url": u.hostname or "",
        "scheme": scheme,
        "port": u.port or (443 if scheme == "https" else 80),
        "basepath": (u.path.rstrip("/") or "") + "/api/v4",
        "token": token,
        "timeout": 10,
        "verify": True,
        "keepalive": True,
        "keepalive_delay": 5,
        "websocket_kw_args": None,
        "debug": False,
    }


class MattermostApi:
    """ChatApi over the REST API (synchronous, for handler threads)."""

    def __init__(
        self,
        driver: Driver,
        base_url: str,
        team_name: str | None,
        *,
        dialog_url: str = "",
        secret: str = "",
    ) -> None:
        self.driver = driver
        self.base_url = base_url
        self.team_name = team_name
        self.dialog_url = dialog_url
        self.secret = secret
        self._team: dict[str, Any] | None = None
        self._users: TTLCache[str, Actor] = TTLCache(4096, 3600)

    def _do(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (*_DRIVER_ERRORS, requests.RequestException) as exc:
            raise ChatError(f"mattermost: {type(exc).__name__}: {exc}") from exc

    def team(self) -> dict[str, Any]:
        if self._team is None:
            if self.team_name:
                self._team = self._do(self.driver.teams.get_team_by_name, self.team_name)
            else:
                teams = self._do(self.driver.teams.get_user_teams, "me")
                if not teams:
                    raise ChatError("the bot is in no team; set MATTERMOST_TEAM")
                self._team = teams[0]
        assert self._team is not None
        return self._team

    def create_channel(self, name: str, *, topic: str = "") -> ChannelRef:
        team = self.team()
        ch = self._do(
            self.driver.channels.create_channel,
            options={
                "team_id": team["id"],
                "name": name,
                "display_name": name,
                "purpose": topic[:250],
                "header": topic[:1024],
                "type": "O",
            },
        )
        return ChannelRef(platform=Platform.MATTERMOST, id=ch["id"], team=team["id"], name=name)

    def find_channel(self, name_or_id: str) -> ChannelRef | None:
        key = name_or_id.lstrip("~#")
        try:
            if _ID.match(key):
                ch = self.driver.channels.get_channel(key)
            else:
                ch = self.driver.channels.get_channel_by_name(self.team()["id"], key)
        except (*_DRIVER_ERRORS, requests.RequestException):
            return None
        return ChannelRef(
            platform=Platform.MATTERMOST,
            id=ch["id"],
            team=ch.get("team_id", ""),
            name=ch.get("name", ""),
            is_shared=bool(ch.get("shared")),
        )

    def invite(self, channel_id: str, user_ids: list[str]) -> None:
        for uid in sorted({u for u in user_ids if u}):
            self._do(self.driver.channels.add_user, channel_id, options={"user_id": uid})

    def pin(self, channel_id: str, ts: str) -> None:
        self._do(self.driver.posts.pin_post_to_channel, ts)

    def history(
        self, channel_id: str, *, since: datetime | None = None, limit: int = 5000
    ) -> list[HistoryMessage]:
        out: list[HistoryMessage] = []
        page = 0
        while len(out) < limit:
            params: dict[str, Any] = {"page": page, "per_page": 200}
            if since is not None:
                params = {"since": int(since.timestamp() * 1000)}
            data = self._do(self.driver.posts.get_posts_for_channel, channel_id, params=params)
            posts = data.get("posts") or {}
            for pid in data.get("order") or list(posts):
                p = posts[pid]
                if p.get("type"):
                    continue
                out.append(
                    HistoryMessage(
                        id=pid,
                        ts=datetime.fromtimestamp(p.get("create_at", 0) / 1000, UTC),
                        user_id=p.get("user_id", ""),
                        user_name=self._name(p.get("user_id", "")),
                        text=p.get("message", ""),
                        thread_id=p.get("root_id") or None,
                        permalink=self.permalink(channel_id, pid),
                    )
                )
            if since is not None or len(data.get("order") or []) < 200:
                break
            page += 1
        out.sort(key=lambda h: h.ts)
        return out[:limit]

    def _name(self, user_id: str) -> str:
        try:
            return self.user(user_id).label
        except ChatError:
            return user_id

    def user(self, user_id: str) -> Actor:
        if user_id in self._users:
            return self._users[user_id]
        u = self._do(self.driver.users.get_user, user_id)
        actor = Actor(
            id=user_id,
            name=u.get("username", ""),
            display_name=" ".join(x for x in (u.get("first_name"), u.get("last_name")) if x)
            or u.get("nickname", ""),
            locale=u.get("locale") or None,
            is_bot=bool(u.get("is_bot")),
            is_external=bool(u.get("remote_id")),
        )
        self._users[user_id] = actor
        return actor

    def group_members(self, group: str) -> set[str]:
        """`mattermost:team:<name>` or `mattermost:channel:<id>` → user ids."""
        parts = group.split(":")
        kind, ref = (parts[-2], parts[-1]) if len(parts) >= 2 else ("team", parts[-1])
        if kind == "channel":
            members = self._do(self.driver.channels.get_channel_members, ref)
        else:
            team = self._do(self.driver.teams.get_team_by_name, ref)
            members = self._do(
                self.driver.teams.get_team_members, team["id"], params={"per_page": 200}
            )
        return {m["user_id"] for m in members}

    def open_form(self, trigger_id: str, form: Form, state: FormState, user_id: str) -> None:
        """POST /actions/dialogs/open: the form as an interactive dialog; its submission comes
        to `/mattermost/actions` with the signed state."""
        body = render_dialog(
            form,
            url=self.dialog_url,
            state=sign_state(self.secret, form.form_id, state, user_id),
            trigger_id=trigger_id,
        )
        self._do(self.driver.integration_actions.open_dialog, options=body)

    def permalink(self, channel_id: str, ts: str) -> str | None:
        team = self._team["name"] if self._team else (self.team_name or "_redirect")
        return f"{self.base_url}/{team}/pl/{ts}"


class MattermostAdapter:
    platform = Platform.MATTERMOST

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        url, token = settings.mattermost_url or "", settings.mattermost_token or ""
        self.options = driver_options(url, token)
        self.driver = Driver(dict(self.options))
        # a personal access token needs no login round trip; without this every REST call
        # goes out unauthenticated (Driver only sets it in login())
        self.driver.client.token = token
        self.secret = settings.copilot_action_secret or token
        public = settings.copilot_public_url or f"http://127.0.0.1:{settings.copilot_http_port}"
        self.action_url = public + "/mattermost/actions"
        self.api = MattermostApi(
            self.driver,
            url,
            settings.mattermost_team,
            dialog_url=self.action_url,
            secret=self.secret,
        )
        self.sink: Callable[[Event], Awaitable[bool]] | None = None
        self.form_check: Callable[[Event], dict[str, str]] | None = None
        self.bot_user: dict[str, Any] = {}
        self._ws: ClientTLSWebsocket | None = None
        self._ws_task: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self, *, inbound: bool = True) -> None:
        try:
            self.bot_user = await asyncio.to_thread(self.driver.users.get_user, "me")
        except Exception as exc:  # Mattermost down at start-up must not stop the bot
            log.warning("mattermost users/me failed", extra={"error": str(exc)})
        if not inbound:
            return
        self._ws = ClientTLSWebsocket(self.options, self.options["token"])
        self._ws_task = asyncio.create_task(self._ws.connect(self._on_frame), name="mm-websocket")

    async def stop(self) -> None:
        if self._ws is not None:
            self._ws.disconnect()
        if self._ws_task is not None:
            self._ws_task.cancel()
            await asyncio.gather(self._ws_task, return_exceptions=True)

    async def close_outbound(self) -> None:
        """Nothing to close: deliveries go through the driver's own (synchronous) client."""

    # -- inbound -------------------------------------------------------------------------
    async def _on_frame(self, raw: str) -> None:
        try:
            frame = json.loads(raw)
        except (TypeError, json.JSONDecodeError):
            return
        if not isinstance(frame, dict) or "event" not in frame:
            return  # the auth reply {"status": "OK", "seq_reply": 1}
        if not self.bot_user and frame.get("event") == "hello":
            try:
                self.bot_user = await asyncio.to_thread(self.driver.users.get_user, "me")
            except Exception:
                return
        event = inbound.posted_event(
            frame, self.bot_user.get("id", ""), self.bot_user.get("username", "copilot")
        )
        if event is not None and self.sink is not None:
            await self._record_pushed(event)

    async def _record_pushed(self, event: Event) -> None:
        """The websocket never redelivers a post: keep trying to record it while the database
        is down (recording is idempotent), holding later frames back meanwhile (bounded)."""
        from bot.dispatch import STORAGE_DOWN

        assert self.sink is not None
        for attempt in range(WS_RECORD_TRIES):
            try:
                await self.sink(event)
                return
            except STORAGE_DOWN:
                if attempt == WS_RECORD_TRIES - 1:
                    log.error(
                        "database unavailable: websocket event lost", extra={"id": event.event_id}
                    )
                    return
                log.warning("database unavailable: retrying a websocket event")
                await asyncio.sleep(min(0.5 * 2**attempt, 10.0))

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/mattermost/command", self.command),
            web.post("/mattermost/actions", self.actions),
        ]

    async def command(self, request: web.Request) -> web.Response:
        started = time.time()
        try:
            form = {k: str(v) for k, v in (await request.post()).items()}
        except Exception:
            return web.json_response({"error": "malformed body"}, status=400)
        token = form.get("token", "")
        if not token:
            auth = request.headers.get("Authorization", "")
            token = auth.removeprefix("Token ").strip()
        given = token.encode()  # bytes: compare_digest rejects non-ASCII str with TypeError
        if not any(
            hmac.compare_digest(given, t.encode()) for t in self.settings.mattermost_command_tokens
        ):
            return web.json_response({"error": "invalid token"}, status=401)
        if not form.get("command") or not form.get("channel_id") or not form.get("user_id"):
            return web.json_response({"error": "command, channel_id, user_id required"}, status=400)
        event = _parsed(inbound.command_event, form)
        if event is None:
            return web.json_response({"error": "malformed body"}, status=400)
        if self.sink is not None:
            await self.sink(event)
        if self.metrics is not None:
            self.metrics.child(self.metrics.ack_latency, "mattermost").observe(
                time.time() - started
            )
        return web.json_response({})

    async def actions(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except Exception:
            return web.json_response({"error": "malformed body"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "malformed body"}, status=400)
        channel_id = str(body.get("channel_id", ""))
        if body.get("type") == "dialog_submission":
            return await self._dialog(body, channel_id)
        context = body.get("context")
        if not isinstance(context, dict) or not verify_context(self.secret, context, channel_id):
            return web.json_response({"error": "invalid signature"}, status=401)
        if context.get("confirm") and not context.get("confirmed"):
            await self._ask_confirm(body, context)
            return web.json_response({})
        event = _parsed(inbound.action_event, body)
        if event is None:
            return web.json_response({"error": "malformed body"}, status=400)
        if self.sink is not None:
            await self.sink(event)
        return web.json_response({})

    async def _dialog(self, body: dict[str, Any], channel_id: str) -> web.Response:
        """A dialog submission: verify the signed state, check the fields, record the event.
        Invalid fields are answered with `{"errors": {...}}` and nothing is recorded."""
        state = verify_state(
            self.secret,
            str(body.get("callback_id", "")),
            str(body.get("state", "")),
            str(body.get("user_id", "")),
            channel_id,
        )
        if state is None:
            return web.json_response({"error": "invalid signature"}, status=401)
        if body.get("cancelled"):
            return web.json_response({})
        event = _parsed(inbound.dialog_event, body, state)
        if event is None:
            return web.json_response({"error": "malformed body"}, status=400)
        errors = self.form_check(event) if self.form_check is not None else {}
        if errors:
            return web.json_response(dialog_errors(errors))
        if self.sink is not None:
            await self.sink(event)
        return web.json_response({})

    async def _ask_confirm(self, body: dict[str, Any], context: dict[str, Any]) -> None:
        """Mattermost buttons have no confirm dialog: ask with an ephemeral confirm button."""
        c = context["confirm"]
        confirmed = {**context, "confirmed": True}
        props = {
            "attachments": [
                {
                    "title": c.get("title", ""),
                    "text": c.get("text", ""),
                    "actions": [
                        {
                            "id": "confirm",
                            "name": c.get("confirm", "OK"),
                            "type": "button",
                            "style": "primary",
                            "integration": {"url": self.action_url, "context": confirmed},
                        }
                    ],
                }
            ]
        }
        post = {"channel_id": body.get("channel_id"), "message": "", "props": props}
        try:
            await asyncio.to_thread(
                self.driver.posts.create_ephemeral_post,
                options={"user_id": body.get("user_id"), "post": post},
            )
        except Exception:
            log.exception("could not ask for confirmation")

    # -- outbound ------------------------------------------------------------------------
    def _render(self, message: Message, channel_id: str) -> dict[str, Any]:
        names: dict[str, str] = {}
        for block_text in [message.text, *[getattr(b, "text", "") for b in message.blocks]]:
            for m in LINK.finditer(block_text or ""):
                if m.group(2).startswith("user:"):
                    uid = m.group(2)[5:]
                    try:
                        names[uid] = self.api.user(uid).name
                    except ChatError:
                        pass
        return render(
            message,
            action_url=self.action_url,
            secret=self.secret,
            channel_id=channel_id,
            usernames=names,
        )

    async def deliver(self, op: OutboxOp) -> Delivered:
        try:
            return await asyncio.to_thread(self._deliver_sync, op)
        except DeliveryError:
            raise
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status == 429:
                raise DeliveryError(
                    "mattermost 429", retry_after=_retry_after(exc.response)
                ) from None
            raise DeliveryError(f"mattermost {status}", permanent=400 <= status < 500) from None
        except requests.RequestException as exc:
            raise DeliveryError(f"mattermost unreachable: {type(exc).__name__}") from None
        except _DRIVER_ERRORS as exc:
            raise DeliveryError(
                f"mattermost: {type(exc).__name__}: {exc}", permanent=True
            ) from None

    def _deliver_sync(self, op: OutboxOp) -> Delivered:
        post = self._render(op.message, op.channel_id)
        posts = self.driver.posts
        if op.op == "update":
            data = posts.patch_post(op.target_ts, options={"id": op.target_ts, **post})
            return Delivered(ts=data.get("id"), channel_id=data.get("channel_id"))
        if op.op == "delete":
            posts.delete_post(op.target_ts)
            return Delivered(ts=op.target_ts, channel_id=op.channel_id)
        if op.op == "ephemeral":
            if op.response_url:
                r = requests.post(
                    op.response_url,
                    json={"response_type": "ephemeral", "text": post["message"], **post["props"]},
                    timeout=10,
                )
                r.raise_for_status()
                return Delivered(ts=None, channel_id=op.channel_id)
            data = posts.create_ephemeral_post(
                options={
                    "user_id": op.user_id,
                    "post": {"channel_id": op.channel_id, "root_id": op.thread_ts or "", **post},
                }
            )
            return Delivered(ts=data.get("id"), channel_id=op.channel_id)
        file_ids = []
        for att in op.message.attachments:
            up = self.driver.files.upload_file(
                op.channel_id, files={"files": (att.filename, base64.b64decode(att.content_b64))}
            )
            file_ids.extend(f["id"] for f in up.get("file_infos", []))
        options: dict[str, Any] = {
            "channel_id": op.channel_id,
            "root_id": op.thread_ts or "",
            "pending_post_id": op.key,  # the server dedupes a retried create
            **post,
        }
        if file_ids:
            options["file_ids"] = file_ids
        data = posts.create_post(options=options)
        return Delivered(ts=data.get("id"), channel_id=data.get("channel_id"))


def _parsed(build: Callable[..., Event], *args: Any) -> Event | None:
    """An Event from a request body, or None when its fields have impossible types."""
    try:
        return build(*args)
    except (ValueError, TypeError, AttributeError) as exc:  # pydantic errors are ValueErrors
        log.warning("malformed mattermost request", extra={"error": str(exc)[:200]})
        return None


def _retry_after(response: Any) -> float | None:
    try:
        return float(response.headers.get("Retry-After"))
    except (TypeError, ValueError, AttributeError):
        return None
