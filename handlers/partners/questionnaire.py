"""The intake questionnaire as data (policies/intake.yaml): typed questions and validation."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

POLICY = Path(__file__).resolve().parents[2] / "policies" / "intake.yaml"
TYPES = ("text", "url", "email", "enum", "yesno", "list", "percent")
YES = {"yes", "y", "true", "да", "д", "ага"}
NO = {"no", "n", "false", "нет", "н"}
_EMAIL = re.compile(r"^[^@\s<>]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d+)?(/\S*)?$")
_SPLIT = re.compile(r"\s*[,;\n]\s*")
Translate = Callable[..., str]


class Invalid(ValueError):
    """An answer that does not fit the question; the message says why (translated)."""


@dataclass(frozen=True)
class Question:
    key: str
    type: str
    prompt: Mapping[str, str]
    options: tuple[str, ...] = ()
    optional: bool = False
    when: Mapping[str, Any] = field(default_factory=dict)
    pattern: str | None = None
    label: Mapping[str, str] = field(default_factory=dict)

    def text(self, locale: str) -> str:
        """The prompt in a locale (English when it has no translation)."""
        return self.prompt.get(locale) or self.prompt.get("en") or self.key

    def short(self, locale: str) -> str:
        """The short label of a form field (at most 24 characters on Mattermost)."""
        return (
            self.label.get(locale)
            or self.label.get("en")
            or self.key.replace("_", " ").capitalize()
        )

    def applies(self, answers: Mapping[str, Any]) -> bool:
        """Is this question asked given the earlier answers (`when`)?"""
        return all(
            bool(answers.get(k)) if v == "nonempty" else answers.get(k) == v
            for k, v in self.when.items()
        )


def parse(raw: Mapping[str, Any]) -> list[Question]:
    """Questions from the YAML mapping (raises ValueError on a malformed questionnaire)."""
    out: list[Question] = []
    seen: set[str] = set()
    for item in raw.get("questions") or []:
        q = Question(
            key=str(item["key"]),
            type=str(item.get("type", "text")),
            prompt=dict(item.get("prompt") or {}),
            options=tuple(str(o) for o in item.get("options") or ()),
            optional=bool(item.get("optional", False)),
            when=dict(item.get("when") or {}),
            pattern=item.get("pattern"),
            label=dict(item.get("label") or {}),
        )
        if q.type not in TYPES:
            raise ValueError(f"question {q.key}: unknown type {q.type}")
        if q.type == "enum" and not q.options:
            raise ValueError(f"question {q.key}: enum without options")
        if any(len(v) > 24 for v in q.label.values()):
            raise ValueError(f"question {q.key}: a label is longer than 24 characters")
        if q.key in seen:
            raise ValueError(f"question {q.key} is defined twice")
        seen.add(q.key)
        out.append(q)
    return out


@lru_cache(maxsize=4)
def load(path: Path = POLICY) -> tuple[Question, ...]:
    """The questionnaire (cached)."""
    return tuple(parse(yaml.safe_load(path.read_text(encoding="utf-8"))))


def by_key(questions: tuple[Question, ...] | list[Question], key: str) -> Question | None:
    return next((q for q in questions if q.key == key), None)


def validate(q: Question, raw: str, t: Translate) -> Any:
    """The typed value of an answer, or Invalid with a specific reason."""
    text = raw.strip()
    if not text:
        raise Invalid(t("The answer is empty."))
    if q.type == "text":
        if len(text) > 500:
            raise Invalid(t("Please keep it under 500 characters."))
        return text
    if q.type == "url":
        text = text.strip("<>")
        if not _URL.match(text):
            raise Invalid(t("That is not a link: send a URL starting with https://"))
        return text
    if q.type == "email":
        text = text.strip("<>")
        if text.lower().startswith("mailto:"):
            text = text[7:]
        if not _EMAIL.match(text):
            raise Invalid(t("That is not an email address (like security@example.com)."))
        return text.lower()
    if q.type == "enum":
        choice = text.lower().replace(" ", "-")
        if choice not in q.options:
            raise Invalid(t("Please answer one of: {options}.", options=", ".join(q.options)))
        return choice
    if q.type == "yesno":
        word = text.lower().rstrip(".!")
        if word in YES:
            return True
        if word in NO:
            return False
        raise Invalid(t("Please answer yes or no (да or нет)."))
    if q.type == "percent":
        try:
            value = float(text.rstrip("%").replace(",", ".").strip())
        except ValueError:
            raise Invalid(t("Please answer with a number like 99.9.")) from None
        if not 0 < value <= 100:
            raise Invalid(t("A percentage is between 0 and 100."))
        return value
    items = [i for i in _SPLIT.split(text) if i]
    if not items:
        raise Invalid(t("The answer is empty."))
    if len(items) > 50:
        raise Invalid(t("That is too many items (at most 50)."))
    if q.pattern:
        bad = [i for i in items if not re.match(q.pattern, i)]
        if bad:
            raise Invalid(t("Not valid here: {items}.", items=", ".join(bad[:5])))
        items = [i.upper() if len(i) == 2 else i for i in items]
    if q.options:
        bad = [i for i in items if i.lower() not in q.options]
        if bad:
            raise Invalid(t("Please answer one of: {options}.", options=", ".join(q.options)))
    return items


def display(value: Any, t: Translate) -> str:
    """An answer value as text for messages."""
    if value is None:
        return t("skipped")
    if value is True:
        return t("yes")
    if value is False:
        return t("no")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
