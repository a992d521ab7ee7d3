"""The values the runbook service hands out: requesters, plans, run views, outcomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from policies.engine import Decision


@dataclass(frozen=True)
class Requester:
    user_id: str
    platform: str
    name: str = ""
    channel: str = ""
    thread_key: str | None = None


@dataclass(frozen=True)
class PlannedStep:
    idx: int
    phase: str
    name: str
    kind: str
    args: dict[str, Any]
    summary: str = ""
    changes: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Plan:
    steps: tuple[PlannedStep, ...]

    @property
    def errors(self) -> list[str]:
        return [f"{s.name}: {s.error}" for s in self.steps if s.error]

    @property
    def changes(self) -> list[str]:
        return [c for s in self.steps for c in s.changes]


@dataclass(frozen=True)
class StepView:
    idx: int
    phase: str
    name: str
    kind: str
    state: str  # pending | running | succeeded | failed | skipped | interrupted
    attempt: int = 0
    output: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class RunView:
    """A read-only picture of a run for messages and status commands."""

    id: int
    runbook: str
    title: str
    risk: str
    state: str
    params: dict[str, Any]
    requester: str
    requester_name: str
    platform: str
    channel: str
    level: str
    policy: dict[str, Any]
    plan: list[str]
    steps: tuple[StepView, ...]
    approvals: tuple[tuple[str, str, str], ...]  # (user id, name, decision)
    reason: str | None
    message_key: str | None
    created_at: datetime
    expires_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    messages: tuple[str, ...] = ()
    demo: bool = False


@dataclass(frozen=True)
class Outcome:
    """The answer of a service call: `status` (machine) and `message` (user-facing)."""

    status: str
    message: str
    run: RunView | None = None
    plan: Plan | None = None
    decision: Decision | None = None
    errors: tuple[str, ...] = ()
