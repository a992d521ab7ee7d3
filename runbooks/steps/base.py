"""What every step kind shares: its context, its result, the changes it shows, its errors."""

from __future__ import annotations

import re
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


_DURATION_UNITS = {
    "ms": 0.001, "мс": 0.001,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "с": 1, "сек": 1, "секунд": 1,
    "секунды": 1, "секунда": 1, "секунду": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60, "м": 60, "мин": 60,
    "минут": 60, "минуты": 60, "минута": 60, "минуту": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600, "ч": 3600, "час": 3600,
    "часа": 3600, "часов": 3600,
    "d": 86400, "day": 86400, "days": 86400, "д": 86400, "дн": 86400, "день": 86400,
    "дня": 86400, "дней": 86400,
}  # fmt: skip
_DURATION_PART = re.compile(r"(\d+(?:[.,]\d+)?)\s*([a-zа-яё]*)\.?\s*")


def parse_duration(value: Any) -> float:
    """'90s', '5m', '1h30m', '2d', '5 мин', '1 ч 30 мин' or a number of seconds -> seconds."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().lower()
    if not text:
        raise ValueError("empty duration")
    total, pos = 0.0, 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        number, unit = match.groups()
        if unit and unit not in _DURATION_UNITS:
            raise ValueError(f"bad duration {value!r}")
        total += float(number.replace(",", ".")) * _DURATION_UNITS.get(unit, 1)
        pos = match.end()
    if pos != len(text):
        raise ValueError(f"bad duration {value!r}")
    return total
