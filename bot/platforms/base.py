"""What every chat platform adapter provides to the core."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from bot.events import Actor, ChannelRef, Event, Platform
from bot.forms import Form, FormState
from bot.messages import Message

if TYPE_CHECKING:
    from aiohttp import web


class DeliveryError(Exception):
    """Delivery failed. `retry_after` (seconds) when the platform said when to retry."""

    def __init__(self, reason: str, *, retry_after: float | None = None, permanent: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.permanent = permanent


class ChatError(Exception):
    """A synchronous chat API call failed (create channel, invite, history...)."""


@dataclass(frozen=True)
class OutboxOp:
    """One resolved outbox row, ready to deliver."""

    key: str
    op: str  # post | update | ephemeral | delete
    channel_id: str
    message: Message
    thread_ts: str | None = None
    target_ts: str | None = None
    user_id: str | None = None
    response_url: str | None = None
    locale: str = "en"


@dataclass(frozen=True)
class Delivered:
    ts: str | None
    channel_id: str | None = None


@dataclass(frozen=True)
class HistoryMessage:
    """A message read back from a channel (for summaries and timelines)."""

    id: str
    ts: datetime
    user_id: str
    user_name: str
    text: str
    thread_id: str | None = None
    permalink: str | None = None
    is_bot: bool = False


class ChatApi(Protocol):
    """Synchronous calls handlers make through `ctx.chat` (they run in worker threads)."""

    def create_channel(self, name: str, *, topic: str = "") -> ChannelRef: ...
    def find_channel(self, name_or_id: str) -> ChannelRef | None: ...
    def invite(self, channel_id: str, user_ids: list[str]) -> None: ...
    def pin(self, channel_id: str, ts: str) -> None: ...
    def history(
        self, channel_id: str, *, since: datetime | None = None, limit: int = 5000
    ) -> list[HistoryMessage]: ...
    def user(self, user_id: str) -> Actor: ...
    def group_members(self, group: str) -> set[str]: ...
    def permalink(self, channel_id: str, ts: str) -> str | None: ...
    def open_form(self, trigger_id: str, form: Form, state: FormState, user_id: str) -> None: ...


@runtime_checkable
class Responder(Protocol):
    """A ChatApi that can answer a command through its response URL from a handler thread
    (Slack): the answer goes out as soon as it is stored, without the outbox worker's turn."""

    def respond(self, url: str, message: Message, *, ephemeral: bool = True) -> None:
        """Post `message` to `url`; raises DeliveryError like the outbox's `deliver`."""
        ...


class PlatformAdapter(Protocol):
    platform: Platform
    api: ChatApi

    async def deliver(self, op: OutboxOp) -> Delivered: ...
    def routes(self) -> list[web.RouteDef]: ...
    async def start(self, *, inbound: bool = True) -> None:
        """Connect; `inbound=False` (a worker process) opens no websocket / Socket Mode."""
        ...

    async def stop(self) -> None: ...
    async def close_outbound(self) -> None:
        """Release what `deliver` opened on the running loop (the outbox's, at its stop)."""
        ...


def _no_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_no_nul(k): _no_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nul(v) for v in value]
    return value


def scrub(event: Event) -> Event:
    """Drop NUL characters (PostgreSQL text and jsonb reject them) from an inbound event."""
    data = event.model_dump()
    clean = _no_nul(data)
    return event if clean == data else type(event).model_validate(clean)


def scrubbed_json(event: Event) -> tuple[Event, str]:
    """The event without NUL characters and its JSON (the inbox payload), serialized once:
    JSON writes a NUL as `\\u0000`, so a payload without that text needs no model walk."""
    payload = event.model_dump_json()
    if "\\u0000" not in payload:
        return event, payload
    clean = scrub(event)
    return clean, clean.model_dump_json()
