"""Domain handlers. The one list of modules the app registers (explicit, no import magic)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.router import Router
    from bot.scheduler import Scheduler


def register_all(router: Router) -> None:
    from handlers import billing, compliance, copilot, incidents, partners, runbooks
    from handlers.digests import commands as digests
    from handlers.digests import subscriptions as digest_subscriptions

    for module in (
        copilot,
        incidents,
        runbooks,
        digests,
        digest_subscriptions,
        billing,
        partners,
        compliance,
    ):
        module.register(router)


def register_all_jobs(scheduler: Scheduler) -> None:
    """Each domain module with periodic work adds its jobs (`register_jobs(scheduler)`)."""
    from handlers import billing, compliance, partners, runbooks
    from handlers.digests import subscriptions as digest_subscriptions
    from handlers.incidents import jobs as incident_jobs

    for module in (digest_subscriptions, incident_jobs, runbooks, billing, compliance, partners):
        module.register_jobs(scheduler)


def attach_all(app: Any) -> None:
    """Let modules add HTTP routes and metrics collectors to the app (`attach(app)`)."""
    from handlers import compliance, incidents, partners

    for module in (incidents, partners, compliance):
        module.attach(app)
