"""Incidents: war rooms, summaries, status posts, postmortems, Alertmanager alerts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.router import Router


def register(router: Router) -> None:
    """Commands, header buttons, alert buttons and the Alertmanager webhook event."""
    from handlers.incidents import alerts, commands

    commands.register(router)
    alerts.register(router)


def attach(app: Any) -> None:
    """HTTP route (`POST /alertmanager/webhook`) and incident metrics on the app."""
    from handlers.incidents import alerts, metrics

    app.add_routes(alerts.routes(app))
    metrics.install(app)
