"""The typed context a handler receives: the event, translations, storage and chat."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from bot import outbox
from bot.events import ChannelRef, Event, EventKind, Platform
from bot.forms import Form, FormState
from bot.i18n import Translator
from bot.messages import Message, mention
from storage.db import unit_of_work

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from bot.config import Settings
    from bot.platforms.base import ChatApi
    from bot.router import Router


@dataclass
class Services:
    """Clients of outside systems; each is None when it is not configured."""

    prometheus: Any = None
    alertmanager: Any = None
    kubernetes: Any = None
    llm: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Runtime:
    """What every context shares: built once by the app factory."""

    settings: Settings
    engine: Engine
    router: Router
    apis: dict[Platform, ChatApi]
    services: Services
    wake_outbox: Callable[[], None] = lambda: None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


def reply_target(event: Event, *, ephemeral: bool) -> dict[str, Any]:
    """Where an answer to `event` goes (outbox fields): its thread, or only its author."""
    if ephemeral:
        return {
            "op": "ephemeral",
            "channel_id": event.channel.id,
            "thread_id": event.thread_id,
            "user_id": event.actor.id,
            "response_url": event.response_url,
        }
    thread = event.thread_id
    if event.kind in (EventKind.MENTION, EventKind.MESSAGE):
        thread = event.thread_id or event.message_id
    return {
        "op": "post",
        "channel_id": event.channel.id,
        "thread_id": thread,
        "response_url": event.response_url if event.kind == EventKind.COMMAND else None,
    }


class Context:
    """Per-event context. Side effects go through it so tests can drive real handlers."""

    def __init__(self, runtime: Runtime, event: Event, translator: Translator) -> None:
        self.runtime = runtime
        self.event = event
        self.i18n = translator
        self.t = translator.t
        self.tn = translator.tn
        self.locale = translator.locale
        self._local = threading.local()
        self.posted: list[str] = []
        self.answers: list[tuple[Message, bool]] = []  # `answer`: stored when the handler ends

    # -- accessors -----------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def services(self) -> Services:
        return self.runtime.services

    @property
    def engine(self) -> Engine:
        return self.runtime.engine

    @property
    def chat(self) -> ChatApi:
        return self.runtime.apis[self.event.platform]

    @property
    def actor(self) -> Any:
        return self.event.actor

    @property
    def channel(self) -> ChannelRef:
        return self.event.channel

    def now(self) -> datetime:
        return self.runtime.clock()

    def mention(self, user_id: str | None = None, name: str = "") -> str:
        if user_id is None:
            return mention(self.event.actor.id, self.event.actor.label)
        return mention(user_id, name)

    # -- storage -------------------------------------------------------------------------
    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work; messages posted inside it are stored in the same transaction."""
        current = getattr(self._local, "session", None)
        if current is not None:  # nested: join the outer unit of work
            yield current
            return
        with unit_of_work(self.engine) as s:
            self._local.session = s
            try:
                yield s
            finally:
                self._local.session = None
        self.runtime.wake_outbox()

    def channel_locale(self, channel_id: str | None = None, default: str | None = None) -> str:
        """The language a channel speaks: its `/copilot lang --channel` setting, else `default`
        (else this event's locale). Text posted for the whole channel (summaries) uses it."""
        from sqlmodel import select

        from storage.models.core import ChannelPref

        with self.session() as s:
            found = s.exec(
                select(ChannelPref.locale).where(
                    ChannelPref.platform == str(self.event.platform),
                    ChannelPref.channel_id == (channel_id or self.event.channel.id),
                )
            ).first()
        return found or default or self.locale

    def audit(self, action: str, subject: str, data: dict[str, Any] | None = None) -> None:
        """Append to the hash-chained audit log (in the current unit of work if any)."""
        from storage import audit

        actor = f"{self.event.platform}:{self.event.actor.id}"
        with self.session() as s:
            audit.append(s, actor=actor, action=action, subject=subject, data=data or {})

    # -- chat ----------------------------------------------------------------------------
    def reply(self, message: Message, *, ephemeral: bool = False) -> str:
        """Answer where the event happened: in its thread, or only to its author."""
        return self._enqueue(message=message, **reply_target(self.event, ephemeral=ephemeral))

    def answer(self, message: Message, *, ephemeral: bool = False) -> None:
        """The handler's answer, stored when it returns, in one transaction with the event's
        inbox verdict (one commit fewer than `reply`). Use `reply` for anything that must reach
        the person before the handler is done (a progress note before slow work)."""
        self.answers.append((message, ephemeral))

    def post(
        self,
        channel_id: str,
        message: Message,
        *,
        thread_id: str | None = None,
        thread_key: str | None = None,
        platform: Platform | None = None,
        key: str | None = None,
    ) -> str:
        """Post to any channel (by id); returns the outbox key (use it to update or thread)."""
        return self._enqueue(
            op="post",
            channel_id=channel_id,
            message=message,
            thread_id=thread_id,
            thread_key=thread_key,
            platform=platform,
            key=key,
        )

    def update(self, key: str, message: Message) -> str:
        """Replace a message this bot posted earlier (by its outbox key)."""
        with self.session() as s:
            row = outbox.find(s, key)
            if row is None:
                raise KeyError(key)
            return self._enqueue(
                op="update",
                channel_id=row.channel_id,
                message=message,
                target_key=key,
                platform=Platform(row.platform),
            )

    def open_form(self, form: Form) -> bool:
        """Open a form for the person behind this event (a modal, a dialog, a form in the page).

        Needs the event's trigger (a click or a command): False when there is none. The call is
        synchronous (platform triggers expire within seconds); a ChatError means it failed.
        """
        ev = self.event
        if not ev.trigger_id:
            return False
        thread = ev.thread_id
        if ev.kind in (EventKind.MENTION, EventKind.MESSAGE):
            thread = ev.thread_id or ev.message_id
        state = FormState(
            channel_id=ev.channel.id, thread_id=thread, locale=self.locale, value=form.value
        )
        self.chat.open_form(ev.trigger_id, form, state, ev.actor.id)
        return True

    def update_clicked(self, message: Message) -> str | None:
        """Replace the message whose button was clicked."""
        ev = self.event
        if not ev.message_id:
            return None
        return self._enqueue(
            op="update", channel_id=ev.channel.id, message=message, target_ts=ev.message_id
        )

    def _enqueue(self, *, platform: Platform | None = None, **kwargs: Any) -> str:
        current = getattr(self._local, "session", None)
        if current is not None:  # in the handler's unit of work: stored with its changes
            key = outbox.enqueue(current, platform=platform or self.event.platform, **kwargs)
        else:  # on its own: one short Core transaction, no ORM session
            with self.engine.begin() as conn:
                key = outbox.enqueue(conn, platform=platform or self.event.platform, **kwargs)
            self.runtime.wake_outbox()
        self.posted.append(key)
        return key
