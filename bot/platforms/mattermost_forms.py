"""Neutral Form → Mattermost interactive dialog (pure), and its signed state.

Limits (interactive dialogs docs): title and display_name 24 characters, help_text and
placeholder 150, a text element's value 150 (textarea 3000). The state is the FormState plus
an HMAC bound to the form id, the user and the channel, so a submission cannot be forged or
replayed into another channel, form or user.
"""

from __future__ import annotations

from typing import Any

from bot.forms import FieldType, Form, FormField, FormState
from bot.platforms.markdown import to_mattermost, truncate
from bot.platforms.mattermost_render import sign_context, verify_context

TITLE_LIMIT = 24
NAME_LIMIT = 24
HELP_LIMIT = 150
TEXT_LIMIT = 150
TEXTAREA_LIMIT = 3000
MAX_ELEMENTS = 50  # not documented by Mattermost; dialogs past this are unusable anyway
SIG = "|sig="


class FormTooLarge(ValueError):
    """The form has more fields than a dialog should hold: the caller must paginate."""


def _subject(form_id: str, user_id: str) -> str:
    return f"dialog:{form_id}:{user_id}"


def sign_state(secret: str, form_id: str, state: FormState, user_id: str) -> str:
    encoded = state.encode()
    sig = sign_context(secret, _subject(form_id, user_id), encoded, state.channel_id)
    return encoded + SIG + sig


def verify_state(
    secret: str, form_id: str, raw: str, user_id: str, channel_id: str
) -> FormState | None:
    """The FormState of a submission, or None when its signature does not hold."""
    encoded, _, sig = raw.rpartition(SIG)
    if not encoded:
        return None
    context = {"action_id": _subject(form_id, user_id), "value": encoded, "sig": sig}
    if not verify_context(secret, context, channel_id):
        return None
    state = FormState.decode(encoded)
    return state if state.channel_id == channel_id else None


def _element(f: FormField) -> dict[str, Any]:
    el: dict[str, Any] = {
        "display_name": truncate(f.label, NAME_LIMIT),
        "name": f.name,
        "optional": not f.required,
    }
    if f.help:
        el["help_text"] = truncate(f.help, HELP_LIMIT)
    if f.placeholder:
        el["placeholder"] = truncate(f.placeholder, HELP_LIMIT)
    if f.type in (FieldType.SELECT, FieldType.YESNO):
        el["type"] = "select"
        el["options"] = [{"text": c.label, "value": c.value} for c in f.choices]
        if f.initial in {c.value for c in f.choices}:
            el["default"] = f.initial
        return el
    limit = TEXTAREA_LIMIT if f.type == FieldType.TEXTAREA else TEXT_LIMIT
    el["type"] = "textarea" if f.type == FieldType.TEXTAREA else "text"
    if f.type == FieldType.EMAIL:
        el["subtype"] = "email"
    elif f.type == FieldType.URL:
        el["subtype"] = "url"
    el["max_length"] = min(f.max_length or limit, limit)
    if f.initial:
        el["default"] = f.initial[:limit]
    return el


def render_dialog(form: Form, *, url: str, state: str, trigger_id: str) -> dict[str, Any]:
    """The body of POST /api/v4/actions/dialogs/open."""
    if len(form.fields) > MAX_ELEMENTS:
        raise FormTooLarge(f"{len(form.fields)} fields do not fit a dialog")
    dialog: dict[str, Any] = {
        "callback_id": form.form_id,
        "title": truncate(form.title, TITLE_LIMIT),
        "elements": [_element(f) for f in form.fields],
        "notify_on_cancel": False,
        "state": state,
    }
    if form.intro:
        dialog["introduction_text"] = to_mattermost(form.intro)
    if form.submit_label:
        dialog["submit_label"] = form.submit_label
    return {"trigger_id": trigger_id, "url": url, "dialog": dialog}


def error_response(errors: dict[str, str]) -> dict[str, Any]:
    """The synchronous answer to a dialog submission with invalid fields."""
    return {"errors": dict(errors)}
