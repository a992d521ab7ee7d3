"""Render a Digest as a platform-neutral Message (compact, within Slack's limits)."""

from __future__ import annotations

from collections.abc import Callable

from bot.i18n import N_, formats_for
from bot.messages import Block, Context, Header, Message, Section
from handlers.compliance.feedback import buttons as feedback_buttons
from handlers.digests.model import Change, Digest, Level, Row, SectionResult

T = Callable[..., str]

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_CHANGES = 10
EMOJI = {Level.GREEN: "🟢", Level.AMBER: "🟠", Level.RED: "🔴"}
STATUS_NAMES = {Level.GREEN: N_("green"), Level.AMBER: N_("amber"), Level.RED: N_("red")}


def _pct(v: float | None, t: T) -> str:
    if v is None:
        return "–"
    return formats_for(t).percent(v, 2 if v < 0.1 else 1, fixed=True)


def _secs(v: float | None, t: T) -> str:
    if v is None:
        return "–"
    fmt = formats_for(t)
    if v < 1:
        return t("{n} ms", n=fmt.number(v * 1000, 0))
    return t("{n} s", n=fmt.number(v, 2, fixed=True))


def _age(seconds: float, t: T) -> str:
    if seconds < 3600:
        return t("{n}m", n=int(seconds // 60))
    if seconds < 86400:
        return t("{n}h", n=int(seconds // 3600))
    return t("{n}d", n=int(seconds // 86400))


def _name(row: Row) -> str:
    label = row.label.replace("[", "(").replace("]", ")")
    return f"[{label}]({row.link})" if row.link else f"`{label}`"


def _members(row: Row, t: T, shown: int = 3) -> str:
    names = ", ".join(row.members[:shown])
    rest = len(row.members) - shown
    return names + (t(" +{n} more", n=rest) if rest > 0 else "")


def _row_line(sec: SectionResult, row: Row, t: T) -> str:
    mark = EMOJI[row.level] if row.level is not Level.GREEN else "▫️"
    if row.text:
        return f"{mark} {row.text}"
    name = _name(row)
    if sec.kind == "alerts":
        line = t("{mark} *{name}* ×{n}", mark=mark, name=row.label, n=int(row.value or 0))
        if row.members:
            line += f" — {_members(row, t)}"
        if "age_seconds" in row.extra:
            line += " · " + t("for {age}", age=_age(row.extra["age_seconds"], t))
        return line
    if sec.kind == "error_rate":
        line = f"{mark} {name} {_pct(row.value, t)} {row.trend}".rstrip()
        if row.sparkline:
            line += f" `{row.sparkline}`"
        if row.previous is not None:
            line += " " + t("(was {value})", value=_pct(row.previous, t))
        return line
    if sec.kind == "latency":
        line = t(
            "{mark} {name} p99 {p99} {trend} · p95 {p95}",
            mark=mark,
            name=name,
            p99=_secs(row.value, t),
            trend=row.trend or "",
            p95=_secs(row.extra.get("p95"), t),
        )
        if row.previous is not None:
            line += " " + t("(p99 was {value})", value=_secs(row.previous, t))
        return " ".join(line.split())
    if sec.kind == "slo_burn":
        burns = " / ".join(
            f"{k.removeprefix('burn_')} {formats_for(t).number(v, 1, fixed=True)}×"
            for k, v in row.extra.items()
            if k.startswith("burn_")
        )
        target = formats_for(t).percent(row.extra.get("target", 0), 3)
        return t(
            "{mark} {name} burn {burns} · SLO {target}",
            mark=mark,
            name=name,
            burns=burns,
            target=target,
        )
    if sec.kind == "saturation":
        parts = [
            t("CPU {v}", v=_pct(row.extra["cpu"], t)) if "cpu" in row.extra else "",
            t("memory {v}", v=_pct(row.extra["memory"], t)) if "memory" in row.extra else "",
        ]
        return f"{mark} {name} " + " · ".join(p for p in parts if p)
    return f"{mark} {name} {row.value if row.value is not None else ''}".rstrip()


def _section_summary(sec: SectionResult, t: T) -> str:
    if sec.kind == "alerts":
        return t("{n} firing", n=sec.total)
    if sec.kind in ("error_rate", "latency", "slo_burn", "saturation"):
        return t("{bad} of {total} over threshold", bad=sec.breaching, total=sec.total)
    return t("{n} items", n=sec.total) if sec.total else ""


def render_section(sec: SectionResult, t: T) -> Section:
    """One section block, capped at Slack's 3,000 characters with an "and K more" line."""
    title = f"{EMOJI[sec.level]} *{t(sec.title)}*"
    if not sec.available:
        text = title + "\n" + t("_unavailable: {reason}_", reason=sec.reason or "")
        return Section(text=text[:MAX_SECTION_CHARS])
    summary = _section_summary(sec, t)
    head = f"{title} · {summary}" if summary else title
    if sec.link:
        head += f" · [{t('open')}]({sec.link})"
    if not sec.rows:
        return Section(text=head + "\n" + t("_nothing to report_"))
    lines = [head]
    used = len(head)
    more = sec.more
    for i, row in enumerate(sec.rows):
        line = _row_line(sec, row, t)
        reserve = 40  # room for the "and K more" line
        if used + 1 + len(line) + reserve > MAX_SECTION_CHARS:
            more += len(sec.rows) - i
            break
        lines.append(line)
        used += 1 + len(line)
    if more:
        lines.append(t("_and {n} more_", n=more))
    return Section(text="\n".join(lines))


def _change_line(change: Change, t: T) -> str:
    level = EMOJI.get(change.level, "") if change.level else ""
    title = t(change.section_title) if change.section_title else ""
    if change.kind == "status":
        return t(
            "Status {before} → {after}",
            before=t(STATUS_NAMES[change.previous_level or Level.GREEN]),
            after=t(STATUS_NAMES[change.level or Level.GREEN]),
        )
    if change.kind == "unavailable":
        return t("⚠️ {section} became unavailable", section=title)
    if change.kind == "recovered":
        return t("✅ {section} is available again", section=title)
    if change.kind == "new":
        return t("{mark} new in {section}: `{key}`", mark=level, section=title, key=change.key)
    if change.kind == "worse":
        return t("{mark} worse in {section}: `{key}`", mark=level, section=title, key=change.key)
    if change.kind == "better":
        return t("{mark} better in {section}: `{key}`", mark=level, section=title, key=change.key)
    return t("✅ resolved in {section}: `{key}`", section=title, key=change.key)


def render_changes(digest: Digest, t: T) -> Section | None:
    """The "changes since the previous digest" block (first in the message)."""
    if not digest.has_previous:
        return None
    head = "*" + t("Changes since the previous digest") + "*"
    if not digest.changes:
        return Section(text=head + "\n" + t("_no changes_"))
    lines = [head] + [_change_line(c, t) for c in digest.changes[:MAX_CHANGES]]
    rest = len(digest.changes) - MAX_CHANGES
    if rest > 0:
        lines.append(t("_and {n} more changes_", n=rest))
    return Section(text="\n".join(lines)[:MAX_SECTION_CHARS])


def render_digest(digest: Digest, t: T) -> Message:
    """Header with the status, changes first, one compact block per section, a context line."""
    status = t(STATUS_NAMES[digest.status])
    if digest.service:
        title = t(
            "{emoji} Status digest for {service}: {status}",
            emoji=EMOJI[digest.status],
            service=digest.service,
            status=status,
        )
    else:
        title = t("{emoji} Status digest: {status}", emoji=EMOJI[digest.status], status=status)
    blocks: list[Block] = [Header(text=title[:150])]
    changes = render_changes(digest, t)
    if changes is not None:
        blocks.append(changes)
    for sec in digest.sections:
        blocks.append(render_section(sec, t))
    context = t(
        "Window {window} · {time} UTC · {n} Prometheus queries",
        window=digest.window,
        time=formats_for(t).datetime(digest.generated_at),
        n=digest.query_count,
    )
    if len(blocks) > MAX_BLOCKS - 1:
        dropped = len(blocks) - (MAX_BLOCKS - 2)
        blocks = blocks[: MAX_BLOCKS - 2]
        blocks.append(Context(text=t("{n} more sections not shown", n=dropped)))
    blocks.append(Context(text=context))
    if len(blocks) < MAX_BLOCKS:
        subject = f"digest:{digest.service or '*'}:{digest.generated_at.strftime('%Y%m%dT%H%M')}"
        blocks.append(feedback_buttons(t, subject, "digest"))
    reasons = [s.title for s in digest.sections if s.id in digest.status_sections]
    text = title + (f" ({', '.join(t(r) for r in reasons)})" if reasons else "")
    return Message(text=text, blocks=blocks)
