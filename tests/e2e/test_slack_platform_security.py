"""Signed-request checks on /slack/events: forged, expired, replayed, missing, malformed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from tests.fakes import slack_requests
from tests.fakes.slack_api import TEAM_ID, FakeSlack
from tests.platforms.slack_app import (
    ALICE,
    GENERAL,
    fake_slack,
    inbox_count,
    running,
    slack_settings,
)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


def _command(**kw: object) -> tuple[bytes, dict[str, str]]:
    fields = {
        "command": "/incident",
        "text": "declare forged",
        "user_id": ALICE,
        "channel_id": GENERAL,
        "team_id": TEAM_ID,
        "enterprise_id": "",
        "trigger_id": f"{time.monotonic_ns()}.forged",
        "response_url": "",
    }
    return slack_requests.slash_command(**kw, **fields)  # type: ignore[arg-type]


def _bad_requests() -> list[tuple[str, bytes, dict[str, str]]]:
    now = int(time.time())
    forged = _command(secret="not-the-secret")
    expired = _command(timestamp=now - 6 * 60)
    future = _command(timestamp=now + 6 * 60)
    body, headers = _command()
    missing = {k: v for k, v in headers.items() if k != "X-Slack-Signature"}
    no_ts = {k: v for k, v in headers.items() if k != "X-Slack-Request-Timestamp"}
    tampered = body.replace(b"forged", b"hacked")
    garbage_ts = {**headers, "X-Slack-Request-Timestamp": "yesterday"}
    return [
        ("forged", *forged),
        ("expired", *expired),
        ("future", *future),
        ("missing signature", body, missing),
        ("missing timestamp", body, no_ts),
        ("tampered body", tampered, headers),
        ("garbage timestamp", body, garbage_ts),
    ]


async def test_unsigned_requests_are_refused_and_change_nothing(
    slack: FakeSlack, db_url: str
) -> None:
    async with running(slack_settings(slack, db_url), slack) as bot:
        slack.reset_calls()
        for name, body, headers in _bad_requests():
            resp = await bot.post(body, headers)
            text = await resp.text()
            assert resp.status == 401, (name, resp.status, text)
            assert "Traceback" not in text
        await bot.app.idle()
        assert inbox_count(bot.app) == 0
        assert slack.requests == [] and slack.response_posts() == []


async def test_replayed_command_is_handled_once(slack: FakeSlack, db_url: str) -> None:
    async with running(slack_settings(slack, db_url), slack) as bot:
        body, headers = _command()
        for _ in range(3):
            resp = await bot.post(body, headers)
            assert resp.status == 200
        await bot.app.idle()
        assert inbox_count(bot.app) == 1
        assert len(slack.calls("conversations.create")) == 1


async def test_event_retries_are_handled_once(slack: FakeSlack, db_url: str) -> None:
    async with running(slack_settings(slack, db_url), slack) as bot:
        root = slack.user_message(GENERAL, ALICE, "<@U0000BOT1> help")
        payload = slack_requests.app_mention_event(
            "<@U0000BOT1> help", user=ALICE, channel=GENERAL, ts=root["ts"], team=TEAM_ID
        )
        for retry in (None, 1, 2):
            resp = await bot.post(*slack_requests.event(payload, retry_num=retry))
            assert resp.status == 200
        await bot.app.idle()
        assert inbox_count(bot.app) == 1
        assert len(slack.messages(GENERAL, thread_ts=root["ts"])) == 2  # the mention + 1 reply


FORM = "application/x-www-form-urlencoded"
MALFORMED = [
    ("application/json", b"{not json"),
    ("application/json", b"[1, 2, 3]"),
    ("application/json", b'"a string"'),
    ("application/json", b'{"type": "event_callback"}'),
    ("application/json", b'{"type": "event_callback", "event": "nope"}'),
    ("application/json", b'{"type": "event_callback", "event": {"type": 42}}'),
    ("application/json", b""),
    (FORM, b"payload=%7Bbroken"),
    (FORM, b"payload=" + quote(json.dumps([1])).encode()),
    (FORM, b"payload=" + quote('{"type": "block_actions"}').encode()),
    (FORM, b"command=&text="),
    (FORM, b"\xff\xfe\x00garbage"),
    ("text/plain", b"hello"),
]


@pytest.mark.parametrize(("content_type", "body"), MALFORMED)
async def test_malformed_signed_bodies_never_500(
    slack: FakeSlack, db_url: str, content_type: str, body: bytes
) -> None:
    async with running(slack_settings(slack, db_url), slack) as bot:
        resp = await bot.post(*slack_requests.signed(body, content_type))
        text = await resp.text()
        assert resp.status < 500, (resp.status, text)
        assert "Traceback" not in text and "Error" not in text[:200]
        await bot.app.idle()
