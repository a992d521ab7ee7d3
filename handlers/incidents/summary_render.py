"""Render a Summary as a platform-neutral Message within Slack's limits."""

from __future__ import annotations

from collections.abc import Callable

from bot.i18n import formats_for
from bot.messages import Block, Context, Divider, Header, Message, Section, user_text
from handlers.incidents.summary_types import SECTION_TITLES, Ref, Summary, SummaryItem

Translate = Callable[..., str]

MAX_BLOCKS = 50
SECTION_CHARS = 3000
HEADER_CHARS = 150
ITEM_CHARS = 500
LINKS_PER_ITEM = 3


def _links(refs: list[Ref]) -> str:
    out = []
    for n, ref in enumerate(refs[:LINKS_PER_ITEM], start=1):
        if ref.permalink and ref.permalink.startswith(("http://", "https://")):
            out.append(f"[{n}]({ref.permalink})")
        else:
            out.append(f"`{user_text(ref.id, limit=40).replace('`', '')}`")
    return " ".join(out)


def _bullet(item: SummaryItem, t: Translate) -> str:
    line = "• " + user_text(item.text, limit=ITEM_CHARS)
    if item.by:
        line += " — _" + user_text(item.by.lstrip("@"), limit=60) + "_"
    if item.at:
        line += f" ({formats_for(t).time(item.at)} UTC)"
    links = _links(item.refs)
    return line + (" " + links if links else "")


def _section_text(title: str, items: list[SummaryItem], t: Translate) -> str:
    head = f"**{title}**"
    lines = [head]
    used = len(head)
    for shown, item in enumerate(items):
        bullet = _bullet(item, t)
        more = t("_… and {n} more_", n=len(items) - shown)
        if used + 1 + len(bullet) + 1 + len(more) > SECTION_CHARS:
            lines.append(more)
            break
        lines.append(bullet)
        used += 1 + len(bullet)
    return "\n".join(lines)


def render_summary(summary: Summary, t: Translate, *, title: str | None = None) -> Message:
    """Sections with links to the messages they rest on; ≤50 blocks, ≤3000 chars a section."""
    heading = (
        t("Summary: {title}", title=user_text(title, limit=120)) if title else t("Incident summary")
    )
    heading = heading if len(heading) <= HEADER_CHARS else heading[: HEADER_CHARS - 1] + "…"
    if summary.mode == "llm":
        source = t("Written by {model}", model=summary.model or "Claude")
    else:
        source = t("Extractive summary")
    meta = t(
        "{source} · {n} messages · {when} UTC",
        source=source,
        n=summary.message_count,
        when=formats_for(t).datetime(summary.generated_at),
    )
    blocks: list[Block] = [Header(text=heading), Context(text=meta)]
    if summary.note:
        blocks.append(Context(text=":information_source: " + summary.note))
    empty = True
    for name, items in summary.sections():
        if not items:
            continue
        empty = False
        if len(blocks) >= MAX_BLOCKS - 2:
            blocks.append(Context(text=t("Summary truncated to fit the message.")))
            break
        blocks.append(Section(text=_section_text(t(SECTION_TITLES[name]), items, t)))
    if empty:
        blocks.append(Section(text=t("Nothing to summarize yet.")))
    blocks.append(Divider())
    fallback = heading + (" — " + summary.current_state[0].text if summary.current_state else "")
    return Message(text=user_text(fallback, limit=300), blocks=blocks)
