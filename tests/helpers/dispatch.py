"""A Dispatcher over a real engine with every handler registered (no platform APIs)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from bot.config import load_settings
from bot.context import Runtime, Services
from bot.dispatch import Dispatcher
from bot.metrics import Metrics
from bot.router import Router
from handlers import register_all


def make_dispatcher(engine: Engine) -> Dispatcher:
    router = Router()
    register_all(router)
    settings = load_settings(database_url=str(engine.url), copilot_default_locale="en")
    runtime = Runtime(settings=settings, engine=engine, router=router, apis={}, services=Services())
    return Dispatcher(runtime, Metrics())
