"""Inbound, platform-neutral events: what a user did, where, and who they are."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Platform(StrEnum):
    SLACK = "slack"
    MATTERMOST = "mattermost"
    LOCAL = "local"


class EventKind(StrEnum):
    COMMAND = "command"
    MENTION = "mention"
    ACTION = "action"
    MESSAGE = "message"
    SUBMISSION = "submission"
    WEBHOOK = "webhook"  # an authenticated HTTP webhook (Alertmanager...); action_id names it


class Actor(BaseModel):
    """The person (or agent) behind an event."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str = ""
    display_name: str = ""
    locale: str | None = None
    is_external: bool = False
    is_bot: bool = False

    @property
    def label(self) -> str:
        return self.display_name or self.name or self.id


class ChannelRef(BaseModel):
    """A conversation on a platform: team/workspace plus channel id (and its name if known)."""

    model_config = ConfigDict(frozen=True)

    platform: Platform
    id: str
    team: str = ""
    name: str = ""
    is_shared: bool = False


class Event(BaseModel):
    """One normalized inbound event.

    `event_id` is the platform's delivery identity (Slack event_id / trigger_id, Mattermost
    post id / trigger id, local message id); the inbox deduplicates on (platform, event_id).
    """

    model_config = ConfigDict(frozen=True)

    kind: EventKind
    platform: Platform
    event_id: str
    channel: ChannelRef
    actor: Actor
    thread_id: str | None = None
    message_id: str | None = None
    command: str | None = None
    text: str = ""
    action_id: str | None = None
    action_value: str | None = None
    response_url: str | None = None
    trigger_id: str | None = None
    form: dict[str, str] = Field(default_factory=dict)
    received_at: float = 0.0
