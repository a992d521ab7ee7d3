"""Postmortem drafts: incident metadata + timeline + summary through a replaceable template.

The default template is ``templates/postmortem.md.j2``; ``COPILOT_POSTMORTEM_TEMPLATE`` points
at a team's own file. Templates run in Jinja2's sandbox: a replaced template can format data but
cannot reach Python internals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict

from bot.i18n import formats_for
from handlers.incidents.summary_types import IncidentMeta, Ref, Summary

Translate = Callable[..., str]
DEFAULT_TEMPLATE = Path(__file__).parent / "templates" / "postmortem.md.j2"


class TimelineEntry(BaseModel):
    """One row of the incident timeline (declared, status, action, alert, resolved...)."""

    model_config = ConfigDict(frozen=True)

    ts: datetime
    kind: str
    text: str
    actor: str | None = None
    link: str | None = None


class PostmortemTemplateError(Exception):
    """The configured template is missing or broken; the message says which and why."""


def _hhmm(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%H:%M")


def _refs(refs: Sequence[Ref]) -> str:
    links = [f"[{n}]({r.permalink})" for n, r in enumerate(refs, 1) if r.permalink]
    return (" (" + ", ".join(links[:3]) + ")") if links else ""


def _environment(directory: Path) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(directory)),
        autoescape=False,  # Markdown, not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=StrictUndefined,
    )
    env.filters["hhmm"] = _hhmm
    env.filters["refs"] = _refs
    return env


def _duration(meta: IncidentMeta, t: Translate) -> str | None:
    if meta.resolved_at is None:
        return None
    minutes = int((meta.resolved_at - meta.declared_at).total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return t("{hours} h {minutes} min", hours=hours, minutes=minutes)
    return t("{minutes} min", minutes=minutes)


def render_postmortem(
    meta: IncidentMeta,
    timeline: Sequence[TimelineEntry],
    summary: Summary,
    *,
    t: Translate,
    template_path: str | Path | None = None,
    now: datetime | None = None,
) -> str:
    """The postmortem draft as Markdown; raises PostmortemTemplateError for a bad template."""
    path = Path(template_path) if template_path else DEFAULT_TEMPLATE
    if not path.is_file():
        raise PostmortemTemplateError(f"COPILOT_POSTMORTEM_TEMPLATE: no such file {path}")
    env = _environment(path.parent)
    fmt = formats_for(t)
    env.filters["hhmm"] = fmt.time  # locale formats: 14:05, 29 нояб. 2026 г., 14:05
    env.filters["when"] = fmt.datetime
    try:
        template = env.get_template(path.name)
        return template.render(
            incident=meta,
            summary=summary,
            timeline=sorted(timeline, key=lambda e: e.ts),
            duration=_duration(meta, t),
            generated_at=now or datetime.now(UTC),
            t=t,
        )
    except TemplateError as exc:
        raise PostmortemTemplateError(f"{path.name}: {exc}") from exc
