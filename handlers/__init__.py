"""Domain handlers. The one list of modules the app registers (explicit, no import magic)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.router import Router


def register_all(router: Router) -> None:
    from handlers import copilot, incidents
    from handlers.digests import commands as digests

    for module in (copilot, digests, incidents):
        module.register(router)


def attach_all(app: Any) -> None:
    """Let modules add HTTP routes and metrics collectors to the app (`attach(app)`)."""
    from handlers import incidents

    for module in (incidents,):
        module.attach(app)
