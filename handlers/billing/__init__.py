"""Billing intelligence: FOCUS ingest, cost mart questions, anomaly radar and forecast."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.router import Router
    from bot.scheduler import Scheduler


def register(router: Router) -> None:
    """/cost commands and the anomaly feedback buttons."""
    from handlers.billing.commands import register as _register

    _register(router)


def register_jobs(scheduler: Scheduler) -> None:
    """Refresh from BILLING_SOURCE, the anomaly scan and the freshness alarm."""
    from handlers.billing.jobs import register_jobs as _register_jobs

    _register_jobs(scheduler)
