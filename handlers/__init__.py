"""Domain handlers. The one list of modules the app registers (explicit, no import magic)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.router import Router


def register_all(router: Router) -> None:
    from handlers import copilot

    for module in (copilot,):
        module.register(router)
