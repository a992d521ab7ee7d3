"""Outbound, platform-neutral messages: a small block vocabulary rendered at the edge.

Text is Markdown (``**bold**``, ``_italic_``, `` `code` ``, ``[label](https://...)``).
Two link schemes are special: ``[@name](user:ID)`` mentions a user and
``[#name](channel:ID)`` links a channel; each renderer turns them into its platform's form.
Text that came from users must pass through :func:`user_text` before it is echoed.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class ButtonStyle(StrEnum):
    DEFAULT = "default"
    PRIMARY = "primary"
    DANGER = "danger"


class Confirm(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    text: str
    confirm: str
    deny: str


class Button(BaseModel):
    """A button carries an opaque action id and value; state lives in the database."""

    model_config = ConfigDict(frozen=True)

    label: str
    action_id: str
    value: str = ""
    style: ButtonStyle = ButtonStyle.DEFAULT
    confirm: Confirm | None = None
    url: str | None = None


class Header(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: Literal["header"] = "header"
    text: str


class Section(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: Literal["section"] = "section"
    text: str = ""
    fields: list[tuple[str, str]] = Field(default_factory=list)


class Context(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: Literal["context"] = "context"
    text: str


class Actions(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: Literal["actions"] = "actions"
    buttons: list[Button]


class Divider(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: Literal["divider"] = "divider"


class Image(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: Literal["image"] = "image"
    url: str
    alt: str


Block = Annotated[
    Header | Section | Context | Actions | Divider | Image, Field(discriminator="type")
]


class Attachment(BaseModel):
    """A file to upload with the message (a chart PNG, an export)."""

    model_config = ConfigDict(frozen=True)
    filename: str
    title: str = ""
    content_b64: str


class Message(BaseModel):
    """A message to post. `text` is the notification/fallback text."""

    model_config = ConfigDict(frozen=True)

    text: str
    blocks: list[Block] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)

    @classmethod
    def plain(cls, text: str) -> Message:
        return cls(text=text, blocks=[Section(text=text)])


_BROADCAST = re.compile(r"(?i)([@!])(channel|here|everyone|all)\b")
_SLACK_SPECIAL = re.compile(r"<([!@#][^>]*)>")


def user_text(text: str, *, limit: int = 3000) -> str:
    """Neutralize user-supplied text before the bot echoes it.

    Broadcast mentions (``@channel``, ``@here``, ``<!channel>``) lose their power, raw Slack
    control sequences are defanged, Markdown link syntax is escaped and the length is capped.
    """
    text = text.replace("\u202e", "").replace("\u202d", "")  # bidi overrides
    text = _SLACK_SPECIAL.sub(lambda m: "‹" + m.group(1) + "›", text)
    text = _BROADCAST.sub(lambda m: m.group(1) + "\u200b" + m.group(2), text)
    text = text.replace("[", "\\[").replace("]", "\\]")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def mention(user_id: str, name: str = "") -> str:
    """Markdown for a user mention; renderers turn it into the platform's form."""
    return f"[@{name or user_id}](user:{user_id})"


def channel_link(channel_id: str, name: str = "") -> str:
    return f"[#{name or channel_id}](channel:{channel_id})"
