"""Domain handlers. The one list of modules the app registers (explicit, no import magic)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.router import Router
    from bot.scheduler import Scheduler


def register_all(router: Router) -> None:
    from handlers import copilot
    from handlers.digests import commands as digests
    from handlers.digests import subscriptions as digest_subscriptions

    for module in (copilot, digests, digest_subscriptions):
        module.register(router)


def register_all_jobs(scheduler: Scheduler) -> None:
    """Each domain module with periodic work adds its jobs (`register_jobs(scheduler)`)."""
    from handlers.digests import subscriptions as digest_subscriptions

    for module in (digest_subscriptions,):
        module.register_jobs(scheduler)
