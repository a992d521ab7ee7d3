"""Free text in either language where the bot parses it: yes/no and durations."""

from __future__ import annotations

import pytest

from bot.i18n import parse_yes_no
from runbooks.model import Parameter
from runbooks.params import coerce
from runbooks.steps.base import parse_duration


@pytest.mark.parametrize("word", ["да", "Да", "yes", "Y", "true", "on", "ага", "ok."])
def test_yes(word: str) -> None:
    assert parse_yes_no(word) is True


@pytest.mark.parametrize("word", ["нет", "НЕТ", "no", "n", "false", "off", "не"])
def test_no(word: str) -> None:
    assert parse_yes_no(word) is False


def test_neither() -> None:
    assert parse_yes_no("может быть") is None and parse_yes_no("") is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("5m", 300),
        ("1h30m", 5400),
        ("1h", 3600),
        ("2d", 172800),
        ("250ms", 0.25),
        ("5 мин", 300),
        ("5 минут", 300),
        ("1 ч 30 мин", 5400),
        ("1,5 ч", 5400),
        ("30 сек", 30),
        ("2 дня", 172800),
        ("10 min", 600),
        ("1 hour", 3600),
        ("45", 45),
    ],
)
def test_durations_in_either_language(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "5 лет", "m5", "5 x"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_runbook_parameters_accept_russian_answers() -> None:
    flag = Parameter(name="force", type="bool")
    wait = Parameter(name="wait", type="duration")
    assert coerce(flag, "да") is True and coerce(flag, "нет") is False
    assert coerce(wait, "5 мин") == "5 мин"
    with pytest.raises(ValueError, match="true or false"):
        coerce(flag, "возможно")
