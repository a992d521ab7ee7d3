"""Questionnaire validation and the compliance rules (localization matrix, score)."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.partners import compliance, questionnaire
from handlers.partners.questionnaire import Invalid


def t(s: str, **kw: Any) -> str:
    return s.format(**kw)


Q = {q.key: q for q in questionnaire.load()}
RULES = compliance.load()


@pytest.mark.parametrize(
    ("key", "raw", "value"),
    [
        ("personal_data", "да", True),
        ("personal_data", "Нет", False),
        ("personal_data", "yes", True),
        ("security_contact", "mailto:Sec@Acme.example", "sec@acme.example"),
        ("dpa_url", "<https://acme.example/dpa>", "https://acme.example/dpa"),
        ("category", "AI ML", "ai-ml"),
        ("storage_regions", "ru-central1, ru-msk;kz-ala", ["ru-central1", "ru-msk", "kz-ala"]),
        ("personal_data_countries", "ru, kz", ["RU", "KZ"]),
        ("sla", "99,9 %", 99.9),
    ],
)
def test_valid_answers(key: str, raw: str, value: Any) -> None:
    assert questionnaire.validate(Q[key], raw, t) == value


@pytest.mark.parametrize(
    ("key", "raw", "reason"),
    [
        ("personal_data", "maybe", "yes or no"),
        ("security_contact", "security at acme", "email"),
        ("dpa_url", "acme.example/dpa", "https://"),
        ("category", "banking", "one of"),
        ("personal_data_countries", "Russia", "Not valid"),
        ("sla", "200", "between 0 and 100"),
        ("company", "   ", "empty"),
    ],
)
def test_invalid_answers_say_why(key: str, raw: str, reason: str) -> None:
    with pytest.raises(Invalid, match=reason):
        questionnaire.validate(Q[key], raw, t)


def status(answers: dict[str, Any], rule: str) -> str:
    items = {i.rule: i for i in compliance.checklist(answers, RULES, t).items}
    return items[rule].status


RU = {"personal_data": True, "personal_data_countries": ["RU"]}


@pytest.mark.parametrize(
    ("answers", "storage", "processing"),
    [
        # no personal data: not applicable
        ({"personal_data": False, "storage_regions": ["eu-west-1"]}, "met", "met"),
        # personal data of other citizens only: not applicable
        (
            {
                "personal_data": True,
                "personal_data_countries": ["KZ"],
                "storage_regions": ["eu-west-1"],
                "processing_regions": ["us-east-1"],
            },
            "met",
            "met",
        ),
        # Russian citizens, all in Russia
        (
            {**RU, "storage_regions": ["ru-central1"], "processing_regions": ["ru-msk"]},
            "met",
            "met",
        ),
        # stored in Russia, processed abroad
        (
            {**RU, "storage_regions": ["ru-central1"], "processing_regions": ["eu-west-1"]},
            "met",
            "missing",
        ),
        # stored abroad too (one of several)
        (
            {
                **RU,
                "storage_regions": ["ru-central1", "us-east-1"],
                "processing_regions": ["ru-central1"],
            },
            "missing",
            "met",
        ),
        # an unknown region needs a human look
        (
            {
                **RU,
                "storage_regions": ["ru-central1", "onprem-1"],
                "processing_regions": ["ru-central1"],
            },
            "review",
            "met",
        ),
        # countries not given
        ({"personal_data": True, "storage_regions": ["ru-central1"]}, "review", "review"),
        # regions not given
        ({**RU}, "missing", "missing"),
        # personal data question not answered
        ({}, "missing", "missing"),
    ],
)
def test_localization_matrix(answers: dict[str, Any], storage: str, processing: str) -> None:
    assert status(answers, "LOC-152FZ-STORAGE") == storage
    assert status(answers, "LOC-152FZ-PROCESSING") == processing


def test_artifacts_and_score() -> None:
    answers: dict[str, Any] = {"security_contact": "s@a.example", "certifications": []}
    check = compliance.checklist(answers, RULES, t)
    by = {i.rule: i.status for i in check.items}
    assert by["ART-SECURITY-CONTACT"] == "met" and by["ART-DPA"] == "missing"
    assert by["ART-CERT-EVIDENCE"] == "met"  # no certifications: not applicable
    answers["certifications"] = ["ISO27001"]
    assert status(answers, "ART-CERT-EVIDENCE") == "missing"
    full = {
        **RU,
        "storage_regions": ["ru-central1"],
        "processing_regions": ["ru-central1"],
        "security_contact": "s@a.example",
        "dpa_url": "https://a",
        "privacy_policy_url": "https://b",
        "data_processing_url": "https://c",
        "docs_url": "https://d",
        "sla": 99.9,
        "support": "business-hours",
        "certifications": [],
    }
    check = compliance.checklist(full, RULES, t)
    assert check.complete and check.coverage == 1.0
    sc = compliance.score(questionnaire.load(), full, check, RULES)
    assert sc.parts["compliance"] == 30 and sc.parts["sla"] == 12 and sc.parts["support"] == 6
    assert sc.parts["documentation"] == 15
    assert 0 <= sc.total <= 100


def test_malformed_questionnaire_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown type"):
        questionnaire.parse({"questions": [{"key": "a", "type": "date"}]})
    with pytest.raises(ValueError, match="twice"):
        questionnaire.parse({"questions": [{"key": "a"}, {"key": "a"}]})
