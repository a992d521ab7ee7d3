"""Platform-neutral forms: a Slack modal, a Mattermost interactive dialog or a form in the
local workspace page, rendered at the edge like messages.

A handler opens a form with `ctx.open_form(form)` (it needs the trigger of the click or
command). What the user submits comes back as a SUBMISSION event (`Event.form` holds
{field name: text}) routed by the form id to the handler registered with `router.form(...)`.
The form's check runs first, synchronously, while the platform waits for the HTTP answer:
invalid fields go back to the user as field errors and no event is recorded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

Translate = Callable[..., str]
# a form check: (submitted values, the form's value, the translator of the form's language)
# → field errors by field name (empty: accept)
FormCheck = Callable[[Mapping[str, str], str, Translate], dict[str, str]]

_EMAIL = re.compile(r"^[^@\s<>]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d+)?(/\S*)?$")
YES, NO = "yes", "no"


class FieldType(StrEnum):
    TEXT = "text"
    TEXTAREA = "textarea"
    SELECT = "select"
    YESNO = "yesno"
    EMAIL = "email"
    URL = "url"


class Choice(BaseModel):
    model_config = ConfigDict(frozen=True)
    value: str
    label: str


class FormField(BaseModel):
    """One input. `label` is short (Mattermost shows at most 24 characters); `help` is the
    full question. YESNO fields submit `yes` or `no`."""

    model_config = ConfigDict(frozen=True)

    name: str
    label: str
    type: FieldType = FieldType.TEXT
    required: bool = True
    help: str = ""
    placeholder: str = ""
    choices: list[Choice] = Field(default_factory=list)
    initial: str = ""
    max_length: int | None = None


class Form(BaseModel):
    """A form to open. `form_id` routes the submission; `value` comes back with it."""

    model_config = ConfigDict(frozen=True)

    form_id: str
    title: str
    fields: list[FormField]
    value: str = ""
    intro: str = ""
    submit_label: str = ""


@dataclass(frozen=True)
class FormState:
    """What a platform echoes back with a submission: where the form was opened, its language
    and the form's value. Mattermost signs it; Slack's private_metadata is not shown to users."""

    channel_id: str
    thread_id: str | None = None
    locale: str = "en"
    value: str = ""

    def encode(self) -> str:
        return json.dumps(
            [self.channel_id, self.thread_id or "", self.locale, self.value],
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @classmethod
    def decode(cls, raw: str) -> FormState:
        """Parse a state; anything malformed decodes to an empty state (never raises)."""
        try:
            data = json.loads(raw)
        except (TypeError, ValueError):
            data = None
        if (
            not isinstance(data, list)
            or len(data) != 4
            or not all(isinstance(x, str) for x in data)
        ):
            return cls(channel_id="")
        channel, thread, locale, value = data
        return cls(channel_id=channel, thread_id=thread or None, locale=locale, value=value)


def check_fields(
    fields: list[FormField], values: Mapping[str, str], t: Translate
) -> dict[str, str]:
    """Errors by field name for the generic rules: required, email, url, choices, length."""
    errors: dict[str, str] = {}
    for f in fields:
        raw = str(values.get(f.name) or "").strip()
        if not raw:
            if f.required:
                errors[f.name] = t("This field is required.")
            continue
        if f.max_length and len(raw) > f.max_length:
            errors[f.name] = t("At most {n} characters.", n=f.max_length)
        elif f.type == FieldType.EMAIL and not _EMAIL.match(raw):
            errors[f.name] = t("That is not an email address (like security@example.com).")
        elif f.type == FieldType.URL and not _URL.match(raw):
            errors[f.name] = t("That is not a link: send a URL starting with https://")
        elif f.type == FieldType.YESNO and raw not in (YES, NO):
            errors[f.name] = t("Please answer yes or no.")
        elif f.type == FieldType.SELECT and raw not in {c.value for c in f.choices}:
            errors[f.name] = t("Please choose one of the options.")
    return errors


def yes_no(t: Translate) -> list[Choice]:
    return [Choice(value=YES, label=t("yes")), Choice(value=NO, label=t("no"))]
