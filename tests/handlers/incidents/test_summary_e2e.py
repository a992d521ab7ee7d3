"""Channels read back from the fake Slack and Mattermost servers, summarized via fake Claude."""

from __future__ import annotations

import json

from mattermostdriver import Driver
from slack_sdk import WebClient

from bot.clients.llm import LLM
from bot.platforms.mattermost import MattermostApi
from bot.platforms.slack import SlackApi
from handlers.incidents.summary import chat_lines, render_summary, summarize
from tests.bot.secrets_corpus import corpus
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.mattermost import FakeMattermost
from tests.fakes.slack_api import FakeSlack
from tests.fakes.warroom import incident


def t(msgid: str, **kw: object) -> str:
    return msgid.format(**kw)


def test_slack_channel_to_summary(
    fake_slack_thread: FakeSlack, fake_anthropic: FakeAnthropic, llm: LLM
) -> None:
    slack = fake_slack_thread
    slack.seed_user("U1", "alice")
    slack.seed_user("U2", "bob")
    cid = slack.seed_channel("inc-20260302-checkout", members=["U1", "U2"])["id"]
    root = slack.user_message(cid, "U1", "customers see 502 on checkout, error rate 12%")
    slack.user_message(cid, "U2", "is it the pgbouncer config?", thread_ts=root["ts"])
    slack.user_message(cid, "U1", "no, config unchanged", thread_ts=root["ts"])
    slack.user_message(cid, "U2", "I restarted checkout-api pods")
    secret = corpus()[0]
    slack.user_message(cid, "U2", secret[2])
    slack.user_message(cid, "U1", "Status: monitoring, errors back to 0.1%")

    history = SlackApi(WebClient(token=slack.bot_token, base_url=slack.base_url)).history(cid)
    lines = chat_lines(history)
    assert [line.thread_id for line in lines][:3] == [None, root["ts"], root["ts"]]

    extractive = summarize(incident(), lines, t=t, llm=None)
    assert any("restarted" in item.text for item in extractive.actions)
    assert extractive.actions[0].by == "bob"

    summary = summarize(incident(), lines, t=t, llm=llm)
    assert summary.mode == "llm"
    sent = json.dumps(fake_anthropic.requests, ensure_ascii=False)
    assert secret[1] not in sent and root["ts"] in sent
    message = render_summary(summary, t, title=incident().title)
    assert message.blocks and secret[1] not in message.model_dump_json()


def test_mattermost_channel_to_summary(
    fake_mattermost_thread: FakeMattermost, fake_anthropic: FakeAnthropic, llm: LLM
) -> None:
    mm = fake_mattermost_thread
    alice = mm.seed_user("alice")["id"]
    bob = mm.seed_user("bob")["id"]
    team = mm.seed_team("ops", members=[alice, bob, mm.bot["id"]])["id"]
    cid = mm.seed_channel(team, "inc-checkout", members=[alice, bob, mm.bot["id"]])["id"]
    root = mm.user_post(alice, cid, "пользователи видят 502 при оплате")
    reply = mm.user_post(bob, cid, "кто менял конфиг pgbouncer?", root_id=root["id"])
    mm.user_post(bob, cid, "перезапустил поды checkout-api")
    secret = corpus()[5]
    mm.user_post(alice, cid, secret[2])

    driver = Driver(mm.driver_options())
    driver.login()
    api = MattermostApi(driver, f"{mm.scheme}://127.0.0.1:{mm.port}", "ops")
    lines = chat_lines(api.history(cid))
    by_id = {line.id: line for line in lines}
    assert len(lines) == 4 and by_id[reply["id"]].thread_id == root["id"]
    assert str(by_id[root["id"]].permalink).endswith(f"/ops/pl/{root['id']}")

    extractive = summarize(incident(), lines, t=t, llm=None, language="ru")
    assert [str(item.by).lower() for item in extractive.actions] == ["bob"]
    assert [item.refs[0].id for item in extractive.open_questions] == [reply["id"]]

    summary = summarize(incident(), lines, t=t, llm=llm, language="ru")
    assert summary.mode == "llm" and "Russian" in fake_anthropic.message_requests[0]["system"]
    assert secret[1] not in json.dumps(fake_anthropic.requests, ensure_ascii=False)
