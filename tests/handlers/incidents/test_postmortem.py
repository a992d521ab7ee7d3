from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from handlers.incidents.extractive import extractive_summary
from handlers.incidents.postmortem import (
    PostmortemTemplateError,
    TimelineEntry,
    render_postmortem,
)
from tests.fakes.warroom import START, incident, war_room


def t(msgid: str, **kw: object) -> str:
    return msgid.format(**kw)


TIMELINE = [
    TimelineEntry(ts=START + timedelta(minutes=30), kind="status", text="rolled back", actor="bob"),
    TimelineEntry(ts=START, kind="declared", text="Incident declared", actor="alice"),
]


def test_default_template() -> None:
    meta = incident().model_copy(update={"resolved_at": START + timedelta(minutes=95)})
    summary = extractive_summary(meta, war_room(400))
    out = render_postmortem(meta, TIMELINE, summary, t=t, now=START)
    assert out.startswith("# Postmortem: Checkout errors after deploy")
    assert "| Severity | SEV2 |" in out and "| Duration | 1 h 35 min |" in out
    assert out.index("**09:00** alice: Incident declared") < out.index("**09:30** bob: rolled back")
    assert "## Action items" in out and "## Root cause" in out
    assert "https://chat.example.com/archives/C1/" in out  # summary items keep their links
    assert summary.actions[0].text in out


def test_a_team_template_replaces_it(tmp_path: Path) -> None:
    custom = tmp_path / "ours.md.j2"
    custom.write_text("# {{ incident.title }} ({{ timeline | length }} events) {{ t('Impact') }}\n")
    out = render_postmortem(
        incident(), TIMELINE, extractive_summary(incident(), []), t=t, template_path=custom
    )
    assert out == "# Checkout errors after deploy (2 events) Impact\n"


def test_the_sandbox_blocks_python_internals(tmp_path: Path) -> None:
    evil = tmp_path / "evil.md.j2"
    evil.write_text("{{ incident.__class__.__mro__[-1].__subclasses__() }}")
    with pytest.raises(PostmortemTemplateError):
        render_postmortem(
            incident(), [], extractive_summary(incident(), []), t=t, template_path=evil
        )


def test_missing_template_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(PostmortemTemplateError, match="COPILOT_POSTMORTEM_TEMPLATE"):
        render_postmortem(
            incident(), [], extractive_summary(incident(), []), t=t, template_path=tmp_path / "x"
        )
