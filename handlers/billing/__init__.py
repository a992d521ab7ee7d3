"""Billing intelligence: FOCUS ingest, cost mart questions, anomaly radar and forecast."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.router import Router


def register(router: Router) -> None:
    """/cost commands and the anomaly feedback buttons."""
    from handlers.billing.commands import register as _register

    _register(router)
