"""Imports point inward: only bot/platforms may import the chat SDKs."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SDKS = ("slack_bolt", "slack_sdk", "mattermostdriver")
INNER = ("handlers", "runbooks", "policies", "storage")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_domain_code_never_imports_a_chat_sdk() -> None:
    offenders = []
    files = [p for pkg in INNER for p in (ROOT / pkg).rglob("*.py")]
    files += [p for p in (ROOT / "bot").rglob("*.py") if "platforms" not in p.parts]
    for path in files:
        if bad := {n for n in _imports(path) if n.split(".")[0] in SDKS}:
            offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert not offenders, offenders
