"""The fake Slack Web API driven by the real slack_sdk clients."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import BOT_TOKEN, FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    fake.start_in_thread()
    fake.seed_channel("ops", "C0000OPS1")
    yield fake
    fake.stop_thread()


@pytest.fixture
async def aslack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.seed_channel("ops", "C0000OPS1")
        yield fake


def client(fake: FakeSlack, **kw: object) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=fake.base_url, **kw)  # type: ignore[arg-type]


def test_post_update_and_thread(slack: FakeSlack) -> None:
    web = client(slack)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    first = web.chat_postMessage(channel="#ops", text="hi", blocks=blocks)
    assert first["channel"] == "C0000OPS1"
    web.chat_update(channel="C0000OPS1", ts=first["ts"], text="edited")
    reply = web.chat_postMessage(channel="C0000OPS1", text="in thread", thread_ts=first["ts"])
    replies = web.conversations_replies(channel="C0000OPS1", ts=first["ts"])["messages"]
    assert [m["text"] for m in replies] == ["edited", "in thread"]
    assert replies[0]["reply_count"] == 1
    assert reply["message"]["thread_ts"] == first["ts"]
    history = web.conversations_history(channel="C0000OPS1")["messages"]
    assert [m["text"] for m in history] == ["edited"]
    assert slack.messages("ops")[0]["blocks"] == blocks
    assert len(slack.calls("chat.postMessage")) == 2
    slack.assert_no_violations()


def test_wrong_token_is_invalid_auth(slack: FakeSlack) -> None:
    web = WebClient(token="xoxb-wrong", base_url=slack.base_url)
    with pytest.raises(SlackApiError) as err:
        web.auth_test()
    assert err.value.response["error"] == "invalid_auth"


def test_rate_limit_retry_handler(slack: FakeSlack) -> None:
    slack.rate_limit("chat.postMessage", retry_after=0, times=2)
    web = client(slack, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])
    resp = web.chat_postMessage(channel="C0000OPS1", text="after 429s")
    assert resp["ok"]
    assert len(slack.calls("chat.postMessage")) == 3
    assert [m["text"] for m in slack.messages("C0000OPS1")] == ["after 429s"]


def test_rate_limit_without_retry_raises(slack: FakeSlack) -> None:
    slack.rate_limit(retry_after=7)
    with pytest.raises(SlackApiError) as err:
        client(slack).chat_postMessage(channel="C0000OPS1", text="x")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["retry-after"] in ("7", ["7"])


def test_server_error_and_api_error(slack: FakeSlack) -> None:
    slack.fail("chat.postMessage", status=503)
    slack.error("chat.postMessage", "channel_not_found")
    web = client(slack)
    with pytest.raises(SlackApiError) as first:
        web.chat_postMessage(channel="C0000OPS1", text="x")
    assert first.value.response.status_code == 503
    with pytest.raises(SlackApiError) as second:
        web.chat_postMessage(channel="C0000OPS1", text="x")
    assert second.value.response["error"] == "channel_not_found"
    assert web.chat_postMessage(channel="C0000OPS1", text="x")["ok"]


def test_upload_flow(slack: FakeSlack) -> None:
    web = client(slack)
    resp = web.files_upload_v2(
        channel="C0000OPS1", content="a,b\n1,2\n", filename="report.csv", initial_comment="here"
    )
    fid = resp["file"]["id"]
    assert slack.files[fid]["content"] == b"a,b\n1,2\n"
    msg = slack.messages("C0000OPS1")[-1]
    assert msg["text"] == "here"
    assert msg["files"][0]["id"] == fid
    slack.assert_no_violations()


def test_channels_users_groups(slack: FakeSlack) -> None:
    alice = slack.seed_user("U0000ALI1", "alice", locale="fr-FR")
    slack.seed_usergroup("oncall", [alice["id"]], "S0000ONC1")
    web = client(slack)
    created = web.conversations_create(name="inc-42-db")["channel"]
    with pytest.raises(SlackApiError) as taken:
        web.conversations_create(name="inc-42-db")
    assert taken.value.response["error"] == "name_taken"
    with pytest.raises(SlackApiError) as upper:
        web.conversations_create(name="Inc-Upper")
    assert upper.value.response["error"] == "invalid_name_specials"
    web.conversations_invite(channel=created["id"], users=[alice["id"]])
    assert alice["id"] in web.conversations_members(channel=created["id"])["members"]
    assert web.users_info(user=alice["id"], include_locale=True)["user"]["locale"] == "fr-FR"
    assert "locale" not in web.users_info(user=alice["id"])["user"]
    assert web.usergroups_users_list(usergroup="S0000ONC1")["users"] == [alice["id"]]
    ts = web.chat_postMessage(channel=created["id"], text="pin me")["ts"]
    web.pins_add(channel=created["id"], timestamp=ts)
    web.reactions_add(channel=created["id"], timestamp=ts, name="eyes")
    link = web.chat_getPermalink(channel=created["id"], message_ts=ts)["permalink"]
    assert link.endswith("p" + ts.replace(".", ""))
    web.chat_postEphemeral(channel=created["id"], user=alice["id"], text="only you")
    assert slack.ephemerals[-1]["text"] == "only you"
    slack.assert_no_violations()


def test_contract_violations_recorded(slack: FakeSlack) -> None:
    web = client(slack)
    too_many = [{"type": "divider"}] * 51
    long_button = {
        "type": "actions",
        "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "x" * 80}, "action_id": "a"}
        ],
    }
    web.chat_postMessage(channel="C0000OPS1", text="x", blocks=[*too_many, long_button])
    web.api_call("chat.postMessage", params={"channel": "C0000OPS1", "text": "x", "bogus": "1"})
    problems = [v.message for v in slack.violations]
    assert any("52 blocks" in p for p in problems)
    assert any("button text longer than 75" in p for p in problems)
    assert any("unknown parameter bogus" in p for p in problems)
    with pytest.raises(AssertionError):
        slack.assert_no_violations()


def test_views_open_json_body(slack: FakeSlack) -> None:
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Approve run"},
        "blocks": [{"type": "section", "text": {"type": "plain_text", "text": "ok?"}}],
    }
    opened = client(slack).views_open(trigger_id="111.222.xxx", view=view)["view"]
    assert opened["id"].startswith("V")
    assert slack.views[0]["view"]["title"]["text"] == "Approve run"
    slack.assert_no_violations()


async def test_async_client_and_response_url(aslack: FakeSlack) -> None:
    web = AsyncWebClient(token=BOT_TOKEN, base_url=aslack.base_url)
    resp = await web.chat_postMessage(channel="C0000OPS1", text="async")
    assert resp["ts"]
    url = aslack.response_url()
    from slack_sdk.webhook.async_client import AsyncWebhookClient

    hook = AsyncWebhookClient(url)
    sent = await hook.send(text="done", response_type="ephemeral", replace_original=True)
    assert sent.status_code == 200
    posted = aslack.response_posts(url)
    assert posted == [{"text": "done", "response_type": "ephemeral", "replace_original": True}]
    assert json.loads(json.dumps(aslack.calls("chat.postMessage")[0].params))["text"] == "async"
    aslack.assert_no_violations()


async def test_async_rate_limit_retry(fake_slack: FakeSlack) -> None:
    from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler

    fake_slack.seed_channel("ops", "C0000OPS1")
    fake_slack.rate_limit("chat.update", retry_after=0)
    web = AsyncWebClient(
        token=BOT_TOKEN,
        base_url=fake_slack.base_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    ts = (await web.chat_postMessage(channel="C0000OPS1", text="v1"))["ts"]
    await web.chat_update(channel="C0000OPS1", ts=ts, text="v2")
    assert len(fake_slack.calls("chat.update")) == 2
    assert fake_slack.message("C0000OPS1", ts)["text"] == "v2"  # type: ignore[index]


def test_added_latency_hits_client_timeout(fake_slack_thread: FakeSlack) -> None:
    fake_slack_thread.seed_channel("ops", "C0000OPS1")
    fake_slack_thread.slow("chat.postMessage", seconds=3)
    with pytest.raises(TimeoutError):
        client(fake_slack_thread, timeout=1).chat_postMessage(channel="C0000OPS1", text="x")
    assert client(fake_slack_thread).chat_postMessage(channel="C0000OPS1", text="y")["ok"]
