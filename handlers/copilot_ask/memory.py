"""Conversation memory: earlier questions and answers of the same thread, within a token budget."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.clients.llm import estimate_tokens
from storage.models.copilot import CopilotQuestion

DEFAULT_BUDGET = 6000


def question_block(user: str, text: str) -> str:
    """The user's question as the model sees it: marked as a message from a person."""
    return f'<question from="{user[:80]}">\n{text}\n</question>'


def history_messages(
    earlier: Sequence[CopilotQuestion], *, budget: int = DEFAULT_BUDGET
) -> list[dict[str, Any]]:
    """User/assistant turns for the earlier Q&A, newest kept first, oldest dropped over budget."""
    kept: list[list[dict[str, Any]]] = []
    used = 0
    for row in reversed(earlier):
        pair = [
            {"role": "user", "content": question_block(row.user_name or row.user_id, row.question)},
            {"role": "assistant", "content": row.answer or "…"},
        ]
        cost = sum(estimate_tokens(m["content"]) for m in pair)
        if used + cost > budget:
            break
        used += cost
        kept.append(pair)
    return [m for pair in reversed(kept) for m in pair]
