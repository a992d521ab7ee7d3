"""No user-facing literal text in message blocks: every word goes through the translator."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("handlers", "runbooks")
CONSTRUCTORS = {"Header", "Section", "Context", "Button", "Confirm", "Message", "plain"}
# Keyword arguments that carry text people read (ids, values, styles and urls do not).
TEXT_KEYWORDS = {"text", "label", "title", "confirm", "deny", "fields", "alt"}
# A literal is fine when nothing but punctuation, emoji, digits or Markdown is left once
# `{placeholders}`, `code spans` and URL-ish tokens are removed.
_WORDS = re.compile(r"[A-Za-zА-Яа-яЁё]{2,}")
_STRIP = re.compile(r":[a-z0-9_+-]+:|\{[^{}]*\}|`[^`]*`|\b(?:https?|user|channel):\S*")


def _literal_parts(node: ast.AST) -> Iterator[str]:
    """The literal text an expression contributes (constants, f-string parts, concatenations)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.JoinedStr):
        for part in node.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                yield part.value
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        yield from _literal_parts(node.left)
        yield from _literal_parts(node.right)
    elif isinstance(node, ast.IfExp):
        yield from _literal_parts(node.body)
        yield from _literal_parts(node.orelse)
    elif isinstance(node, ast.List | ast.Tuple):
        for elt in node.elts:
            yield from _literal_parts(elt)
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"join", "format"}
        and isinstance(node.func.value, ast.Constant | ast.JoinedStr)
    ):
        yield from _literal_parts(node.func.value)


def _is_wordy(text: str) -> bool:
    return bool(_WORDS.search(_STRIP.sub("", text)))


def _callee(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def offenders(path: Path) -> list[str]:
    """`file:line: text` for every literal passed as text to a message constructor."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or _callee(node) not in CONSTRUCTORS:
            continue
        args = list(node.args[:1] if _callee(node) in {"Button"} else node.args)
        args += [kw.value for kw in node.keywords if kw.arg in TEXT_KEYWORDS]
        for arg in args:
            for text in _literal_parts(arg):
                if _is_wordy(text):
                    rel = path.relative_to(ROOT)
                    found.append(f"{rel}:{getattr(arg, 'lineno', node.lineno)}: {text!r}")
    return found


def test_message_blocks_carry_no_literal_words() -> None:
    found = [
        line
        for package in SCANNED
        for path in sorted((ROOT / package).rglob("*.py"))
        for line in offenders(path)
    ]
    assert not found, "translate these with t()/N_():\n" + "\n".join(found)


def test_the_scanner_sees_literals_and_spares_punctuation(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "Section(text='Deployed')\n"
        "Header(text=f'Incident {n}')\n"
        "Button(label='Approve', action_id='x:approve')\n"
        "Context(text='• ' + t('Fine'))\n"
        "Section(text=f'*{title}* — `{code}`')\n"
        "Section(fields=[('Status', value)])\n",
        encoding="utf-8",
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        found = offenders(sample)
    finally:
        ROOT = saved
    assert [line.split(":")[1] for line in found] == ["1", "2", "3", "6"]
