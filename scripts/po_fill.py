"""Fill Russian translations from a JSON file {msgid: msgstr} (dev tool)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PATH = Path("bot/locale/ru/LC_MESSAGES/messages.po")


def main(source: str) -> None:
    translations = json.loads(Path(source).read_text(encoding="utf-8"))
    with PATH.open("rb") as f:
        cat = read_po(f, locale="ru")
    n = 0
    for m in cat:
        if m.id and m.id in translations:
            m.string = translations[m.id]
            m.flags.discard("fuzzy")
            n += 1
    cat.fuzzy = False
    with PATH.open("wb") as f:
        write_po(f, cat, no_location=True, sort_output=True, width=100)
    print("filled", n)


if __name__ == "__main__":
    main(sys.argv[1])
