"""Claude writes the summary within a token budget: incremental, map-reduce when it must.

* Incremental: a new summary is the previous one plus the messages after it
  (``covered_until_id``), never the whole channel again.
* Map-reduce: when the new messages do not fit the budget, they are packed into chunks that do,
  each chunk is summarized (map), and the partial summaries are merged with the previous one
  (reduce), hierarchically if even the partials do not fit.

Budgets are counted with :func:`bot.clients.llm.estimate_tokens` (UTF-8 bytes / 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.clients.llm import LLM, estimate_tokens
from handlers.incidents.summary_prompt import (
    TASK_MAP,
    TASK_REDUCE,
    TASK_SINGLE,
    format_line,
    parse_summary,
    summary_json,
    system_prompt,
    user_prompt,
)
from handlers.incidents.summary_types import ChatLine, IncidentMeta, Summary, SummaryItem

PROMPT_SLACK = 200  # tokens kept free for the message envelope and estimation error


@dataclass(frozen=True)
class Budget:
    """Input tokens per request, and the answer's max_tokens."""

    input_tokens: int = 12_000
    output_tokens: int = 2_000


def new_lines(lines: Sequence[ChatLine], previous: Summary | None) -> list[ChatLine]:
    """The lines after what `previous` covered (all of them without a previous summary)."""
    ordered = sorted(lines, key=lambda line: line.ts)
    if previous is None or previous.covered_until_id is None:
        return ordered
    ids = [line.id for line in ordered]
    if previous.covered_until_id in ids:
        return ordered[ids.index(previous.covered_until_id) + 1 :]
    until = previous.covered_until_ts
    return [line for line in ordered if until is None or line.ts > until]


def _pack(rendered: Sequence[str], room: int) -> list[list[str]]:
    """Greedy packing of lines into chunks of at most `room` tokens (at least one line each)."""
    chunks: list[list[str]] = []
    current: list[str] = []
    used = 0
    for line in rendered:
        cost = estimate_tokens(line) + 1
        if current and used + cost > room:
            chunks.append(current)
            current, used = [], 0
        current.append(line)
        used += cost
    if current:
        chunks.append(current)
    return chunks


class _Run:
    """One summarization: the calls it made and the tokens they used."""

    def __init__(self, llm: LLM, meta: IncidentMeta, language: str, budget: Budget) -> None:
        self.llm = llm
        self.meta = meta
        self.budget = budget
        self.system = system_prompt(language)
        self.calls = 0
        self.input_tokens = 0
        self.output_tokens = 0

    def overhead(self, previous: str | None = None) -> int:
        base = user_prompt(self.meta, previous=previous, task=TASK_SINGLE)
        return estimate_tokens(self.system) + estimate_tokens(base) + PROMPT_SLACK

    def ask(
        self, permalinks: dict[str, str | None], **prompt: object
    ) -> dict[str, list[SummaryItem]]:
        user = user_prompt(self.meta, **prompt)  # type: ignore[arg-type]
        answer = self.llm.complete(
            self.system, [{"role": "user", "content": user}], self.budget.output_tokens
        )
        self.calls += 1
        self.input_tokens += answer.input_tokens
        self.output_tokens += answer.output_tokens
        return parse_summary(answer.text, permalinks)


def _as_json(sections: dict[str, list[SummaryItem]]) -> str:
    return summary_json(Summary(mode="llm").model_copy(update=sections))


def summarize_llm(
    llm: LLM,
    meta: IncidentMeta,
    lines: Sequence[ChatLine],
    *,
    previous: Summary | None = None,
    language: str = "en",
    budget: Budget | None = None,
) -> Summary:
    """Summarize with the model; raises LLMUnavailable or InvalidSummary for the caller."""
    budget = budget or Budget()
    run = _Run(llm, meta, language, budget)
    # An extractive fallback is no base for the model: start over from the whole channel.
    usable_previous = previous if previous is not None and previous.mode == "llm" else None
    fresh = new_lines(lines, usable_previous)
    if usable_previous is not None and not fresh:
        return usable_previous
    permalinks: dict[str, str | None] = {line.id: line.permalink for line in lines}
    if usable_previous is not None:
        for _, items in usable_previous.sections():
            for item in items:
                for ref in item.refs:
                    permalinks.setdefault(ref.id, ref.permalink)
    prev_json = summary_json(usable_previous) if usable_previous is not None else None
    rendered = [format_line(line) for line in fresh]
    cost = sum(estimate_tokens(r) + 1 for r in rendered)

    if run.overhead(prev_json) + cost <= budget.input_tokens:
        sections = run.ask(permalinks, lines=rendered, previous=prev_json, task=TASK_SINGLE)
    else:
        room = max(budget.input_tokens - run.overhead(), 200)
        chunks = _pack(rendered, room)
        partials = [
            _as_json(
                run.ask(
                    permalinks,
                    lines=chunk,
                    task=TASK_MAP.format(part=i + 1, parts=len(chunks)),
                )
            )
            for i, chunk in enumerate(chunks)
        ]
        sections = _reduce(run, permalinks, partials, prev_json)

    sections = _dated(sections, {line.id: line.ts for line in lines})
    last = fresh[-1] if fresh else None
    summary = Summary(
        mode="llm",
        language=language,
        model=llm.model,
        message_count=len(fresh) + (usable_previous.message_count if usable_previous else 0),
        covered_until_id=last.id if last else None,
        covered_until_ts=last.ts if last else None,
        generated_at=datetime.now(UTC),
        calls=run.calls,
        input_tokens=run.input_tokens,
        output_tokens=run.output_tokens,
    )
    return summary.model_copy(update=sections)


def _dated(
    sections: dict[str, list[SummaryItem]], times: dict[str, datetime]
) -> dict[str, list[SummaryItem]]:
    """Give each item the time of the earliest message it rests on (when still in the room)."""
    out: dict[str, list[SummaryItem]] = {}
    for name, items in sections.items():
        out[name] = [
            item.model_copy(
                update={"at": min((times[r.id] for r in item.refs if r.id in times), default=None)}
            )
            if item.at is None
            else item
            for item in items
        ]
    return out


def _reduce(
    run: _Run,
    permalinks: dict[str, str | None],
    partials: list[str],
    prev_json: str | None,
) -> dict[str, list[SummaryItem]]:
    """Merge partial summaries, in groups that fit the budget, until one remains."""
    room = run.budget.input_tokens - run.overhead(prev_json)
    while True:
        total = sum(estimate_tokens(p) + 10 for p in partials)
        if total <= room or len(partials) == 1:
            return run.ask(permalinks, partials=partials, previous=prev_json, task=TASK_REDUCE)
        group_room = max(run.budget.input_tokens - run.overhead(), 200)
        groups = _pack(partials, group_room)
        if len(groups) == len(partials):  # each partial alone fills the room: pair them up
            groups = [partials[i : i + 2] for i in range(0, len(partials), 2)]
        partials = [
            _as_json(run.ask(permalinks, partials=group, task=TASK_REDUCE)) for group in groups
        ]
