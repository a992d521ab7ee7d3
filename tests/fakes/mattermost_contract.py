"""Checks Mattermost API v4 calls against the official OpenAPI spec and post rules."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

SPEC_PATH = Path(__file__).parent.parent / "contracts" / "mattermost" / "mattermost-openapi-v4.yaml"
HOST = "http://your-mattermost-url.com"  # the spec's first server
MESSAGE_MAX_RUNES = 16383  # model.PostMessageMaxRunesV2
ACTION_ID = re.compile(r"^[A-Za-z0-9]+$")


@lru_cache(maxsize=1)
def openapi() -> OpenAPI:
    """The parsed spec (spec self-validation skipped: the bundle is large and checked upstream)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec = yaml.load(SPEC_PATH.read_text(), Loader=loader)
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


def _mock_request(
    method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes, ctype: str
) -> MockRequest:
    return MockRequest(
        HOST, method, path, args=query, headers=headers, data=body, content_type=ctype
    )


def _errors(exc: Exception) -> str:
    cause = exc.__cause__
    detail = getattr(cause, "schema_errors", None)
    if detail:
        return f"{exc}: " + "; ".join(getattr(e, "message", str(e)) for e in detail)
    return str(exc) if cause is None else f"{exc}: {cause}"


def check_request(
    method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes, ctype: str
) -> list[str]:
    """Validate a request with openapi-core (multipart bodies: parameters only)."""
    multipart = ctype.startswith("multipart/")
    body = _known_request_deviations(method, path, body)
    if multipart or method.upper() == "GET":
        body, ctype = b"", "application/json"  # openapi-core cannot decode multipart bodies
    try:
        openapi().validate_request(_mock_request(method, path, query, headers, body, ctype))
    except Exception as exc:
        text = _errors(exc)
        if multipart and "body" in text.lower():
            return []
        return [f"request: {text}"]
    return []


def _known_request_deviations(method: str, path: str, body: bytes) -> bytes:
    """PUT /posts/{id}/patch: the spec types `props` as a string; the server's PostPatch
    takes an object (model.StringInterface), which is what clients send."""
    if method.upper() != "PUT" or not path.rstrip("/").endswith("/patch") or "/posts/" not in path:
        return body
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return body
    if isinstance(data, dict) and isinstance(data.get("props"), dict):
        data["props"] = json.dumps(data["props"])
        return json.dumps(data).encode()
    return body


def check_response(
    method: str, path: str, query: dict[str, str], status: int, data: Any
) -> list[str]:
    """Validate a JSON response against the spec's response schema for that status."""
    req = _mock_request(method, path, query, {}, b"", "application/json")
    resp = MockResponse(json.dumps(_known_deviations(data)).encode(), status_code=status)
    try:
        openapi().validate_response(req, resp)
    except Exception as exc:
        return [f"response {status}: {_errors(exc)}"]
    return []


def _known_deviations(data: Any) -> Any:
    """Drop fields where the spec disagrees with the real server.

    User.timezone: the spec says booleans, the server sends a StringMap ("true"/"false").
    """
    if isinstance(data, list):
        return [_known_deviations(d) for d in data]
    if isinstance(data, dict) and "username" in data and "timezone" in data:
        return {k: v for k, v in data.items() if k != "timezone"}
    return data


def check_post(post: dict[str, Any]) -> list[str]:
    """Mattermost's own rules for a post: message length and attachment action shapes."""
    problems = []
    message = post.get("message", "")
    if len(message) > MESSAGE_MAX_RUNES:
        problems.append(f"message has {len(message)} characters (max {MESSAGE_MAX_RUNES})")
    props = post.get("props") or {}
    attachments = props.get("attachments", [])
    if not isinstance(attachments, list):
        return [*problems, "props.attachments must be a list"]
    for i, att in enumerate(attachments):
        for j, action in enumerate(att.get("actions", []) or []):
            where = f"attachment {i} action {j}"
            problems += [f"{where}: {p}" for p in check_action(action)]
    return problems


def check_action(action: dict[str, Any]) -> list[str]:
    """An attachment action needs an alphanumeric id, a name and integration {url, context}."""
    problems = []
    if not ACTION_ID.match(str(action.get("id", ""))):
        problems.append(f"id {action.get('id')!r} must be letters and digits only")
    if not action.get("name"):
        problems.append("name is required")
    if action.get("type", "button") not in ("button", "select"):
        problems.append(f"type {action.get('type')!r}")
    if action.get("style") not in (
        None,
        "",
        "default",
        "primary",
        "danger",
        "good",
        "warning",
        "success",
    ):
        problems.append(f"style {action.get('style')!r}")
    integration = action.get("integration")
    if not isinstance(integration, dict) or not integration.get("url"):
        problems.append("integration.url is required")
    elif not isinstance(integration.get("context"), dict):
        problems.append("integration.context must be an object")
    return problems


DIALOG_ELEMENT_TYPES = {"text", "textarea", "select", "bool", "radio", "date", "datetime", "file"}
TEXT_SUBTYPES = {"", "text", "email", "number", "password", "tel", "url"}


def check_dialog(body: dict[str, Any]) -> list[str]:
    """The documented rules of POST /actions/dialogs/open (interactive-dialogs docs):
    title and display_name <= 24, name <= 300, help_text/placeholder <= 150, a text element's
    default <= 150 (textarea 3000), unique names, select options or a data_source."""
    problems = []
    if not body.get("trigger_id") or not body.get("url"):
        problems.append("trigger_id and url are required")
    dialog = body.get("dialog")
    if not isinstance(dialog, dict):
        return [*problems, "dialog must be an object"]
    if not dialog.get("title") or len(str(dialog.get("title"))) > 24:
        problems.append("title is required and at most 24 characters")
    if not isinstance(dialog.get("state", ""), str):
        problems.append("state must be a string")
    names: set[str] = set()
    for i, el in enumerate(dialog.get("elements") or []):
        where = f"element {i}"
        kind = el.get("type")
        name = str(el.get("name", ""))
        if kind not in DIALOG_ELEMENT_TYPES:
            problems.append(f"{where}: type {kind!r}")
        if not el.get("display_name") or len(str(el["display_name"])) > 24:
            problems.append(f"{where}: display_name is required and at most 24 characters")
        if not name or len(name) > 300:
            problems.append(f"{where}: name is required and at most 300 characters")
        if name in names:
            problems.append(f"{where}: duplicate name {name!r}")
        names.add(name)
        for key in ("help_text", "placeholder"):
            if len(str(el.get(key, ""))) > 150 and not (
                key == "placeholder" and kind == "textarea"
            ):
                problems.append(f"{where}: {key} longer than 150")
        if kind == "text" and el.get("subtype", "") not in TEXT_SUBTYPES:
            problems.append(f"{where}: subtype {el.get('subtype')!r}")
        limit = 3000 if kind in ("textarea", "select") else 150
        if len(str(el.get("default", ""))) > limit:
            problems.append(f"{where}: default longer than {limit}")
        if kind in ("text", "textarea") and int(el.get("max_length") or 0) > (
            3000 if kind == "textarea" else 150
        ):
            problems.append(f"{where}: max_length over the element's limit")
        if kind in ("select", "radio") and not el.get("data_source"):
            options = el.get("options")
            if not isinstance(options, list) or not options:
                problems.append(f"{where}: a static {kind} needs options")
            elif any(
                not isinstance(o, dict) or "text" not in o or "value" not in o for o in options
            ):
                problems.append(f"{where}: options need text and value")
            elif "default" in el and el["default"] not in {o["value"] for o in options}:
                problems.append(f"{where}: default is not one of the options")
    return problems
