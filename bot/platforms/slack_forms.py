"""Neutral Form → Slack modal view (pure). One input block per field; block and action ids are
the field names, so `response_action: errors` keys are field names too.

Limits (Block Kit): 100 blocks per modal, title/submit/close 24 characters, labels and hints
2000, placeholders 150, plain_text_input up to 3000 characters, static_select 100 options of
75-character labels and 150-character values.
"""

from __future__ import annotations

from typing import Any

from bot.forms import Choice, FieldType, Form, FormField, FormState
from bot.platforms.markdown import to_slack, truncate

MAX_BLOCKS = 100
TITLE_LIMIT = 24
LABEL_LIMIT = 2000
PLACEHOLDER_LIMIT = 150
INPUT_LIMIT = 3000
OPTIONS_LIMIT = 100


class FormTooLarge(ValueError):
    """The form has more fields than a modal holds: the caller must paginate."""


def _text(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit) or " ", "emoji": True}


def _option(c: Choice) -> dict[str, Any]:
    return {"text": _text(c.label, 75), "value": c.value[:150]}


def _element(f: FormField) -> dict[str, Any]:
    el: dict[str, Any]
    if f.type in (FieldType.SELECT, FieldType.YESNO):
        options = [_option(c) for c in f.choices[:OPTIONS_LIMIT]]
        el = {"type": "static_select", "action_id": f.name, "options": options}
        initial = next((o for o in options if o["value"] == f.initial), None)
        if initial is not None:
            el["initial_option"] = initial
    elif f.type == FieldType.EMAIL:
        el = {"type": "email_text_input", "action_id": f.name}
    elif f.type == FieldType.URL:
        el = {"type": "url_text_input", "action_id": f.name}
    else:
        el = {"type": "plain_text_input", "action_id": f.name}
        if f.type == FieldType.TEXTAREA:
            el["multiline"] = True
        el["max_length"] = min(f.max_length or INPUT_LIMIT, INPUT_LIMIT)
    if f.initial and el["type"] != "static_select":
        el["initial_value"] = f.initial[:INPUT_LIMIT]
    if f.placeholder:
        el["placeholder"] = _text(f.placeholder, PLACEHOLDER_LIMIT)
    return el


def render_view(form: Form, state: FormState) -> dict[str, Any]:
    """The `view` argument of views.open."""
    blocks: list[dict[str, Any]] = []
    if form.intro:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": truncate(to_slack(form.intro), 3000)},
            }
        )
    if len(blocks) + len(form.fields) > MAX_BLOCKS:
        raise FormTooLarge(f"{len(form.fields)} fields do not fit a modal")
    for f in form.fields:
        block: dict[str, Any] = {
            "type": "input",
            "block_id": f.name,
            "label": _text(f.label, LABEL_LIMIT),
            "element": _element(f),
            "optional": not f.required,
        }
        if f.help:
            block["hint"] = _text(f.help, LABEL_LIMIT)
        blocks.append(block)
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": form.form_id,
        "title": _text(form.title, TITLE_LIMIT),
        "blocks": blocks,
        "private_metadata": state.encode()[:3000],
    }
    if form.submit_label:
        view["submit"] = _text(form.submit_label, TITLE_LIMIT)
    elif form.fields:
        view["submit"] = _text("OK", TITLE_LIMIT)
    return view


def error_response(errors: dict[str, str]) -> dict[str, Any]:
    """The synchronous answer to a view_submission with invalid fields (keys: block ids)."""
    return {"response_action": "errors", "errors": {k: v[:150] for k, v in errors.items()}}
