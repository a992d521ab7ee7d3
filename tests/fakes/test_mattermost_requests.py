"""Incoming Mattermost request builders, checked against the server's documented wire format."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs

import requests

from tests.fakes import mattermost_requests as mr
from tests.fakes.mattermost import FakeMattermost

CONTRACTS = Path(__file__).parent.parent / "contracts" / "mattermost"


def test_slash_command_has_every_server_field() -> None:
    body, headers = mr.slash_command(
        "cmdtoken", command="/incident", text="declare @bob", user_mentions={"bob": "bobid"}
    )
    assert headers["Authorization"] == "Token cmdtoken"
    form = parse_qs(body.decode())
    documented = (CONTRACTS / "slash_command.request.http.txt").read_text().split("\n\n", 1)[1]
    doc_fields = {line.split("=", 1)[0] for line in documented.split("&\n") if line.strip()}
    assert doc_fields <= set(form)
    assert form["token"] == ["cmdtoken"] and form["text"] == ["declare @bob"]
    assert form["user_mentions"] == ["bob"] and form["user_mentions_ids"] == ["bobid"]


def test_action_has_eleven_fields() -> None:
    body, headers = mr.action({"action": "approve", "sig": "abc"}, selected_option="opt1")
    payload = json.loads(body)
    assert len(payload) == 11
    documented = json.loads((CONTRACTS / "interactive_message.action_request.json").read_text())
    assert set(documented) <= set(payload)
    assert payload["context"] == {"action": "approve", "sig": "abc", "selected_option": "opt1"}
    assert headers["Content-Type"] == "application/json"


def test_dialog_submission_matches_template() -> None:
    body, _ = mr.dialog_submission("intake", {"partner": "Acme"}, state="s1")
    template = json.loads(
        (CONTRACTS / "interactive_dialog.submission_request.template.json").read_text()
    )
    assert set(json.loads(body)) == set(template) - {"file_ids"}


def test_command_response_url_on_fake() -> None:
    fake = FakeMattermost()
    fake.start_in_thread()
    try:
        team = fake.seed_team("ops")
        ch = fake.seed_channel(team["id"], "town-square")
        url = fake.command_response_url(ch["id"], fake.bot["id"])
        requests.post(url, json={"response_type": "in_channel", "text": "done"}, timeout=5)
        requests.post(url, json={"text": "just you"}, timeout=5)
        assert [r["text"] for r in fake.command_responses(url)] == ["done", "just you"]
        assert fake.channel_posts(ch["id"])[-1]["message"] == "done"
        assert fake.ephemerals[-1]["post"]["message"] == "just you"
        fake.assert_no_violations()
    finally:
        fake.stop_thread()
