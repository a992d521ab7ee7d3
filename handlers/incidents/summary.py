"""War-room summaries: Claude when configured, an extractive summary otherwise or on failure.

The user always gets an answer: without a model, when the model is unavailable after retries,
or when its answer is not the JSON asked for, the extractive summary is returned with a note
saying why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.clients.llm import LLM, LLMUnavailable
from bot.config import Settings
from handlers.incidents.extractive import extractive_summary
from handlers.incidents.summary_lines import chat_lines
from handlers.incidents.summary_llm import Budget, new_lines, summarize_llm
from handlers.incidents.summary_prompt import InvalidSummary
from handlers.incidents.summary_render import render_summary
from handlers.incidents.summary_types import ChatLine, IncidentMeta, LineKind, Summary

Translate = Callable[..., str]

__all__ = [
    "Budget",
    "ChatLine",
    "IncidentMeta",
    "LineKind",
    "Summary",
    "budget_from_settings",
    "chat_lines",
    "new_lines",
    "render_summary",
    "summarize",
]


def budget_from_settings(settings: Settings) -> Budget:
    """COPILOT_SUMMARY_TOKEN_BUDGET / COPILOT_SUMMARY_MAX_OUTPUT_TOKENS as a Budget."""
    return Budget(
        input_tokens=settings.copilot_summary_token_budget,
        output_tokens=settings.copilot_summary_max_output_tokens,
    )


def summarize(
    meta: IncidentMeta,
    lines: Sequence[ChatLine],
    *,
    t: Translate,
    llm: LLM | None = None,
    previous: Summary | None = None,
    language: str = "en",
    budget: Budget | None = None,
) -> Summary:
    """Summarize the war room; never raises for model trouble (falls back with a note)."""
    if llm is None:
        return extractive_summary(
            meta, lines, language=language, note=t("No model is configured: extractive summary.")
        )
    if not lines and previous is None:
        return extractive_summary(meta, lines, language=language)
    try:
        return summarize_llm(llm, meta, lines, previous=previous, language=language, budget=budget)
    except LLMUnavailable as exc:
        note = t(
            "The model was unavailable ({reason}): this is an extractive summary.",
            reason=exc.reason,
        )
    except InvalidSummary:
        note = t("The model's answer could not be used: this is an extractive summary.")
    return extractive_summary(meta, lines, language=language, note=note)
