"""Signed Slack requests: known-answer signature and acceptance by slack_sdk's verifier."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

from tests.fakes import slack_requests as sr
from tests.fakes._server import wait_until

VECTOR = Path(__file__).parent.parent / "contracts" / "slack" / "signature_test_vector.json"


def verifier(secret: str = sr.SECRET, now: float | None = None) -> SignatureVerifier:
    class Clock:
        def now(self) -> float:
            return now if now is not None else __import__("time").time()

    return SignatureVerifier(secret, clock=Clock())  # type: ignore[arg-type]


def test_known_answer_vector() -> None:
    v = json.loads(VECTOR.read_text())
    sig = sr.sign(v["body"].encode(), v["signing_secret"], v["x_slack_request_timestamp"])
    assert sig == v["expected_x_slack_signature"]


def test_slash_command_is_verifiable_and_complete() -> None:
    body, headers = sr.slash_command(command="/incident", text="declare db down")
    assert verifier().is_valid_request(body, headers)
    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    assert form["command"] == "/incident"
    assert form["text"] == "declare db down"
    assert {"team_id", "channel_id", "user_id", "response_url", "trigger_id"} <= set(form)


def test_forged_and_expired_requests_fail() -> None:
    body, headers = sr.slash_command(secret="other-secret")
    assert not verifier().is_valid_request(body, headers)
    old_body, old_headers = sr.slash_command(timestamp=1_000_000)
    assert not verifier().is_valid_request(old_body, old_headers)
    assert verifier(now=1_000_100).is_valid_request(old_body, old_headers)


def test_events_and_interactivity() -> None:
    mention = sr.app_mention_event("<@U0000BOT1> status", user="U1", channel="C9", ts="5.000001")
    body, headers = sr.event(mention, retry_num=1)
    assert headers["X-Slack-Retry-Num"] == "1"
    assert verifier().is_valid_request(body, headers)
    assert json.loads(body)["event"]["channel"] == "C9"
    reply = sr.thread_message_event("more", thread_ts="5.000001")
    assert reply["event"]["thread_ts"] == "5.000001"
    assert sr.url_verification_event("abc")["challenge"] == "abc"
    click = sr.block_actions_payload("run:approve", "42", response_url="http://x/response/R1")
    body, headers = sr.interactive(click)
    assert verifier().is_valid_request(body, headers)
    decoded = json.loads(parse_qs(body.decode())["payload"][0])
    assert decoded["actions"][0] == {**decoded["actions"][0], "action_id": "run:approve"}
    sub = sr.view_submission_payload(
        "intake", {"b": {"a": {"type": "plain_text_input", "value": "v"}}}
    )
    assert sub["view"]["state"]["values"]["b"]["a"]["value"] == "v"


async def test_bolt_accepts_signed_requests_and_responds_to_fake() -> None:
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    from tests.fakes.slack_api import BOT_TOKEN, FakeSlack

    async with FakeSlack() as fake:
        client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.base_url)
        app = AsyncApp(signing_secret=sr.SECRET, client=client)

        @app.command("/incident")
        async def on_command(ack: Any, respond: Any, command: dict[str, Any]) -> None:
            await ack()
            await respond(text=f"got {command['text']}", response_type="in_channel")

        @app.action("run:approve")
        async def on_click(ack: Any, respond: Any, body: dict[str, Any]) -> None:
            await ack()
            await respond(text="approved", replace_original=True)

        url = fake.response_url()
        body, headers = sr.slash_command(command="/incident", text="list", response_url=url)
        resp = await app.async_dispatch(bolt_request(body, headers))
        assert resp.status == 200
        click = sr.block_actions_payload("run:approve", "42", response_url=url)
        body, headers = sr.interactive(click)
        resp = await app.async_dispatch(bolt_request(body, headers))
        assert resp.status == 200
        forged, bad_headers = sr.slash_command(secret="nope", response_url=url)
        resp = await app.async_dispatch(bolt_request(forged, bad_headers))
        assert resp.status == 401
        await wait_until(lambda: len(fake.response_posts(url)) == 2)
        texts = sorted(p["text"] for p in fake.response_posts(url))
        assert texts == ["approved", "got list"]
        fake.assert_no_violations()


def bolt_request(body: bytes, headers: dict[str, str]) -> Any:
    from slack_bolt.request.async_request import AsyncBoltRequest

    hdrs: dict[str, str | Sequence[str]] = dict(headers)
    return AsyncBoltRequest(body=body.decode(), headers=hdrs)
