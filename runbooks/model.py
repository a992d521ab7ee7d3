"""Runbook data: parameters, steps, the runbook itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.i18n import N_


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str = "string"
    description: str = ""
    required: bool = False
    default: Any = None
    enum: tuple[Any, ...] | None = None
    pattern: str | None = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class StepSpec:
    kind: str
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    when: str | None = None
    line: int = 0


@dataclass(frozen=True)
class Runbook:
    name: str
    title: str
    description: str
    risk: str
    parameters: tuple[Parameter, ...] = ()
    scope: dict[str, str] = field(default_factory=dict)
    pre_checks: tuple[StepSpec, ...] = ()
    steps: tuple[StepSpec, ...] = ()
    verification: tuple[StepSpec, ...] = ()
    tags: tuple[str, ...] = ()
    path: Path | None = None

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    def all_steps(self) -> list[tuple[str, StepSpec]]:
        """(phase, step) in execution order: pre_checks, steps, verification."""
        return (
            [("pre_check", s) for s in self.pre_checks]
            + [("step", s) for s in self.steps]
            + [("verification", s) for s in self.verification]
        )


RUN_STATE = {
    "pending_approval": N_("waiting for approval"),
    "approved": N_("approved"),
    "running": N_("running"),
    "succeeded": N_("succeeded"),
    "failed": N_("failed"),
    "cancelled": N_("cancelled"),
    "expired": N_("expired"),
    "interrupted": N_("interrupted — needs a decision"),
    "rejected": N_("rejected"),
}


def state_label(state: str, t: Any) -> str:
    """The translated name of a run state."""
    return str(t(RUN_STATE[state])) if state in RUN_STATE else state
