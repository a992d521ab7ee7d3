"""Translation and locale formatting: gettext catalogs (Babel .po files) for `en` and `ru`.

Every user-facing string goes through a `Translator`: `t("Incident {id} declared", id=7)`.
Strings defined at import time are marked with `N_()` and translated where they are shown.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from gettext import GNUTranslations, NullTranslations
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_skeleton, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent

from storage.db import as_utc

LOCALES = ("en", "ru")
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


_NARROW_SYMBOLS = {"RUB": "₽", "KZT": "₸", "UAH": "₴", "TRY": "₺", "INR": "₹", "BYN": "Br"}


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


@lru_cache(maxsize=8)
def _catalog(locale: str) -> NullTranslations:
    po = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return GNUTranslations(buf)


def normalize_locale(value: str | None) -> str | None:
    """Map platform locales (`ru-RU`, `en_US`, `ru`) to a supported one, or None."""
    if not value:
        return None
    lang = value.replace("-", "_").split("_", 1)[0].lower()
    return lang if lang in LOCALES else None


class Translator:
    """Translations and Babel formatting for one locale."""

    def __init__(self, locale: str = "en") -> None:
        self.locale = normalize_locale(locale) or "en"
        self._tr = _catalog(self.locale)
        self._babel = Locale.parse(self.locale)

    def t(self, message: str, /, **kwargs: object) -> str:
        text = self._tr.gettext(message)
        return text.format(**kwargs) if kwargs else text

    __call__ = t

    def tn(self, singular: str, plural: str, n: int, /, **kwargs: object) -> str:
        text = self._tr.ngettext(singular, plural, n)
        return text.format(n=n, **kwargs)

    # -- formatting ----------------------------------------------------------------------
    def money(self, amount: float | Decimal, currency: str = "USD") -> str:
        """`1 234,56 ₽` in ru, `₽1,234.56` in en (CLDR's en symbol for RUB is the bare code)."""
        text = format_currency(amount, currency, locale=self._babel)
        narrow = _NARROW_SYMBOLS.get(currency)
        if narrow and currency in text:
            text = text.replace(currency, narrow)
        return text

    def number(self, value: float | Decimal, digits: int = 2, *, fixed: bool = False) -> str:
        """`1 234,5` in ru, `1,234.5` in en; `fixed` keeps trailing zeros (`1.50`)."""
        fmt = "#,##0" + ("." + ("0" if fixed else "#") * digits if digits else "")
        return format_decimal(value, format=fmt, locale=self._babel)

    def percent(self, value: float, digits: int = 1, *, fixed: bool = False) -> str:
        """`12,5 %` in ru, `12.5%` in en (value is a fraction: 0.125); `fixed` keeps zeros."""
        base = self._babel.percent_formats[None].pattern  # "#,##0%" en, "#,##0 %" ru
        fmt = base.replace(
            "#,##0", "#,##0" + ("." + ("0" if fixed else "#") * digits if digits else ""), 1
        )
        return format_percent(value, format=fmt, locale=self._babel)

    def date(self, value: date | datetime) -> str:
        return format_date(value, format="medium", locale=self._babel)

    def datetime(self, value: datetime, tz: str = "UTC") -> str:
        """`Nov 29, 2026, 14:05` / `29 нояб. 2026 г., 14:05` (24-hour clock, in `tz`)."""
        local = as_utc(value).astimezone(_tz(tz))
        pattern = str(self._babel.datetime_formats["medium"])
        return pattern.replace("{1}", self.date(local)).replace("{0}", self.time(local, tz))

    def time(self, value: datetime, tz: str = "UTC") -> str:
        """`14:05` in `tz` (24-hour clock in both languages: on-call timelines)."""
        return format_skeleton("Hm", as_utc(value), tzinfo=_tz(tz), locale=self._babel)

    def ago(self, value: datetime, now: datetime | None = None) -> str:
        """Relative time: "5 min ago" / "5 мин назад"."""
        now = now or datetime.now(UTC)
        delta = value - now
        return format_timedelta(
            delta, add_direction=True, format="short", threshold=1.1, locale=self._babel
        )

    def duration(self, seconds: float) -> str:
        return format_timedelta(
            timedelta(seconds=seconds), format="short", threshold=1.1, locale=self._babel
        )


def _tz(name: str) -> object:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


@lru_cache(maxsize=8)
def translator(locale: str) -> Translator:
    return Translator(locale)


def formats_for(t: object) -> Translator:
    """The Translator behind a `t` callable (`ctx.t`, `tr.t`), for locale formatting.

    Renderers that only receive `t` use it for numbers and dates; a plain function (tests)
    falls back to English formats.
    """
    owner = getattr(t, "__self__", t)
    return owner if isinstance(owner, Translator) else translator("en")


# -- free text in either language ---------------------------------------------------------
YES = frozenset({"yes", "y", "true", "on", "1", "да", "д", "ага", "конечно", "вкл", "ок", "ok"})
NO = frozenset({"no", "n", "false", "off", "0", "нет", "н", "не", "выкл"})


def parse_yes_no(text: object) -> bool | None:
    """`да`/`yes`/`true` -> True, `нет`/`no`/`false` -> False, anything else -> None."""
    word = str(text).strip().lower().rstrip(".!")
    if word in YES:
        return True
    if word in NO:
        return False
    return None
