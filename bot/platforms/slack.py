"""Slack via slack-bolt: HTTP Events API at /slack/events, or Socket Mode with SLACK_APP_TOKEN.

The adapter verifies signatures (v0 HMAC, five-minute window) before anything else. Slash
commands then go straight to the inbox and are acknowledged (the hot path: no listener
middleware); everything else goes through Bolt, which answers url_verification and SSL checks,
and our listeners record the event and acknowledge at once (`process_before_response=True`: no
ack polling). The work continues in the background and answers through the outbox.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import hashlib
import hmac
import json
import logging
import re
import time
import urllib.parse
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
import urllib3
from aiohttp import web
from cachetools import TTLCache
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.events import Actor, ChannelRef, Event, Platform
from bot.forms import Form, FormState
from bot.messages import Message
from bot.platforms import slack_inbound as inbound
from bot.platforms.base import ChatError, Delivered, DeliveryError, HistoryMessage, OutboxOp
from bot.platforms.slack_forms import error_response, render_view
from bot.platforms.slack_render import render

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bot.config import Settings
    from bot.metrics import Metrics

log = logging.getLogger(__name__)
_ANY = re.compile(".*")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
MAX_SKEW = 5 * 60
# set per HTTP request: a listener appends once it hands an event to the sink
_REACHED: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar(
    "slack_reached", default=None
)
RESPOND_TIMEOUT = 3.0  # s; a handler thread waits this long at most, then the outbox retries
RETRYABLE_ERRORS = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
}


class SlackApi:
    """ChatApi over slack_sdk's WebClient (synchronous, for handler threads)."""

    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._users: TTLCache[str, Actor] = TTLCache(4096, 3600)
        # response_url posts from handler threads: one thread-safe keep-alive pool
        self._http = urllib3.PoolManager(
            maxsize=4, timeout=urllib3.Timeout(connect=2.0, read=RESPOND_TIMEOUT), retries=False
        )

    def respond(self, url: str, message: Message, *, ephemeral: bool = True) -> None:
        """Answer a command through its response_url (Responder): a command's answer leaves
        from the handler's thread as soon as it is stored."""
        if not url.startswith(("https://", "http://")):
            raise DeliveryError("response_url is not an http(s) URL", permanent=True)
        kind = "ephemeral" if ephemeral else "in_channel"
        body = json.dumps({"response_type": kind, **render(message)}).encode()
        try:
            resp = self._http.request(
                "POST", url, body=body, headers={"Content-Type": "application/json"}
            )
        except urllib3.exceptions.HTTPError as exc:
            raise DeliveryError(f"response_url unreachable: {type(exc).__name__}") from None
        _check_response(resp.status, resp.headers)

    def _call(self, method: str, **kwargs: Any) -> Any:
        """Call a Web API method through slack_sdk's own method (its encoding, its checks)."""
        fn = getattr(self.client, method.replace(".", "_"))
        kwargs = {k: v for k, v in kwargs.items() if v not in (None, "")}
        try:
            return fn(**kwargs)
        except SlackApiError as exc:
            raise ChatError(f"{method}: {_error_code(exc) or exc}") from exc

    def create_channel(self, name: str, *, topic: str = "") -> ChannelRef:
        data = self._call("conversations.create", name=name)
        ch = data["channel"]
        if topic:
            try:
                self._call("conversations.setTopic", channel=ch["id"], topic=topic[:250])
            except ChatError:
                log.warning("could not set the topic", extra={"channel": ch["id"]})
        return ChannelRef(platform=Platform.SLACK, id=ch["id"], name=ch.get("name", name))

    def find_channel(self, name_or_id: str) -> ChannelRef | None:
        key = name_or_id.lstrip("#")
        if _CHANNEL_ID.match(key):
            try:
                ch = self._call("conversations.info", channel=key)["channel"]
            except ChatError:
                return None
            return ChannelRef(
                platform=Platform.SLACK,
                id=ch["id"],
                name=ch.get("name", ""),
                is_shared=bool(ch.get("is_ext_shared") or ch.get("is_shared")),
            )
        cursor = None
        for _ in range(50):
            data = self._call(
                "conversations.list",
                limit=1000,
                cursor=cursor or "",
                types="public_channel,private_channel",
                exclude_archived=True,
            )
            for ch in data.get("channels", []):
                if ch.get("name") == key:
                    return ChannelRef(
                        platform=Platform.SLACK,
                        id=ch["id"],
                        name=key,
                        is_shared=bool(ch.get("is_ext_shared") or ch.get("is_shared")),
                    )
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None

    def invite(self, channel_id: str, user_ids: list[str]) -> None:
        users = sorted({u for u in user_ids if u})
        if not users:
            return
        try:
            self._call("conversations.invite", channel=channel_id, users=",".join(users))
        except ChatError as exc:
            if "already_in_channel" not in str(exc) and "cant_invite_self" not in str(exc):
                raise

    def pin(self, channel_id: str, ts: str) -> None:
        try:
            self._call("pins.add", channel=channel_id, timestamp=ts)
        except ChatError as exc:
            if "already_pinned" not in str(exc):
                raise

    def history(
        self, channel_id: str, *, since: datetime | None = None, limit: int = 5000
    ) -> list[HistoryMessage]:
        out: list[HistoryMessage] = []
        cursor = None
        oldest = f"{since.timestamp():.6f}" if since else "0"
        while len(out) < limit:
            data = self._call(
                "conversations.history",
                channel=channel_id,
                limit=200,
                oldest=oldest,
                cursor=cursor or "",
            )
            for m in data.get("messages", []):
                out.append(self._line(channel_id, m))
                if m.get("reply_count") and len(out) < limit:
                    replies = self._call(
                        "conversations.replies", channel=channel_id, ts=m["ts"], limit=200
                    )
                    out.extend(
                        self._line(channel_id, r)
                        for r in replies.get("messages", [])
                        if r.get("ts") != m["ts"]
                    )
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        out.sort(key=lambda h: h.ts)
        return out[:limit]

    def _line(self, channel_id: str, m: dict[str, Any]) -> HistoryMessage:
        uid = str(m.get("user") or m.get("bot_id") or "")
        name = uid
        if m.get("user"):
            try:
                name = self.user(uid).label
            except ChatError:
                name = uid
        return HistoryMessage(
            id=str(m.get("ts")),
            ts=datetime.fromtimestamp(float(m.get("ts", 0)), UTC),
            user_id=uid,
            user_name=name,
            text=str(m.get("text", "")),
            thread_id=m.get("thread_ts") if m.get("thread_ts") != m.get("ts") else None,
            is_bot=bool(m.get("bot_id")),
        )

    def user(self, user_id: str) -> Actor:
        if user_id in self._users:
            return self._users[user_id]
        u = self._call("users.info", user=user_id, include_locale=True)["user"]
        profile = u.get("profile") or {}
        actor = Actor(
            id=user_id,
            name=u.get("name", ""),
            display_name=profile.get("display_name") or u.get("real_name", ""),
            locale=u.get("locale"),
            is_bot=bool(u.get("is_bot")),
        )
        self._users[user_id] = actor
        return actor

    def group_members(self, group: str) -> set[str]:
        group_id = group.split(":")[-1]
        data = self._call("usergroups.users.list", usergroup=group_id)
        return set(data.get("users", []))

    def open_form(self, trigger_id: str, form: Form, state: FormState, user_id: str) -> None:
        """views.open: the form as a modal (the trigger expires three seconds after the click)."""
        self._call("views.open", trigger_id=trigger_id, view=render_view(form, state))

    def permalink(self, channel_id: str, ts: str) -> str | None:
        try:
            return self._call("chat.getPermalink", channel=channel_id, message_ts=ts).get(
                "permalink"
            )
        except ChatError:
            return None


