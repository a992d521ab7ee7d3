"""Partner intake threads, compliance checklist, quality score, review and Trust Center."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.router import Router
    from bot.scheduler import Scheduler


def register(router: Router) -> None:
    """`/partner` commands, review buttons, the intake-thread message handler and the form."""
    from handlers.partners import commands, form

    commands.register(router)
    form.register(router)


def register_jobs(scheduler: Scheduler) -> None:
    """Sandbox requests settled, expiry reminders, expired sandboxes deleted (every 5 min)."""
    from handlers.partners import sandbox

    sandbox.register_jobs(scheduler)


def attach(app: Any) -> None:
    """Trust Center routes (`/trust/`) and partner metrics on the app."""
    from handlers.partners import metrics, trust

    app.add_routes(trust.routes(app))
    metrics.install(app)
