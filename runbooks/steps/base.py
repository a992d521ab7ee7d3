"""What every step kind shares: its context, its result, the changes it shows, its errors."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.clients.kubernetes import KubeClient

Translate = Callable[..., str]


def default_t(msgid: str, **kwargs: Any) -> str:
    """Identity translation (tests, CLI)."""
    return msgid.format(**kwargs) if kwargs else msgid


class PromQuery(Protocol):
    """The one Prometheus call the runbooks need: an instant query returning (labels, value)."""

    def query(self, promql: str) -> list[tuple[dict[str, str], float]]: ...


class StepFailed(Exception):
    """A step could not do its job; `message` is already user-facing (translated)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Change:
    """One visible change, e.g. deployment shop/cart: replicas 3 → 5."""

    target: str
    field: str
    before: str
    after: str

    def render(self) -> str:
        return f"{self.target}: {self.field} {self.before} → {self.after}"


@dataclass
class StepResult:
    ok: bool
    summary: str
    changes: list[Change] = field(default_factory=list)
    output: dict[str, Any] = field(default_factory=dict)
    message: str | None = None  # text for the chat (notify)


@dataclass
class StepContext:
    """What a step may use. `dry_run` makes Kubernetes steps stop after the server-side dry run."""

    kube: KubeClient | None = None
    prometheus: PromQuery | None = None
    t: Translate = default_t
    dry_run: bool = False
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    http_timeout: float = 10.0

    def require_kube(self) -> KubeClient:
        if self.kube is None:
            raise StepFailed(self.t("No Kubernetes cluster is configured (KUBECONFIG)."))
        return self.kube


StepFn = Callable[[StepContext, Mapping[str, Any]], StepResult]


@dataclass(frozen=True)
class StepKind:
    name: str
    run: StepFn
    required: tuple[str, ...]
    mutates: bool  # changes infrastructure (runs a dry run first)


def as_int(value: Any, name: str, t: Translate) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StepFailed(
            t("{name} must be an integer, got {value!r}", name=name, value=value)
        ) from None


def parse_duration(value: Any) -> float:
    """'90s', '5m', '1h30m', '2d' or a number of seconds -> seconds."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().lower()
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    total, num = 0.0, ""
    i = 0
    if not text:
        raise ValueError("empty duration")
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            num += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        if unit not in units or not num:
            raise ValueError(f"bad duration {value!r}")
        total += float(num) * units[unit]
        num = ""
        i += len(unit)
    if num:
        total += float(num)
    return total
