"""Checks Slack Web API calls against Slack's OpenAPI spec (2020) and basic Block Kit limits."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).parent.parent / "contracts" / "slack" / "slack_web_openapi_v2.json"

# Methods newer than the 2020 spec (slackapi/slack-api-specs stopped in 2020): name -> params.
# Taken from Slack's method docs; keep short and explicit.
EXTRA_METHODS: dict[str, dict[str, bool]] = {
    "files.getUploadURLExternal": {
        "filename": True,
        "length": True,
        "alt_txt": False,
        "snippet_type": False,
    },
    "files.completeUploadExternal": {
        "files": True,
        "channel_id": False,
        "channels": False,
        "initial_comment": False,
        "thread_ts": False,
        "blocks": False,
    },
    "apps.connections.open": {},
}
# Parameters added to methods after 2020 (or sent by slack_sdk though missing from the spec).
EXTRA_PARAMS: dict[str, set[str]] = {
    "chat.postMessage": {"metadata", "unfurl_links", "unfurl_media", "username"},
    "chat.postEphemeral": {"thread_ts"},
    "chat.update": {"metadata", "file_ids", "reply_broadcast"},
    "conversations.history": {"include_all_metadata"},
    "conversations.replies": {"include_all_metadata"},
    "conversations.invite": {"force"},
    "views.open": {"interactivity_pointer"},
}
# Accepted by every method: the token, and team_id (org-wide apps; slack-bolt sends it).
_COMMON = {"token", "team_id"}

LIMITS = {
    "blocks": 50,
    "modal_blocks": 100,
    "section_text": 3000,
    "field_text": 2000,
    "fields": 10,
    "header_text": 150,
    "button_text": 75,
    "action_id": 255,
    "value": 2000,
    "block_id": 255,
    "context_elements": 10,
    "actions_elements": 25,
    "message_text": 40000,
    "modal_title": 24,
    "label": 2000,
    "placeholder": 150,
    "input_max_length": 3000,
    "options": 100,
    "option_text": 75,
    "option_value": 150,
    "private_metadata": 3000,
    "callback_id": 255,
}
# Block Kit elements an input block may hold (the ones this project may send)
INPUT_ELEMENTS = {
    "plain_text_input",
    "email_text_input",
    "url_text_input",
    "number_input",
    "static_select",
    "multi_static_select",
    "radio_buttons",
    "checkboxes",
    "datepicker",
}


@lru_cache(maxsize=1)
def _spec_methods() -> dict[str, dict[str, tuple[bool, str]]]:
    """Method -> {param: (required, type)} from the OpenAPI 2.0 spec."""
    spec = json.loads(SPEC_PATH.read_text())
    methods: dict[str, dict[str, tuple[bool, str]]] = {}
    for path, ops in spec["paths"].items():
        params: dict[str, tuple[bool, str]] = {}
        for op in ops.values():
            for p in op.get("parameters", []):
                if p.get("in") in ("formData", "query"):
                    params[p["name"]] = (bool(p.get("required")), p.get("type", "string"))
        methods[path.lstrip("/")] = params
    for name, extra in EXTRA_METHODS.items():
        methods[name] = {k: (req, "any") for k, req in extra.items()}
    return methods


def check_call(method: str, params: dict[str, Any]) -> list[str]:
    """Return contract problems of one Web API call (empty when fine)."""
    methods = _spec_methods()
    if method not in methods:
        return [f"unknown method {method}"]
    spec = methods[method]
    problems = []
    for name, (required, _) in spec.items():
        if required and name not in params and name not in _COMMON:  # token may be a header
            problems.append(f"missing required parameter {name}")
    allowed = set(spec) | EXTRA_PARAMS.get(method, set()) | _COMMON
    for name, value in params.items():
        if name not in allowed:
            problems.append(f"unknown parameter {name}")
            continue
        kind = spec.get(name, (False, "any"))[1]
        bad = _type_problem(kind, value)
        if bad:
            problems.append(f"parameter {name}: {bad}")
    for key in ("blocks", "attachments", "view"):
        if key in params:
            problems += check_json_param(key, params[key])
    if method == "chat.postMessage" and len(str(params.get("text", ""))) > LIMITS["message_text"]:
        problems.append("text longer than 40000 characters")
    return problems


def _type_problem(kind: str, value: Any) -> str | None:
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int | str):
            return f"expected integer, got {value!r}"
        if isinstance(value, str) and not value.lstrip("-").isdigit():
            return f"expected integer, got {value!r}"
    elif kind == "number":
        try:
            float(value)
        except (TypeError, ValueError):
            return f"expected number, got {value!r}"
    elif kind == "boolean":
        if not isinstance(value, bool) and str(value).lower() not in ("true", "false", "1", "0"):
            return f"expected boolean, got {value!r}"
    elif kind == "string" and value is None:
        return "null value"
    return None


def parse_json_param(value: Any) -> Any:
    """Blocks/attachments/view arrive as JSON strings in form bodies, as objects in JSON ones."""
    if isinstance(value, str):
        return json.loads(value)
    return value


def check_json_param(key: str, raw: Any) -> list[str]:
    """Parse a JSON-valued parameter and check its Block Kit limits."""
    try:
        value = parse_json_param(raw)
    except json.JSONDecodeError as exc:
        return [f"{key} is not valid JSON: {exc}"]
    if key == "blocks":
        return check_blocks(value)
    if key == "view":
        return check_view(value)
    if key == "attachments":
        if not isinstance(value, list):
            return ["attachments must be a JSON array"]
        problems = []
        for att in value:
            if isinstance(att, dict) and "blocks" in att:
                problems += check_blocks(att["blocks"])
        return problems
    return []


def check_view(view: Any) -> list[str]:
    """Check a modal view object."""
    if not isinstance(view, dict):
        return ["view must be a JSON object"]
    problems = []
    if view.get("type") not in ("modal", "home"):
        problems.append(f"view type {view.get('type')!r} is not modal/home")
    title = view.get("title", {})
    if view.get("type") == "modal":
        if not isinstance(title, dict) or title.get("type") != "plain_text":
            problems.append("modal title must be a plain_text object")
        elif len(title.get("text", "")) > LIMITS["modal_title"]:
            problems.append("modal title longer than 24 characters")
        for key in ("submit", "close"):
            if key in view and _text_len(view[key]) > LIMITS["modal_title"]:
                problems.append(f"modal {key} longer than 24 characters")
        has_input = any(
            isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks", [])
        )
        if has_input and "submit" not in view:
            problems.append("a modal with input blocks needs a submit button")
        if len(str(view.get("private_metadata", ""))) > LIMITS["private_metadata"]:
            problems.append("private_metadata longer than 3000")
        if len(str(view.get("callback_id", ""))) > LIMITS["callback_id"]:
            problems.append("callback_id longer than 255")
    problems += check_blocks(view.get("blocks", []), max_blocks=LIMITS["modal_blocks"])
    return problems


def check_blocks(blocks: Any, max_blocks: int = LIMITS["blocks"]) -> list[str]:
    """Check a list of Block Kit blocks against the documented limits."""
    if not isinstance(blocks, list):
        return ["blocks must be a JSON array"]
    problems = []
    if len(blocks) > max_blocks:
        problems.append(f"{len(blocks)} blocks (limit {max_blocks})")
    for i, block in enumerate(blocks):
        if not isinstance(block, dict) or "type" not in block:
            problems.append(f"block {i} has no type")
            continue
        problems += [f"block {i} ({block['type']}): {p}" for p in _check_block(block)]
    return problems


def _text_len(obj: Any) -> int:
    return len(obj.get("text", "")) if isinstance(obj, dict) else 0


def _check_block(block: dict[str, Any]) -> list[str]:
    problems = []
    kind = block["type"]
    if len(block.get("block_id", "")) > LIMITS["block_id"]:
        problems.append("block_id longer than 255")
    if kind == "section":
        if "text" not in block and "fields" not in block:
            problems.append("section needs text or fields")
        if _text_len(block.get("text")) > LIMITS["section_text"]:
            problems.append("section text longer than 3000")
        fields = block.get("fields", [])
        if len(fields) > LIMITS["fields"]:
            problems.append("more than 10 fields")
        if any(_text_len(f) > LIMITS["field_text"] for f in fields):
            problems.append("field text longer than 2000")
        if "accessory" in block:
            problems += _check_element(block["accessory"])
    elif kind == "header":
        text = block.get("text")
        if not isinstance(text, dict) or text.get("type") != "plain_text":
            problems.append("header text must be plain_text")
        elif _text_len(text) > LIMITS["header_text"]:
            problems.append("header text longer than 150")
    elif kind == "actions":
        elements = block.get("elements", [])
        if not elements or len(elements) > LIMITS["actions_elements"]:
            problems.append("actions needs 1..25 elements")
        for el in elements:
            problems += _check_element(el)
    elif kind == "context":
        elements = block.get("elements", [])
        if not elements or len(elements) > LIMITS["context_elements"]:
            problems.append("context needs 1..10 elements")
    elif kind == "input":
        if "label" not in block or "element" not in block:
            problems.append("input needs label and element")
        else:
            if _text_len(block["label"]) > LIMITS["label"]:
                problems.append("input label longer than 2000")
            if "hint" in block and _text_len(block["hint"]) > LIMITS["label"]:
                problems.append("input hint longer than 2000")
            problems += _check_input_element(block["element"])
    elif kind == "image" and ("image_url" not in block and "slack_file" not in block):
        problems.append("image needs image_url")
    return problems


def _check_input_element(el: Any) -> list[str]:
    """An input block's element: known type, limits on placeholder, length and options."""
    if not isinstance(el, dict):
        return ["element is not an object"]
    problems = _check_element(el)
    kind = el.get("type")
    if kind not in INPUT_ELEMENTS:
        problems.append(f"element type {kind!r} is not an input element")
    if "placeholder" in el and _text_len(el["placeholder"]) > LIMITS["placeholder"]:
        problems.append("placeholder longer than 150")
    if kind == "plain_text_input":
        top = int(el.get("max_length") or 0)
        if top > LIMITS["input_max_length"]:
            problems.append("max_length over 3000")
        if top and len(str(el.get("initial_value", ""))) > top:
            problems.append("initial_value longer than max_length")
    if kind in ("static_select", "radio_buttons", "checkboxes"):
        options = el.get("options")
        if not isinstance(options, list) or not 1 <= len(options) <= LIMITS["options"]:
            problems.append("options needs 1..100 items")
        else:
            for o in options:
                if _text_len(o.get("text")) > LIMITS["option_text"]:
                    problems.append("option text longer than 75")
                if len(str(o.get("value", ""))) > LIMITS["option_value"]:
                    problems.append("option value longer than 150")
            if "initial_option" in el and el["initial_option"] not in options:
                problems.append("initial_option is not one of the options")
    return problems


def _check_element(el: Any) -> list[str]:
    if not isinstance(el, dict):
        return ["element is not an object"]
    problems = []
    if len(el.get("action_id", "")) > LIMITS["action_id"]:
        problems.append("action_id longer than 255")
    if el.get("type") == "button":
        text = el.get("text")
        if not isinstance(text, dict) or text.get("type") != "plain_text":
            problems.append("button text must be plain_text")
        elif _text_len(text) > LIMITS["button_text"]:
            problems.append("button text longer than 75")
        if len(el.get("value", "")) > LIMITS["value"]:
            problems.append("button value longer than 2000")
        if el.get("style") not in (None, "primary", "danger"):
            problems.append(f"button style {el.get('style')!r}")
        if "confirm" in el:
            conf = el["confirm"]
            if not isinstance(conf, dict) or not {"title", "text", "confirm", "deny"} <= set(conf):
                problems.append("confirm needs title, text, confirm, deny")
    return problems
