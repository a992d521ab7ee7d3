"""Compliance: guardrail scans of Kubernetes workloads, the evidence vault, usage statistics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.router import Router
    from bot.scheduler import Scheduler


def register(router: Router) -> None:
    """/compliance scan|evidence, /copilot stats, and the Propose fix / feedback buttons."""
    from handlers.compliance import commands

    commands.register(router)


def register_jobs(scheduler: Scheduler) -> None:
    """Hourly guardrail scan (changes only) and the weekly stats post."""
    from handlers.compliance import jobs

    jobs.register_jobs(scheduler)


def attach(app: Any) -> None:
    """Learning-loop figures on /metrics."""
    from handlers.compliance import metrics

    metrics.install(app)
