"""The Slack app manifest declares every DESIGN.md command, the scopes its events need, one URL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "slack-app-manifest.yaml"

# DESIGN.md "Chat commands (the same on both platforms)".
DESIGN_COMMANDS = {
    "incident": ["declare", "status", "summarize", "resolve", "list", "timeline", "postmortem"],
    "runbook": ["list", "show", "run", "status", "cancel"],
    "cost": ["summary", "top", "forecast", "anomalies", "freshness"],
    "partner": ["intake", "status", "checklist", "scorecard", "publish"],
    "digest": ["now", "subscribe", "unsubscribe", "list"],
    "compliance": ["scan", "evidence"],
    "copilot": ["help", "ask", "feedback"],
}
# Slack's documented scope for each event type the bot subscribes to.
EVENT_SCOPES = {
    "app_mention": "app_mentions:read",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "message.mpim": "mpim:history",
}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def request_urls(manifest: dict[str, Any]) -> list[str]:
    urls = [c["url"] for c in manifest["features"]["slash_commands"]]
    settings = manifest["settings"]
    urls += [
        settings["event_subscriptions"]["request_url"],
        settings["interactivity"]["request_url"],
    ]
    return urls


def test_every_design_command_is_declared_with_its_subcommands(manifest: dict[str, Any]) -> None:
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert set(commands) == {f"/{name}" for name in DESIGN_COMMANDS}
    for name, subs in DESIGN_COMMANDS.items():
        cmd = commands[f"/{name}"]
        hint_words = set(re.findall(r"[a-z]+", cmd["usage_hint"]))
        assert set(subs) | {"help"} <= hint_words, f"/{name} usage_hint misses a subcommand"
        assert cmd["should_escape"] is False, "the router parses raw text; no <@U..> escaping"
        assert 0 < len(cmd["description"]) <= 2000 and len(cmd["usage_hint"]) <= 1000
        assert re.fullmatch(r"/[a-z][a-z0-9_-]{0,31}", cmd["command"])


def test_every_request_url_is_the_bolt_endpoint_over_https(manifest: dict[str, Any]) -> None:
    urls = request_urls(manifest)
    assert len(urls) == len(DESIGN_COMMANDS) + 2
    for url in urls:
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.path == "/slack/events", url
    assert len({urlsplit(u).netloc for u in urls}) == 1, "one public host"


def test_http_mode_with_interactivity(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is False
    assert settings["interactivity"]["is_enabled"] is True
    assert "Socket Mode" in MANIFEST.read_text(encoding="utf-8"), "note on switching to Socket Mode"


def test_scopes_cover_the_subscribed_events(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert len(scopes) == len(set(scopes))
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {"app_mention", "message.channels", "message.groups"} <= set(events)
    for event in events:
        assert EVENT_SCOPES[event] in scopes, f"{event} needs {EVENT_SCOPES[event]}"
    assert {"commands", "chat:write", "channels:manage", "users:read", "usergroups:read"} <= set(
        scopes
    )
    assert not [s for s in scopes if s.startswith("admin") or s.endswith(":write.user")]


def test_display_information_fits_slack_limits(manifest: dict[str, Any]) -> None:
    info = manifest["display_information"]
    assert 0 < len(info["name"]) <= 35
    assert len(info["description"]) <= 140
    assert 174 <= len(info["long_description"]) <= 4000
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", info["background_color"])
    assert manifest["features"]["bot_user"]["display_name"] == "copilot"
    assert manifest["_metadata"]["major_version"] == 2
