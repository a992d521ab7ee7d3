"""Without a language model: route common questions (English and Russian) to commands.

`classify(question)` is a pure function returning an Intent; `answer(...)` runs the command the
intent names and returns its message, with a note saying which command answered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NAME = r"([A-Za-z0-9][A-Za-z0-9_.-]{0,62})"
_STOP = {
    "the",
    "a",
    "an",
    "service",
    "сервиса",
    "сервис",
    "is",
    "are",
    "of",
    "for",
    "my",
    "our",
    "last",
    "this",
    "week",
    "month",
    "today",
    "yesterday",
    "неделю",
    "неделе",
    "месяц",
    "cost",
    "costs",
    "cloud",
    "total",
    "на",
    "за",
    "в",
    "по",
}

COST = re.compile(
    r"(?i)\b(cost|costs|spend|spent|spending|bill|billing|how much did)\b"
    r"|сколько\s+(стоил|стоит|потратил)|стоимост|расход|затрат|счёт|счет за"
)
INCIDENTS = re.compile(r"(?i)\b(open\s+incidents?|incidents?|outages?)\b|инцидент")
RUNBOOKS = re.compile(r"(?i)\brunbooks?\b|ранбук|регламент")
STATUS = re.compile(
    r"(?i)\bstatus\s+of\s+(?:service\s+)?"
    + _NAME
    + r"|\bhow\s+is\s+"
    + _NAME
    + r"|\bwhy\s+is\s+"
    + _NAME
    + r"\s+(?:slow|down|failing|erroring|broken)"
    + r"|\bis\s+"
    + _NAME
    + r"\s+(?:slow|down|ok|healthy)"
    + r"|статус\s+(?:сервиса\s+)?"
    + _NAME
    + r"|состояние\s+(?:сервиса\s+)?"
    + _NAME
    + r"|почему\s+(?:тормозит|медленн\w*|падает|лежит)\s+(?:сервис\s+)?"
    + _NAME
    + r"|почему\s+"
    + _NAME
    + r"\s+(?:тормозит|медленн\w*|падает|лежит)"
)
STATUS_ANY = re.compile(r"(?i)\b(status|health|digest)\b|статус|состояни|дайджест")
COST_OF = re.compile(
    r"(?i)(?:cost\s+of|spend\s+(?:on|of)|стоил[аио]?|стоимость|расходы\s+на)\s+" + _NAME
)


@dataclass(frozen=True)
class Intent:
    kind: str  # cost | status | incidents | runbooks | help
    args: dict[str, str] = field(default_factory=dict)


def _period(q: str) -> str:
    low = q.lower()
    if re.search(r"yesterday|вчера", low):
        return "1d"
    if re.search(r"last\s+month|прошл\w+\s+месяц", low):
        return "last-month"
    if re.search(r"this\s+month|этот\s+месяц|этом\s+месяце|с\s+начала\s+месяца", low):
        return "mtd"
    if re.search(r"month|месяц|30\s*d|30\s*дн", low):
        return "30d"
    if m := re.search(r"(\d{1,3})\s*(?:d|days|дн|дней|дня)\b", low):
        return f"{m.group(1)}d"
    return "7d"


def _name(m: re.Match[str] | None) -> str | None:
    if m is None:
        return None
    for g in m.groups():
        if g and g.lower() not in _STOP:
            return g.lower()
    return None


def classify(question: str) -> Intent:
    """What the question asks for (no model involved)."""
    q = question.strip()
    if COST.search(q):
        args = {"period": _period(q)}
        if svc := _name(COST_OF.search(q)):
            args["service"] = svc
        return Intent("cost", args)
    if RUNBOOKS.search(q):
        return Intent("runbooks")
    if INCIDENTS.search(q):
        open_only = bool(re.search(r"(?i)\bopen\b|открыт|активн|текущ", q))
        return Intent("incidents", {"open": "1"} if open_only else {})
    if svc := _name(STATUS.search(q)):
        return Intent("status", {"service": svc})
    if STATUS_ANY.search(q):
        return Intent("status")
    return Intent("help")
