"""The conversational copilot: `@copilot <question>` and `/copilot ask|feedback`.

Modules: tools (read-only tools and the one proposal tool, schemas, validation), loop (the
tool-use loop over `bot.clients.llm.LLM`), memory (per-thread history within a token budget),
limits (token-bucket rate limits), rules (the non-LLM mode), chat (the chat handlers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.router import Router


def register(router: Router) -> None:
    """Add `/copilot ask`, `/copilot feedback`, the mention handler and the feedback buttons."""
    from handlers.copilot_ask import chat

    chat.register(router)
