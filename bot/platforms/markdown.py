"""Conversions of the neutral Markdown dialect to each platform's markup."""

from __future__ import annotations

import re

LINK = re.compile(r"(?<!\\)\[([^\]\n]*?)\]\(([^)\s]+)\)")
BOLD = re.compile(r"\*\*(.+?)\*\*", re.S)
STRIKE = re.compile(r"~~(.+?)~~", re.S)
ESCAPED_BRACKET = re.compile(r"\\([\[\]])")


def to_slack(text: str) -> str:
    """Markdown → Slack mrkdwn: escape &<>, then links, mentions, bold, strike."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def link(m: re.Match[str]) -> str:
        label, url = m.group(1), m.group(2)
        if url.startswith("user:"):
            return f"<@{url[5:]}>"
        if url.startswith("channel:"):
            return f"<#{url[8:]}>"
        label = label.replace("|", "¦")
        return f"<{url}|{label}>" if label else f"<{url}>"

    text = LINK.sub(link, text)
    text = BOLD.sub(r"*\1*", text)
    text = STRIKE.sub(r"~\1~", text)
    return ESCAPED_BRACKET.sub(r"\1", text)


def to_mattermost(text: str, usernames: dict[str, str] | None = None) -> str:
    """Markdown → Mattermost Markdown: only the special user/channel links change."""

    def link(m: re.Match[str]) -> str:
        label, url = m.group(1), m.group(2)
        if url.startswith("user:"):
            uid = url[5:]
            name = (usernames or {}).get(uid) or label.lstrip("@") or uid
            return f"@{name}"
        if url.startswith("channel:"):
            return f"~{label.lstrip('#') or url[8:]}"
        return m.group(0)

    return LINK.sub(link, text)


def to_plain(text: str) -> str:
    """Markdown → plain text (for notifications and fallbacks)."""
    text = LINK.sub(lambda m: m.group(1) or m.group(2), text)
    text = BOLD.sub(r"\1", text)
    text = STRIKE.sub(r"\1", text)
    return ESCAPED_BRACKET.sub(r"\1", text)


def split_text(text: str, limit: int) -> list[str]:
    """Split at line boundaries (or hard, for a single long line) into chunks ≤ limit."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current or not chunks:
        chunks.append(current)
    return chunks


def truncate(text: str, limit: int, note: str = "…") -> str:
    return text if len(text) <= limit else text[: max(0, limit - len(note))] + note