class SlackAdapter:
    platform = Platform.SLACK

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        token = settings.slack_bot_token or ""
        self.client = AsyncWebClient(token=token, base_url=settings.slack_api_url, timeout=10)
        self.api = SlackApi(WebClient(token=token, base_url=settings.slack_api_url, timeout=10))
        self.sink: Callable[[Event], Awaitable[bool]] | None = None
        self.form_check: Callable[[Event], dict[str, str]] | None = None
        self._bot_user_id: str | None = None
        self._socket: Any = None
        # response_url posts: one session per event loop (the outbox delivers on a loop of its
        # own thread, off the loop that acknowledges requests)
        self._http: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self.bolt = AsyncApp(
            client=self.client,
            signing_secret=settings.slack_signing_secret or "socket-mode",
            process_before_response=True,
            request_verification_enabled=not settings.slack_app_token,
            ignoring_self_events_enabled=True,
        )
        self._register()

    # -- inbound -------------------------------------------------------------------------
    def _register(self) -> None:
        app = self.bolt

        @app.command(_ANY)
        async def on_command(ack: AsyncAck, body: dict[str, Any]) -> None:
            await self._submit(inbound.command_event(body))
            await ack()

        @app.action(_ANY)
        async def on_action(ack: AsyncAck, body: dict[str, Any]) -> None:
            for event in inbound.action_events(body):
                await self._submit(event)
            await ack()

        @app.view(_ANY)
        async def on_view(ack: AsyncAck, body: dict[str, Any]) -> None:
            event = inbound.view_event(body)
            errors = self.form_check(event) if self.form_check is not None else {}
            if errors:  # the modal stays open with the errors under the fields; nothing recorded
                await ack(**error_response(errors))
                return
            await self._submit(event)
            await ack()

        @app.event("app_mention")
        async def on_mention(body: dict[str, Any]) -> None:
            await self._submit(inbound.mention_event(body))

        @app.event("message")
        async def on_message(body: dict[str, Any]) -> None:
            event = inbound.message_event(body, self._bot_user_id)
            if event is not None:
                await self._submit(event)

    async def _submit(self, event: Event) -> None:
        reached = _REACHED.get()
        if reached is not None:
            reached.append(True)
        started = event.received_at or time.time()
        if self.sink is not None:
            try:
                await self.sink(event)
            except Exception:
                if reached is not None:
                    reached.append(False)  # not recorded: the request must not be acknowledged
                raise
        if self.metrics is not None:
            self.metrics.child(self.metrics.ack_latency, "slack").observe(time.time() - started)

    def routes(self) -> list[web.RouteDef]:
        if self.settings.slack_app_token:
            return []
        return [web.post("/slack/events", self.http_events)]

    async def http_events(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not signature_ok(self.settings.slack_signing_secret or "", raw, request.headers):
            return _refuse(401, "invalid_signature")
        command = _slash_command(raw, request.headers.get("Content-Type", ""))
        if command is not None:
            # The hot path: a signed slash command needs no listener middleware — record it,
            # then the empty 200 that acknowledges it (what Bolt's ack() sends).
            await self._submit(inbound.command_event(command))
            return web.Response(status=200)
        try:
            bolt_request = AsyncBoltRequest(
                body=raw.decode("utf-8"), query=request.query_string, headers=request.headers
            )
        except Exception:  # undecodable or malformed body (bolt parses it here)
            return _refuse(400, "invalid_payload")
        if not isinstance(bolt_request.body, dict):
            return _refuse(400, "invalid_payload")
        reached: list[bool] = []
        token = _REACHED.set(reached)
        try:
            bolt_response = await self.bolt.async_dispatch(bolt_request)
        except Exception:
            if reached:
                raise  # our storage failed: a 500 makes Slack retry
            log.warning("malformed slack payload", exc_info=True)
            return _refuse(400, "invalid_payload")
        finally:
            _REACHED.reset(token)
        if not all(reached):
            # bolt acknowledges events itself even when the listener failed: an event the
            # inbox did not record gets a 503, so Slack retries it instead of losing it
            return _refuse(503, "storage_unavailable")
        if bolt_response.status >= 500 and not reached:
            # bolt failed before any listener ran: the payload's shape, not our storage
            log.warning("malformed slack payload", extra={"status": bolt_response.status})
            return _refuse(400, "invalid_payload")
        return await to_aiohttp_response(bolt_response)

    async def start(self, *, inbound: bool = True) -> None:
        try:
            auth = await self.client.auth_test()
            self._bot_user_id = auth.get("user_id")
        except Exception as exc:  # Slack down at start-up must not stop the bot
            log.warning("slack auth.test failed", extra={"error": str(exc)})
        if inbound and self.settings.slack_app_token:
            from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

            self._socket = AsyncSocketModeHandler(self.bolt, self.settings.slack_app_token)
            await self._socket.connect_async()

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
        await self.close_outbound()

    async def close_outbound(self) -> None:
        """Close what `deliver` opened on the running loop (call it on the delivering loop)."""
        session = self._http.pop(asyncio.get_running_loop(), None)
        if session is not None:
            await session.close()

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._http.get(loop)
        if session is None or session.closed:
            session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
            self._http[loop] = session
        return session

    # -- outbound ------------------------------------------------------------------------
    async def deliver(self, op: OutboxOp) -> Delivered:
        payload = render(op.message)
        try:
            if op.op == "update":
                resp = await self.client.chat_update(
                    channel=op.channel_id, ts=op.target_ts or "", **payload
                )
                return Delivered(ts=resp.get("ts"), channel_id=resp.get("channel"))
            if op.op == "delete":
                await self.client.chat_delete(channel=op.channel_id, ts=op.target_ts or "")
                return Delivered(ts=op.target_ts, channel_id=op.channel_id)
            if op.op == "ephemeral":
                if op.response_url:
                    await self._respond(op.response_url, {"response_type": "ephemeral", **payload})
                    return Delivered(ts=None, channel_id=op.channel_id)
                resp = await self.client.chat_postEphemeral(
                    channel=op.channel_id,
                    user=op.user_id or "",
                    thread_ts=op.thread_ts,
                    **payload,
                )
                return Delivered(ts=resp.get("message_ts"), channel_id=op.channel_id)
            try:
                resp = await self.client.chat_postMessage(
                    channel=op.channel_id, thread_ts=op.thread_ts, unfurl_links=False, **payload
                )
            except SlackApiError as exc:
                error = _error_code(exc)
                if op.response_url and error in ("not_in_channel", "channel_not_found"):
                    await self._respond(op.response_url, {"response_type": "in_channel", **payload})
                    return Delivered(ts=None, channel_id=op.channel_id)
                raise
            ts, channel = resp.get("ts"), resp.get("channel")
            for att in op.message.attachments:
                await self.client.files_upload_v2(
                    channel=channel,
                    thread_ts=op.thread_ts or ts,
                    filename=att.filename,
                    title=att.title or att.filename,
                    content=base64.b64decode(att.content_b64),
                )
            return Delivered(ts=ts, channel_id=channel)
        except SlackApiError as exc:
            raise _delivery_error(exc) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DeliveryError(f"slack unreachable: {type(exc).__name__}: {exc}") from None

    async def _respond(self, url: str, body: dict[str, Any]) -> None:
        async with self._session().post(url, json=body) as resp:
            _check_response(resp.status, resp.headers)


def _check_response(status: int, headers: Any) -> None:
    """A response_url post's status as the outbox sees it (429 waits, 5xx retries)."""
    if status == 429:
        raise DeliveryError("response_url 429", retry_after=_retry_after(headers))
    if status >= 500:
        raise DeliveryError(f"response_url {status}")
    if status >= 400:
        raise DeliveryError(f"response_url {status}", permanent=True)


def signature_ok(secret: str, body: bytes, headers: Any, now: float | None = None) -> bool:
    """Slack's v0 signature over the raw body, timestamp within five minutes."""
    timestamp = str(headers.get("X-Slack-Request-Timestamp") or "")
    signature = str(headers.get("X-Slack-Signature") or "")
    if not secret or not timestamp.isdigit() or not signature:
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > MAX_SKEW:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def _slash_command(raw: bytes, content_type: str) -> dict[str, str] | None:
    """The form fields of a slash-command request, else None (Bolt handles everything else)."""
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return None
    try:
        fields = dict(urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return None
    if "payload" in fields or "ssl_check" in fields or not fields.get("command"):
        return None
    return fields


def _refuse(status: int, error: str) -> web.Response:
    return web.json_response({"ok": False, "error": error}, status=status)


def _retry_after(headers: Any) -> float | None:
    try:
        return float(headers.get("Retry-After") or headers.get("retry-after"))
    except (TypeError, ValueError):
        return None


def _error_code(exc: SlackApiError) -> str:
    """Slack's `error` code; "" when the body is not JSON (a proxy's 502/503 page)."""
    data = exc.response.data
    return str(data.get("error", "") or "") if isinstance(data, dict) else ""


def _delivery_error(exc: SlackApiError) -> DeliveryError:
    status = exc.response.status_code
    error = _error_code(exc)
    if status == 429 or error == "ratelimited":
        return DeliveryError(
            "slack 429 ratelimited", retry_after=_retry_after(exc.response.headers)
        )
    if status >= 500 or error in RETRYABLE_ERRORS:
        return DeliveryError(f"slack {status} {error}")
    return DeliveryError(f"slack error: {error or status}", permanent=True)
