"""Channel history (as the platform adapters read it) → ChatLines for the summarizer."""

from __future__ import annotations

import re
from collections.abc import Container, Mapping, Sequence

from bot.platforms.base import HistoryMessage
from handlers.incidents.summary_types import ChatLine, LineKind

_ALERT = re.compile(r"(?i)\[?\b(?:firing|resolved)\b|alertmanager|\balert\b")


def chat_lines(
    history: Sequence[HistoryMessage],
    *,
    kinds: Mapping[str, LineKind] | None = None,
    skip: Container[str] = (),
    skip_empty: bool = True,
) -> list[ChatLine]:
    """Convert read-back messages; `kinds` (message id → kind) comes from the incident timeline.

    Without a timeline entry, a bot's message that looks like an alert is an alert; everything
    else is a plain message that the summarizer classifies itself. `skip` holds ids of messages
    to leave out — the bot's own earlier summaries, which would otherwise be summarized again.
    """
    kinds = kinds or {}
    out: list[ChatLine] = []
    for m in history:
        if (skip_empty and not m.text.strip()) or m.id in skip:
            continue
        kind = kinds.get(m.id)
        if kind is None:
            kind = LineKind.ALERT if m.is_bot and _ALERT.search(m.text) else LineKind.MESSAGE
        out.append(
            ChatLine(
                ts=m.ts,
                id=m.id,
                user=m.user_name or m.user_id,
                text=m.text,
                thread_id=m.thread_id if m.thread_id != m.id else None,
                permalink=m.permalink,
                kind=kind,
            )
        )
    out.sort(key=lambda line: line.ts)
    return out
