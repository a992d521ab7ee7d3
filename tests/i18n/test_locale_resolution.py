"""Which language a reply speaks: user preference > channel setting > platform locale > default.

The platform locale comes from the real clients talking to the fake servers: Slack `users.info`
with `include_locale`, the Mattermost user's `locale`.
"""

from __future__ import annotations

import json

from mattermostdriver import Driver
from slack_sdk import WebClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot import inbox
from bot.config import load_settings
from bot.context import Runtime, Services
from bot.dispatch import Dispatcher
from bot.events import Actor, ChannelRef, Event, EventKind, Platform
from bot.metrics import Metrics
from bot.platforms.base import ChatApi
from bot.platforms.mattermost import MattermostApi
from bot.platforms.slack import SlackApi
from bot.router import Router
from handlers import register_all
from storage.db import unit_of_work
from storage.models.core import ChannelPref, OutboxMessage, UserPref
from tests.fakes.mattermost import FakeMattermost
from tests.fakes.slack_api import FakeSlack


def _dispatcher(engine: Engine, platform: Platform, api: ChatApi) -> Dispatcher:
    router = Router()
    register_all(router)
    settings = load_settings(database_url=str(engine.url), copilot_default_locale="en")
    runtime = Runtime(
        settings=settings, engine=engine, router=router, apis={platform: api}, services=Services()
    )
    return Dispatcher(runtime, Metrics())


def _event(platform: Platform, user: str, channel: str, text: str, n: int = 1) -> Event:
    return Event(
        kind=EventKind.COMMAND,
        platform=platform,
        event_id=f"ev-{user}-{n}",
        channel=ChannelRef(platform=platform, id=channel),
        actor=Actor(id=user),  # no locale on the event: the platform is asked
        command="copilot",
        text=text,
    )


def _replies(engine: Engine) -> list[str]:
    with unit_of_work(engine) as s:
        rows = s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        return [json.loads(r.payload)["text"] for r in rows]


def _set(
    engine: Engine, platform: Platform, *, user: str = "", channel: str = "", lang: str
) -> None:
    with unit_of_work(engine) as s:
        if user:
            s.add(UserPref(platform=str(platform), user_id=user, locale=lang))
        if channel:
            s.add(ChannelPref(platform=str(platform), channel_id=channel, locale=lang))


def test_slack_user_with_ru_locale_gets_russian_without_any_preference(
    engine: Engine, fake_slack_thread: FakeSlack
) -> None:
    slack = fake_slack_thread
    slack.seed_user("U0RU", "olga", locale="ru-RU")
    slack.seed_user("U0EN", "john", locale="en-US")
    api = SlackApi(WebClient(token=slack.bot_token, base_url=slack.base_url))
    d = _dispatcher(engine, Platform.SLACK, api)
    for n, user in enumerate(("U0RU", "U0EN")):
        ev = _event(Platform.SLACK, user, "C0GENERAL", "nope", n)
        assert inbox.record(engine, ev)
        d.handle(ev)
    ru, en = _replies(engine)
    assert "Неизвестная подкоманда" in ru
    assert "Unknown subcommand" in en
    asked = slack.calls("users.info")
    assert asked and all(c.params.get("include_locale") in (True, "true", "1") for c in asked)


def test_user_preference_beats_channel_beats_platform(
    engine: Engine, fake_slack_thread: FakeSlack
) -> None:
    slack = fake_slack_thread
    slack.seed_user("U0RU", "olga", locale="ru-RU")
    api = SlackApi(WebClient(token=slack.bot_token, base_url=slack.base_url))
    d = _dispatcher(engine, Platform.SLACK, api)
    ev = _event(Platform.SLACK, "U0RU", "C0SHARED", "help")
    assert d.resolve_locale(ev) == "ru"  # platform locale
    _set(engine, Platform.SLACK, channel="C0SHARED", lang="en")
    assert d.resolve_locale(ev) == "en"  # the channel's setting beats the platform
    _set(engine, Platform.SLACK, user="U0RU", lang="ru")
    assert d.resolve_locale(ev) == "ru"  # the user's own choice beats the channel


def test_mattermost_user_locale_is_consulted(
    engine: Engine, fake_mattermost_thread: FakeMattermost
) -> None:
    mm = fake_mattermost_thread
    ru = mm.seed_user("olga", locale="ru")
    en = mm.seed_user("john", locale="en")
    driver = Driver(mm.driver_options())
    driver.login()
    api = MattermostApi(driver, f"{mm.scheme}://127.0.0.1:{mm.port}", None)
    d = _dispatcher(engine, Platform.MATTERMOST, api)
    assert d.resolve_locale(_event(Platform.MATTERMOST, ru["id"], "ch1", "help")) == "ru"
    assert d.resolve_locale(_event(Platform.MATTERMOST, en["id"], "ch1", "help")) == "en"
    _set(engine, Platform.MATTERMOST, channel="ch1", lang="en")
    assert d.resolve_locale(_event(Platform.MATTERMOST, ru["id"], "ch1", "help")) == "en"


def test_text_for_a_whole_channel_uses_the_channel_language(engine: Engine) -> None:
    """Summaries are posted for the room: its setting, else the incident's language."""
    from bot.context import Context
    from bot.i18n import translator

    runtime = Runtime(
        settings=load_settings(database_url=str(engine.url)),
        engine=engine,
        router=Router(),
        apis={},
        services=Services(),
    )
    ctx = Context(runtime, _event(Platform.SLACK, "U1", "C0ASK", "x"), translator("en"))
    assert ctx.channel_locale("C0ROOM", default="ru") == "ru"  # no setting: the default
    assert ctx.channel_locale("C0ROOM") == "en"  # no default: the asker's language
    _set(engine, Platform.SLACK, channel="C0ROOM", lang="ru")
    assert ctx.channel_locale("C0ROOM", default="en") == "ru"
