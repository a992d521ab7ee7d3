"""Runbook data: parameters, steps, the runbook itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
