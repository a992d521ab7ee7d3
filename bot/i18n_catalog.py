"""Catalog maintenance: extract every user-facing string and compare/merge the catalogs.

`python -m bot.i18n_catalog update` refreshes `bot/locale/*/LC_MESSAGES/messages.po` from the
code (new strings added, translations kept, obsolete ones dropped);
`python -m bot.i18n_catalog check` fails when a catalog misses a string or a translation.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from bot.i18n import LOCALE_DIR, LOCALES

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"t": None, "N_": None, "tn": (1, 2)}
METHOD_MAP = [
    ("bot/**.py", "python"),
    ("handlers/**.py", "python"),
    ("runbooks/**.py", "python"),
    ("policies/**.py", "python"),
    ("**/templates/**.j2", "jinja2"),
]
# Languages whose catalog must translate every string (en falls back to the msgid).
MUST_TRANSLATE = ("ru",)


def extract() -> Catalog:
    """Every translatable string the code uses."""
    template = Catalog()
    for _fname, lineno, message, comments, context in extract_from_dir(
        str(ROOT), METHOD_MAP, keywords=KEYWORDS, comment_tags=("i18n:",)
    ):
        template.add(message, None, [(_fname, lineno)], auto_comments=comments, context=context)
    return template


def _po(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"


def load(locale: str) -> Catalog:
    path = _po(locale)
    if not path.exists():
        return Catalog(locale=locale)
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def problems() -> list[str]:
    """Strings used by the code and missing (or untranslated) in a catalog."""
    template = extract()
    out: list[str] = []
    for locale in LOCALES:
        catalog = load(locale)
        for msg in template:
            if not msg.id:
                continue
            have = catalog.get(msg.id)
            if have is None:
                out.append(f"{locale}: missing {msg.id!r}")
            elif locale in MUST_TRANSLATE and (not _translated(have.string) or have.fuzzy):
                out.append(f"{locale}: not translated {msg.id!r}")
    return out


def _translated(value: object) -> bool:
    if isinstance(value, tuple | list):
        return all(bool(v) for v in value)
    return bool(value)


def update() -> None:
    template = extract()
    for locale in LOCALES:
        catalog = load(locale)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        catalog.fuzzy = False
        path = _po(locale)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            write_po(fh, catalog, omit_header=False, no_location=True, sort_output=True, width=100)


def main(argv: list[str]) -> int:
    if argv[:1] == ["update"]:
        update()
        return 0
    found = problems()
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
