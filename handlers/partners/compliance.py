"""Compliance checklist (artifacts + data localization) and the quality score, as pure rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from handlers.partners.questionnaire import Question

POLICY = Path(__file__).resolve().parents[2] / "policies" / "partner_compliance.yaml"
MET, MISSING, REVIEW = "met", "missing", "review"
DOC_QUESTIONS = ("docs_url", "dpa_url", "privacy_policy_url", "data_processing_url")
Translate = Callable[..., str]


@dataclass(frozen=True)
class Rules:
    regions: Mapping[str, str]
    artifacts: tuple[Mapping[str, Any], ...]
    localization: tuple[Mapping[str, Any], ...]
    score: Mapping[str, Any]
    review_groups: Mapping[str, tuple[str, ...]]

    @property
    def reviewers(self) -> tuple[str, ...]:
        """Every approver reference of every review group."""
        return tuple(ref for refs in self.review_groups.values() for ref in refs)


@dataclass(frozen=True)
class Item:
    """One checklist line: the rule id, its status and why."""

    rule: str
    title: Mapping[str, str]
    status: str
    reason: str
    question: str | None = None

    def label(self, locale: str) -> str:
        return self.title.get(locale) or self.title.get("en") or self.rule


@dataclass(frozen=True)
class Checklist:
    items: tuple[Item, ...]

    @property
    def coverage(self) -> float:
        """Share of items met (0..1)."""
        return (
            sum(1 for i in self.items if i.status == MET) / len(self.items) if self.items else 1.0
        )

    @property
    def missing(self) -> list[Item]:
        return [i for i in self.items if i.status == MISSING]

    @property
    def complete(self) -> bool:
        """Nothing missing (items needing review go to the reviewer)."""
        return not self.missing


@dataclass(frozen=True)
class Score:
    total: int
    parts: dict[str, float] = field(default_factory=dict)  # part -> points earned


def parse(raw: Mapping[str, Any]) -> Rules:
    """Rules from the YAML mapping."""
    groups = (raw.get("review") or {}).get("groups") or {}
    return Rules(
        regions={str(k).lower(): str(v).upper() for k, v in (raw.get("regions") or {}).items()},
        artifacts=tuple(raw.get("artifacts") or ()),
        localization=tuple(raw.get("localization") or ()),
        score=dict(raw.get("score") or {}),
        review_groups={str(k): tuple(str(r) for r in v) for k, v in groups.items()},
    )


@lru_cache(maxsize=4)
def load(path: Path = POLICY) -> Rules:
    """The compliance rules (cached)."""
    return parse(yaml.safe_load(path.read_text(encoding="utf-8")))


def _applies(when: Mapping[str, Any], answers: Mapping[str, Any]) -> bool:
    for key, want in when.items():
        value = answers.get(key)
        if want == "nonempty":
            if not value:
                return False
        elif value != want:
            return False
    return True


def localization_item(
    rule: Mapping[str, Any], answers: Mapping[str, Any], rules: Rules, t: Translate
) -> Item:
    """Evaluate one data-localization rule against the answers."""
    rid, title, question = str(rule["id"]), dict(rule.get("title") or {}), str(rule["question"])
    citizens, country = str(rule["citizens"]).upper(), str(rule["country"]).upper()

    def item(status: str, reason: str) -> Item:
        return Item(rid, title, status, reason, question)

    if "personal_data" not in answers:
        return item(MISSING, t("Personal data question not answered yet."))
    if answers["personal_data"] is not True:
        return item(MET, t("Not applicable: no personal data of citizens."))
    countries = [str(c).upper() for c in answers.get("personal_data_countries") or []]
    if not countries:
        return item(REVIEW, t("Personal data is processed but the countries are not given."))
    if citizens not in countries:
        return item(MET, t("Not applicable: no personal data of {c} citizens.", c=citizens))
    regions = [str(r).lower() for r in answers.get(question) or []]
    if not regions:
        return item(MISSING, t("No {kind} regions given.", kind=rule.get("kind", "")))
    outside = [r for r in regions if rules.regions.get(r) not in (None, country)]
    unknown = [r for r in regions if r not in rules.regions]
    if outside:
        return item(
            MISSING,
            t(
                "{regions} outside {country}: not allowed by {law}.",
                regions=", ".join(outside),
                country=country,
                law=rule.get("law", rid),
            ),
        )
    if unknown:
        return item(REVIEW, t("Unknown regions, check their location: {r}.", r=", ".join(unknown)))
    return item(MET, t("All in {country}: {regions}.", country=country, regions=", ".join(regions)))


def checklist(answers: Mapping[str, Any], rules: Rules, t: Translate) -> Checklist:
    """Every artifact and localization rule evaluated (met / missing / review, with reasons)."""
    items: list[Item] = []
    for art in rules.artifacts:
        rid, title, question = str(art["id"]), dict(art.get("title") or {}), str(art["question"])
        if not _applies(art.get("when") or {}, answers):
            items.append(Item(rid, title, MET, t("Not applicable."), question))
        elif answers.get(question):
            items.append(Item(rid, title, MET, t("Provided."), question))
        else:
            items.append(Item(rid, title, MISSING, t("Not provided yet."), question))
    for rule in rules.localization:
        items.append(localization_item(rule, answers, rules, t))
    return Checklist(tuple(items))


def completeness(questions: tuple[Question, ...], answers: Mapping[str, Any]) -> float:
    """Share of applicable questions answered (skipped ones count as unanswered)."""
    asked = [q for q in questions if q.applies(answers)]
    done = [q for q in asked if answers.get(q.key) not in (None, [], "")]
    return len(done) / len(asked) if asked else 1.0


def _sla_fraction(value: Any, points: Mapping[str, Any]) -> float:
    try:
        sla = float(value)
    except (TypeError, ValueError):
        return 0.0
    best = 0.0
    for threshold, fraction in points.items():
        if sla >= float(threshold):
            best = max(best, float(fraction))
    return best


def score(
    questions: tuple[Question, ...], answers: Mapping[str, Any], check: Checklist, rules: Rules
) -> Score:
    """Quality score 0..100 with the points of each part."""
    w = rules.score
    fractions = {
        "completeness": completeness(questions, answers),
        "compliance": check.coverage,
        "sla": _sla_fraction(answers.get("sla"), w.get("sla_points") or {}),
        "support": float((w.get("support_points") or {}).get(answers.get("support"), 0.0)),
        "documentation": sum(1 for k in DOC_QUESTIONS if answers.get(k)) / len(DOC_QUESTIONS),
    }
    parts = {k: round(float(w.get(k, 0)) * f, 1) for k, f in fractions.items()}
    return Score(total=round(sum(parts.values())), parts=parts)
