"""The typed input and output of war-room summaries."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.i18n import N_


class LineKind(StrEnum):
    MESSAGE = "message"
    STATUS = "status"
    ALERT = "alert"
    ACTION = "action"
    DECISION = "decision"


class ChatLine(BaseModel):
    """One message of the incident channel (thread replies included)."""

    model_config = ConfigDict(frozen=True)

    ts: datetime
    id: str
    user: str
    text: str
    thread_id: str | None = None
    permalink: str | None = None
    kind: LineKind = LineKind.MESSAGE


class IncidentMeta(BaseModel):
    """What the summary and the postmortem need to know about the incident itself."""

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    severity: int | None = None
    status: str = "investigating"
    commander: str | None = None
    service: str | None = None
    declared_at: datetime
    resolved_at: datetime | None = None
    channel: str | None = None


class Ref(BaseModel):
    """A message an item rests on."""

    model_config = ConfigDict(frozen=True)

    id: str
    permalink: str | None = None


class SummaryItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    by: str | None = None
    at: datetime | None = None
    refs: list[Ref] = Field(default_factory=list)


class SectionName(StrEnum):
    WHAT_HAPPENED = "what_happened"
    IMPACT = "impact"
    CURRENT_STATE = "current_state"
    ACTIONS = "actions"
    OPEN_QUESTIONS = "open_questions"
    NEXT_STEPS = "next_steps"


SECTION_TITLES: dict[SectionName, str] = {
    SectionName.WHAT_HAPPENED: N_("What happened"),
    SectionName.IMPACT: N_("Impact"),
    SectionName.CURRENT_STATE: N_("Current state"),
    SectionName.ACTIONS: N_("Actions taken"),
    SectionName.OPEN_QUESTIONS: N_("Open questions"),
    SectionName.NEXT_STEPS: N_("Next steps"),
}


class Summary(BaseModel):
    """A war-room summary; serializable (model_dump_json) so the next one can build on it."""

    what_happened: list[SummaryItem] = Field(default_factory=list)
    impact: list[SummaryItem] = Field(default_factory=list)
    current_state: list[SummaryItem] = Field(default_factory=list)
    actions: list[SummaryItem] = Field(default_factory=list)
    open_questions: list[SummaryItem] = Field(default_factory=list)
    next_steps: list[SummaryItem] = Field(default_factory=list)

    mode: Literal["llm", "extractive"]
    note: str | None = None
    language: str = "en"
    model: str | None = None
    message_count: int = 0
    covered_until_id: str | None = None
    covered_until_ts: datetime | None = None
    generated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def sections(self) -> list[tuple[SectionName, list[SummaryItem]]]:
        """The six sections in reading order."""
        return [(name, getattr(self, name.value)) for name in SectionName]

    def ref_ids(self) -> set[str]:
        return {ref.id for _, items in self.sections() for item in items for ref in item.refs}
