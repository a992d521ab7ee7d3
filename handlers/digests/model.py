"""The digest's typed, JSON-serializable result model."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal, Protocol

from pydantic import BaseModel, Field


class Level(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"

    @property
    def rank(self) -> int:
        return {"green": 0, "amber": 1, "red": 2}[self.value]


def worst(levels: list[Level]) -> Level:
    """The most severe level of `levels` (green when empty)."""
    return max(levels, key=lambda lv: lv.rank, default=Level.GREEN)


class Row(BaseModel):
    """One line of a section: a service, a workload, an alert group or a provider item."""

    key: str
    label: str
    value: float | None = None
    previous: float | None = None
    unit: str = ""  # ratio | seconds | burn | count | text
    level: Level = Level.GREEN
    trend: str = ""  # ↑ ↓ → or "" when there is nothing to compare with
    sparkline: str = ""
    link: str | None = None
    extra: dict[str, float] = Field(default_factory=dict)
    members: list[str] = Field(default_factory=list)
    text: str = ""  # preformatted (already translated) text, used by provider sections


class SectionResult(BaseModel):
    """A section of the digest; `available=False` carries the reason instead of rows."""

    id: str = ""
    title: str = ""
    kind: str = "provider"
    available: bool = True
    reason: str | None = None
    level: Level = Level.GREEN
    rows: list[Row] = Field(default_factory=list)
    total: int = 0  # items the query saw (e.g. services reporting)
    breaching: int = 0  # items at amber or red
    more: int = 0  # rows left out by top N
    link: str | None = None
    # every non-green key with its level (not only the top N): the snapshot to diff against
    problems: dict[str, Level] = Field(default_factory=dict)


ChangeKind = Literal["status", "new", "worse", "better", "resolved", "unavailable", "recovered"]


class Change(BaseModel):
    kind: ChangeKind
    section: str = ""
    section_title: str = ""
    key: str = ""
    level: Level | None = None
    previous_level: Level | None = None


class Digest(BaseModel):
    """The built digest; store `to_json()` and pass it back as `previous` next time."""

    generated_at: datetime
    window: str
    service: str | None = None
    status: Level
    status_sections: list[str] = Field(default_factory=list)  # section ids at `status`
    sections: list[SectionResult] = Field(default_factory=list)
    changes: list[Change] = Field(default_factory=list)
    has_previous: bool = False
    previous_at: datetime | None = None
    query_count: int = 0

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> Digest:
        return cls.model_validate_json(text)

    def section(self, section_id: str) -> SectionResult:
        return next(s for s in self.sections if s.id == section_id)


class SectionProvider(Protocol):
    """Feeds a pluggable section (open incidents, pending approvals, yesterday's cost)."""

    def __call__(self, window: timedelta, now: datetime) -> SectionResult: ...
