"""The local workspace: channels, threads and users kept in the bot's database, shown by a
web page the bot serves. The same core, router and neutral messages as Slack and Mattermost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from babel import Locale
from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.events import Actor, ChannelRef, Event, EventKind, Platform
from bot.forms import Form, FormState
from bot.i18n import N_, normalize_locale, translator
from bot.platforms.base import ChatError, Delivered, DeliveryError, HistoryMessage, OutboxOp
from storage.db import unit_of_work
from storage.models.core import LocalChannel, LocalMessage, UserPref

STATIC = Path(__file__).parent / "static"
TEAM = "local"
BOT_ID = "copilot"
BOT_NAME = "copilot"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")

DEFAULT_USERS: list[dict[str, Any]] = [
    {"id": "alice", "name": "alice", "display_name": "Alice (SRE on call)", "groups": ["sre"]},
    {
        "id": "bob",
        "name": "bob",
        "display_name": "Bob (team lead)",
        "groups": ["sre", "sre-leads", "partner-reviewers", "finops"],
    },
    {"id": "carol", "name": "carol", "display_name": "Carol (FinOps)", "groups": ["finops"]},
    {
        "id": "dave",
        "name": "dave",
        "display_name": "Dave (partner, Acme)",
        "groups": [],
        "external": True,
    },
    {
        "id": "olga",
        "name": "olga",
        "display_name": "Ольга (дежурный SRE)",
        "groups": ["sre", "sre-leads"],
        "locale": "ru",
    },
]
DEFAULT_CHANNELS = [
    ("general", "Everyone", False),
    ("incidents", "Incident announcements", False),
    ("alerts", "Alerts from Alertmanager", False),
    ("finops", "Cost questions and anomaly alerts", False),
    ("partner-acme", "Shared with Acme (partner)", True),
    ("partner-review", "Partner offer reviews", False),
]

EventSink = Callable[[Event], Awaitable[bool]]


class LocalApi:
    """ChatApi over the local tables (synchronous; used from handler threads)."""

    def __init__(self, engine: Engine, users: list[dict[str, Any]], bump: Callable[[], int]):
        self.engine = engine
        self.users = {u["id"]: u for u in users}
        self._bump = bump
        self.notify: Callable[[], None] = lambda: None

    def create_channel(self, name: str, *, topic: str = "") -> ChannelRef:
        if not _NAME.match(name):
            raise ChatError(f"invalid channel name: {name!r}")
        with unit_of_work(self.engine) as s:
            if s.exec(select(LocalChannel).where(LocalChannel.name == name)).first():
                raise ChatError(f"name_taken: {name}")
            ch = LocalChannel(id="C" + uuid.uuid4().hex[:10].upper(), name=name, topic=topic)
            s.add(ch)
        return ChannelRef(platform=Platform.LOCAL, id=ch.id, team=TEAM, name=name)

    def find_channel(self, name_or_id: str) -> ChannelRef | None:
        key = name_or_id.lstrip("#")
        with unit_of_work(self.engine) as s:
            ch = s.exec(
                select(LocalChannel).where((LocalChannel.id == key) | (LocalChannel.name == key))
            ).first()
            if ch is None:
                return None
            return ChannelRef(
                platform=Platform.LOCAL, id=ch.id, team=TEAM, name=ch.name, is_shared=ch.is_shared
            )

    def invite(self, channel_id: str, user_ids: list[str]) -> None:
        return None  # everyone sees every local channel

    def pin(self, channel_id: str, ts: str) -> None:
        with unit_of_work(self.engine) as s:
            s.exec(
                update(LocalMessage)
                .where(LocalMessage.id == ts)
                .values(pinned=True, version=self._bump())
            )

    def history(
        self, channel_id: str, *, since: datetime | None = None, limit: int = 5000
    ) -> list[HistoryMessage]:
        with unit_of_work(self.engine) as s:
            q = select(LocalMessage).where(
                LocalMessage.channel_id == channel_id, LocalMessage.ephemeral_for.is_(None)
            )
            if since is not None:
                q = q.where(LocalMessage.created_at > since)
            rows = s.exec(q.order_by(LocalMessage.created_at).limit(limit)).all()
            return [
                HistoryMessage(
                    id=r.id,
                    ts=r.created_at,
                    user_id=r.user_id,
                    user_name=r.user_name,
                    text=r.text,
                    thread_id=r.thread_id,
                    permalink=f"/#/{channel_id}/{r.id}",
                    is_bot=r.user_id == BOT_ID,
                )
                for r in rows
            ]

    def user(self, user_id: str) -> Actor:
        u = self.users.get(user_id, {"id": user_id, "name": user_id})
        return _actor(u)

    def group_members(self, group: str) -> set[str]:
        name = group.split(":")[-1]
        return {uid for uid, u in self.users.items() if name in u.get("groups", [])}

    def permalink(self, channel_id: str, ts: str) -> str | None:
        return f"/#/{channel_id}/{ts}"

    def open_form(self, trigger_id: str, form: Form, state: FormState, user_id: str) -> None:
        """The form as a message only its user sees; the page renders its fields and posts
        them to `/api/local/form` (field errors come back in that response)."""
        payload = {
            "text": form.title,
            "blocks": [],
            "attachments": [],
            "form": {**form.model_dump(mode="json"), "state": state.encode()},
        }
        msg = LocalMessage(
            id="F" + uuid.uuid4().hex[:12],
            channel_id=state.channel_id,
            thread_id=state.thread_id,
            user_id=BOT_ID,
            user_name="Console Copilot",
            text=form.title,
            payload=json.dumps(payload, ensure_ascii=False),
            ephemeral_for=user_id,
            version=self._bump(),
        )
        with unit_of_work(self.engine) as s:
            s.add(msg)
        self.notify()


def _actor(u: dict[str, Any]) -> Actor:
    return Actor(
        id=u["id"],
        name=u.get("name", u["id"]),
        display_name=u.get("display_name", ""),
        locale=u.get("locale"),
        is_external=bool(u.get("external")),
    )


# The page's own words (its chrome), translated for the selected user: /api/local/strings.
CHROME = {
    "title": N_("Console Copilot — local workspace"),
    "demo": N_("demo workspace"),
    "you_are": N_("You are"),
    "channels": N_("Channels"),
    "placeholder": N_("Message, /command or @copilot question"),
    "send": N_("Send"),
    "thread": N_("Thread"),
    "close_thread": N_("Close thread"),
    "reply_in_thread": N_("Reply in thread"),
    "reply": N_("Reply"),
    "pinned": N_("pinned"),
    "shared": N_("shared"),
    "only_you": N_("only visible to you"),
}


def chrome_strings(locale: str) -> dict[str, Any]:
    """The page's words in `locale`, with the reply count's plural forms by CLDR category."""
    tr = translator(locale)
    plural_form = Locale.parse(tr.locale).plural_form
    strings: dict[str, Any] = {key: tr.t(msgid) for key, msgid in CHROME.items()}
    forms: dict[str, str] = {}
    for n in (1, 2, 5, 0):
        category = plural_form(n)
        forms.setdefault(category, tr.tn("{n} reply", "{n} replies", n).replace(str(n), "{n}", 1))
    strings["replies"] = forms
    return strings


class LocalAdapter:
    """Serves the page and its JSON API; delivers outbox rows into the local tables."""

    platform = Platform.LOCAL

    def __init__(
        self,
        engine: Engine,
        *,
        users: list[dict[str, Any]] | None = None,
        demo_label: str = "",
        default_locale: str = "en",
    ) -> None:
        self.engine = engine
        self.default_locale = default_locale
        self._lock = threading.Lock()
        self._counter: itertools.count[int] | None = None
        self.api = LocalApi(engine, users or DEFAULT_USERS, self._bump)
        self.api.notify = self._notify
        self.sink: EventSink | None = None
        self.form_check: Callable[[Event], dict[str, str]] | None = None
        self.demo_label = demo_label
        self._changed = asyncio.Event()

    # -- state ---------------------------------------------------------------------------
    def _max_version(self) -> int:
        with unit_of_work(self.engine) as s:
            return int(s.exec(select(func.max(LocalMessage.version))).one() or 0)

    def _bump(self) -> int:
        with self._lock:
            if self._counter is None:
                self._counter = itertools.count(self._max_version() + 1)
            return next(self._counter)

    def ensure_channels(self) -> None:
        with unit_of_work(self.engine) as s:
            existing = set(s.exec(select(LocalChannel.name)).all())
            for name, topic, shared in DEFAULT_CHANNELS:
                if name not in existing:
                    s.add(LocalChannel(id=f"C-{name}", name=name, topic=topic, is_shared=shared))

    def add_message(
        self,
        *,
        channel_id: str,
        user: Actor,
        text: str,
        thread_id: str | None = None,
        payload: str | None = None,
        ephemeral_for: str | None = None,
        message_id: str | None = None,
    ) -> LocalMessage:
        msg = LocalMessage(
            id=message_id or "M" + uuid.uuid4().hex[:12],
            channel_id=channel_id,
            thread_id=thread_id,
            user_id=user.id,
            user_name=user.label,
            text=text,
            payload=payload,
            ephemeral_for=ephemeral_for,
            version=self._bump(),
        )
        with unit_of_work(self.engine) as s:
            s.add(msg)
        return msg

    # -- delivery ------------------------------------------------------------------------
    async def deliver(self, op: OutboxOp) -> Delivered:
        return await asyncio.to_thread(self._deliver_sync, op)

    def _deliver_sync(self, op: OutboxOp) -> Delivered:
        payload = op.message.model_dump_json()
        bot = Actor(id=BOT_ID, name=BOT_NAME, display_name="Console Copilot", is_bot=True)
        if op.op == "update":
            with unit_of_work(self.engine) as s:
                n = s.exec(
                    update(LocalMessage)
                    .where(LocalMessage.id == op.target_ts)
                    .values(
                        text=op.message.text,
                        payload=payload,
                        version=self._bump(),
                        updated_at=datetime.now(UTC),
                    )
                ).rowcount
            if not n:
                raise DeliveryError(f"message {op.target_ts} not found", permanent=True)
            self._notify()
            return Delivered(ts=op.target_ts, channel_id=op.channel_id)
        if op.op == "delete":
            with unit_of_work(self.engine) as s:
                s.exec(
                    update(LocalMessage)
                    .where(LocalMessage.id == op.target_ts)
                    .values(text="", payload=None, version=self._bump())
                )
            self._notify()
            return Delivered(ts=op.target_ts, channel_id=op.channel_id)
        channel = self.api.find_channel(op.channel_id)
        if channel is None:
            raise DeliveryError(f"channel_not_found: {op.channel_id}", permanent=True)
        # The message id derives from the outbox key: a redelivery (a sender that died after
        # delivering, before marking the row sent) finds the message instead of posting twice.
        message_id = "M" + hashlib.sha256(op.key.encode()).hexdigest()[:16]
        with unit_of_work(self.engine) as s:
            if s.get(LocalMessage, message_id) is not None:
                return Delivered(ts=message_id, channel_id=channel.id)
        try:
            self.add_message(
                channel_id=channel.id,
                user=bot,
                text=op.message.text,
                thread_id=op.thread_ts,
                payload=payload,
                ephemeral_for=op.user_id if op.op == "ephemeral" else None,
                message_id=message_id,
            )
        except IntegrityError:
            pass  # delivered concurrently by another sender: same message
        self._notify()
        return Delivered(ts=message_id, channel_id=channel.id)

    def _notify(self) -> None:
        loop = getattr(self, "_loop", None)
        if loop is not None:
            loop.call_soon_threadsafe(self._changed.set)

    async def start(self, *, inbound: bool = True) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.ensure_channels)

    async def stop(self) -> None:
        return None

    async def close_outbound(self) -> None:
        """Nothing to close: deliveries are rows in this process's database."""

    # -- HTTP ----------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self.page),
            web.static("/static/local", STATIC),
            web.get("/api/local/bootstrap", self.bootstrap),
            web.get("/api/local/strings", self.strings),
            web.get("/api/local/messages", self.messages),
            web.post("/api/local/send", self.send),
            web.post("/api/local/action", self.action),
            web.post("/api/local/form", self.form),
        ]

    async def page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def bootstrap(self, request: web.Request) -> web.Response:
        def load() -> list[dict[str, Any]]:
            with unit_of_work(self.engine) as s:
                chans = s.exec(select(LocalChannel).order_by(LocalChannel.created_at)).all()
                return [
                    {"id": c.id, "name": c.name, "topic": c.topic, "shared": c.is_shared}
                    for c in chans
                ]

        channels = await asyncio.to_thread(load)
        users = [
            {
                "id": u["id"],
                "name": u["display_name"],
                "external": bool(u.get("external")),
                "locale": u.get("locale") or "",
            }
            for u in self.api.users.values()
        ]
        return web.json_response(
            {"channels": channels, "users": users, "bot": BOT_NAME, "demo": self.demo_label}
        )

    def user_locale(self, user_id: str) -> str:
        """The page's language for a user: their `/copilot lang`, their locale, the default."""
        with unit_of_work(self.engine) as s:
            pref = s.exec(
                select(UserPref.locale).where(
                    UserPref.platform == str(Platform.LOCAL), UserPref.user_id == user_id
                )
            ).first()
        user = self.api.users.get(user_id) or {}
        return (
            normalize_locale(pref)
            or normalize_locale(user.get("locale"))
            or normalize_locale(self.default_locale)
            or "en"
        )

    async def strings(self, request: web.Request) -> web.Response:
        locale = await asyncio.to_thread(self.user_locale, request.query.get("user", ""))
        return web.json_response({"locale": locale, "strings": chrome_strings(locale)})

    async def messages(self, request: web.Request) -> web.Response:
        channel = request.query.get("channel", "")
        user = request.query.get("user", "")
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            raise web.HTTPBadRequest(text="after must be an integer") from None
        wait = request.query.get("wait") == "1"
        rows = await asyncio.to_thread(self._load, channel, user, after)
        if not rows and wait:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await self._changed.wait()
            rows = await asyncio.to_thread(self._load, channel, user, after)
        return web.json_response({"messages": rows})

    def _load(self, channel: str, user: str, after: int) -> list[dict[str, Any]]:
        with unit_of_work(self.engine) as s:
            q = (
                select(LocalMessage)
                .where(LocalMessage.channel_id == channel, LocalMessage.version > after)
                .where(
                    (LocalMessage.ephemeral_for.is_(None)) | (LocalMessage.ephemeral_for == user)
                )
                .order_by(LocalMessage.version)
                .limit(500)
            )
            return [
                {
                    "id": r.id,
                    "thread": r.thread_id,
                    "user": r.user_name,
                    "user_id": r.user_id,
                    "text": r.text,
                    "message": json.loads(r.payload) if r.payload else None,
                    "ephemeral": bool(r.ephemeral_for),
                    "pinned": r.pinned,
                    "version": r.version,
                    "at": r.created_at.isoformat(),
                }
                for r in s.exec(q).all()
            ]

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise web.HTTPBadRequest(text="body must be JSON") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="body must be a JSON object")
        return body

    def _who(self, body: dict[str, Any]) -> Actor:
        user = self.api.users.get(str(body.get("user", "")))
        if user is None:
            raise web.HTTPBadRequest(text="unknown user")
        return _actor(user)

    async def _channel(self, body: dict[str, Any]) -> ChannelRef:
        ch = await asyncio.to_thread(self.api.find_channel, str(body.get("channel", "")))
        if ch is None:
            raise web.HTTPBadRequest(text="unknown channel")
        return ch

    async def send(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        actor = self._who(body)
        channel = await self._channel(body)
        text = str(body.get("text", "")).strip()
        thread = body.get("thread") or None
        if not text:
            raise web.HTTPBadRequest(text="empty message")
        if len(text) > 40000:
            raise web.HTTPBadRequest(text="message too long")
        msg = await asyncio.to_thread(
            self.add_message, channel_id=channel.id, user=actor, text=text, thread_id=thread
        )
        self._notify()
        event = to_event(msg.id, actor, channel, text, thread)
        if self.sink is not None:
            await self.sink(event)
        return web.json_response({"ok": True, "id": msg.id})

    async def action(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        actor = self._who(body)
        channel = await self._channel(body)
        action_id = str(body.get("action_id", ""))
        if not action_id:
            raise web.HTTPBadRequest(text="action_id is required")
        event = Event(
            kind=EventKind.ACTION,
            platform=Platform.LOCAL,
            event_id="A" + uuid.uuid4().hex,
            channel=channel,
            actor=actor,
            thread_id=body.get("thread") or None,
            message_id=str(body.get("message_id") or "") or None,
            action_id=action_id,
            action_value=str(body.get("value", "")),
            trigger_id="A" + uuid.uuid4().hex,  # lets the handler open a form
            received_at=time.time(),
        )
        if self.sink is not None:
            await self.sink(event)
        return web.json_response({"ok": True})

    async def form(self, request: web.Request) -> web.Response:
        """A submitted form: `{user, form_id, state, values, message_id}`. Invalid fields are
        answered with `{"ok": false, "errors": {field: message}}` and nothing is recorded."""
        body = await self._body(request)
        actor = self._who(body)
        state = FormState.decode(str(body.get("state", "")))
        channel = await asyncio.to_thread(self.api.find_channel, state.channel_id)
        values = body.get("values")
        if channel is None or not isinstance(values, dict) or not body.get("form_id"):
            raise web.HTTPBadRequest(text="form_id, state and values are required")
        event = Event(
            kind=EventKind.SUBMISSION,
            platform=Platform.LOCAL,
            event_id="S" + uuid.uuid4().hex,
            channel=channel,
            actor=actor.model_copy(update={"locale": state.locale or actor.locale}),
            thread_id=state.thread_id,
            action_id=str(body["form_id"]),
            action_value=state.value,
            form={str(k): "" if v is None else str(v) for k, v in values.items()},
            received_at=time.time(),
        )
        errors = self.form_check(event) if self.form_check is not None else {}
        if errors:
            return web.json_response({"ok": False, "errors": errors})
        if self.sink is not None:
            await self.sink(event)
        message_id = str(body.get("message_id") or "")
        if message_id:
            await asyncio.to_thread(self._close_form, message_id, actor.id)
        return web.json_response({"ok": True})

    def _close_form(self, message_id: str, user_id: str) -> None:
        with unit_of_work(self.engine) as s:
            s.exec(
                update(LocalMessage)
                .where(LocalMessage.id == message_id, LocalMessage.ephemeral_for == user_id)
                .values(text="", payload=None, version=self._bump())
            )
        self._notify()


def to_event(
    message_id: str, actor: Actor, channel: ChannelRef, text: str, thread: str | None
) -> Event:
    """What a typed line means: a slash command, a mention of the bot, or a plain message."""
    base: dict[str, Any] = {
        "platform": Platform.LOCAL,
        "event_id": message_id,
        "channel": channel,
        "actor": actor,
        "thread_id": thread,
        "message_id": message_id,
        "received_at": time.time(),
    }
    if text.startswith("/"):
        command, _, rest = text[1:].partition(" ")
        return Event(kind=EventKind.COMMAND, command=command.lower(), text=rest.strip(), **base)
    mention = re.compile(rf"(^|\s)@{BOT_NAME}\b", re.I)
    if mention.search(text):
        return Event(kind=EventKind.MENTION, text=mention.sub(" ", text).strip(), **base)
    return Event(kind=EventKind.MESSAGE, text=text, **base)
