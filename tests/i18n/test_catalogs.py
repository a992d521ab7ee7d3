"""Every string the code uses is in every catalog, and translated into Russian."""

from __future__ import annotations

from bot.i18n import Translator
from bot.i18n_catalog import problems


def test_no_string_is_missing_from_a_catalog() -> None:
    missing = problems()
    assert not missing, "run `python -m bot.i18n_catalog update` and translate:\n" + "\n".join(
        missing
    )


def test_formats_follow_the_locale() -> None:
    from datetime import UTC, datetime, timedelta

    ru, en = Translator("ru"), Translator("en")
    assert ru.money(1234.56, "RUB") == "1\xa0234,56\xa0₽"
    assert en.money(1234.56, "RUB") == "₽1,234.56"
    assert ru.date(datetime(2026, 11, 29)).replace("\u202f", " ") == "29 нояб. 2026 г."
    assert en.date(datetime(2026, 11, 29)) == "Nov 29, 2026"
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    assert en.ago(now - timedelta(minutes=5), now) == "5 min. ago"
    assert ru.ago(now - timedelta(minutes=5), now) == "5 мин. назад"
    assert ru.t("Missing arguments.") == "Не хватает аргументов."
