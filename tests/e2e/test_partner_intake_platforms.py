"""Partner intakes end to end through FakeSlack and FakeMattermost (issue #7): the thread path
and the form path (a Slack modal, a Mattermost interactive dialog), in shared channels, with an
external partner user. Runs on SQLite and PostgreSQL; the fakes check every call against the
vendors' specs (views.open / dialogs/open included).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import select

from bot.app import CopilotApp
from storage.db import unit_of_work
from storage.models.partners import Intake, IntakeAnswer
from tests.fakes import slack_requests
from tests.fakes._server import wait_until
from tests.fakes.mattermost_outgoing import click as mm_click
from tests.fakes.mattermost_outgoing import run_command, submit_dialog
from tests.fakes.slack_api import TEAM_ID, FakeSlack
from tests.platforms.mattermost_app import MMWorld, fake_mattermost, running_mm
from tests.platforms.slack_app import ALICE, fake_slack, find_button, inbox_count, running
from tests.platforms.slack_app import slack_settings as base_settings

PARTNER_TEAM = "T0PARTNER1"
DAVE = "U0DAVE0001"
SHARED = "C0PARTNER1"
FORM_ANSWERS = {
    "company": "Acme Data LLC",
    "contacts": "Dave Smith, dave@acme.example",
    "category": "analytics",
    "vertical": "fintech",
    "deployment": "saas",
    "storage_regions": "ru-central1, ru-msk",
    "processing_regions": "ru-central1",
    "personal_data": "yes",
    "personal_data_countries": "RU, KZ",
    "certifications": "ISO27001, 152-FZ attestation",
    "certification_evidence": "https://acme.example/certs",
    "security_contact": "security@acme.example",
    "sla": "99.95",
    "support": "24x7",
    "pricing": "subscription",
    "dpa_url": "https://acme.example/dpa",
    "privacy_policy_url": "https://acme.example/privacy",
    "data_processing_url": "https://acme.example/data",
    "docs_url": "https://acme.example/docs",
}
THREAD_ANSWERS = list(FORM_ANSWERS.values())  # in question order; offer_name came with /partner


def intakes(app: CopilotApp) -> list[Intake]:
    with unit_of_work(app.engine) as s:
        return list(s.exec(select(Intake).order_by(Intake.id)).all())


def answer_rows(app: CopilotApp) -> list[IntakeAnswer]:
    with unit_of_work(app.engine) as s:
        return list(s.exec(select(IntakeAnswer).order_by(IntakeAnswer.id)).all())


# -- Slack -----------------------------------------------------------------------------------
@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        fake.seed_user(DAVE, "dave", team_id=PARTNER_TEAM)  # a Slack Connect user
        fake.seed_channel("partner-acme", SHARED, members=[ALICE, DAVE], is_ext_shared=True)
        yield fake


def slack_settings(slack: FakeSlack, db_url: str) -> Any:
    return base_settings(slack, db_url)


async def slack_post(bot: Any, payload: dict[str, Any]) -> Any:
    resp = await bot.post(*slack_requests.interactive(payload))
    assert resp.status == 200, await resp.text()
    return resp


async def test_slack_form_path_external_user(slack: FakeSlack, db_url: str) -> None:
    async with running(slack_settings(slack, db_url), slack) as bot:
        await bot.command("/partner", "intake Acme Data", channel_id=SHARED)
        root = slack.messages(SHARED)[0]
        button = find_button(root, "partner:form")
        assert "Partner intake: Acme Data" in json.dumps(root)
        assert len(slack.messages(SHARED, root["ts"])) == 2  # root + question 1

        # dave (external, from the partner's workspace) clicks "Fill in a form"
        click = slack_requests.block_actions_payload(
            button["action_id"],
            button["value"],
            user=DAVE,
            channel=SHARED,
            message_ts=root["ts"],
            response_url=slack.response_url(),
            trigger_id="700.dave.click",
        )
        click["user"].update({"username": "dave", "name": "dave", "team_id": PARTNER_TEAM})
        click["team"]["id"] = TEAM_ID
        click["message"] = {k: v for k, v in root.items() if not k.startswith("_")}
        await slack_post(bot, click)
        await bot.app.idle()

        assert len(slack.views) == 1 and slack.views[0]["trigger_id"] == "700.dave.click"
        view = slack.views[0]["view"]
        assert view["type"] == "modal" and view["callback_id"] == "partner:intake_form"
        inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
        assert len(inputs) == 20  # the whole questionnaire fits one modal
        assert inputs["offer_name"]["element"]["initial_value"] == "Acme Data"  # prefilled
        assert inputs["category"]["element"]["type"] == "static_select"
        assert inputs["security_contact"]["element"]["type"] == "email_text_input"
        assert inputs["dpa_url"]["optional"] is True and inputs["company"]["optional"] is False

        # one bad field: the synchronous answer carries the field error, nothing is recorded
        events_before = inbox_count(bot.app)
        bad = {**FORM_ANSWERS, "sla": "150"}
        submit = slack_requests.view_submission_for(
            view, bad, user=DAVE, username="dave", user_team=PARTNER_TEAM, team=TEAM_ID
        )
        resp = await slack_post(bot, submit)
        body = await resp.json()
        assert body["response_action"] == "errors"
        assert set(body["errors"]) == {"sla"} and "between 0 and 100" in body["errors"]["sla"]
        await bot.app.idle()
        assert answer_rows(bot.app) == [] and inbox_count(bot.app) == events_before
        assert intakes(bot.app)[0].state == "collecting"

        # corrected: accepted (empty 200), recorded as dave's answers, the intake completes
        good = slack_requests.view_submission_for(
            view, FORM_ANSWERS, user=DAVE, username="dave", user_team=PARTNER_TEAM, team=TEAM_ID
        )
        resp = await slack_post(bot, good)
        assert (await resp.text()) == ""
        await bot.app.idle()
        row = intakes(bot.app)[0]
        assert row.state == "review" and row.coverage == 1.0, (row.state, row.current)
        rows = answer_rows(bot.app)
        assert {r.question for r in rows} == set(FORM_ANSWERS)  # offer_name was unchanged
        assert all(r.user_id == DAVE and r.is_external for r in rows)
        sla = next(r for r in rows if r.question == "sla")
        assert json.loads(sla.value_json) == 99.95 and sla.raw == "99.95"
        thread = json.dumps(slack.messages(SHARED, root["ts"]))
        assert "filled in the form: 19 answers recorded" in thread
        assert "went to review" in thread
        assert "ready for review" in json.dumps(slack.messages(SHARED))


async def test_slack_expired_trigger_and_inactive_intake(slack: FakeSlack, db_url: str) -> None:
    """views.open refused (the trigger expired): the clicker is told to answer in the thread;
    after a cancel the button says the intake is no longer active."""
    async with running(slack_settings(slack, db_url), slack) as bot:
        await bot.command("/partner", "intake Acme Late", channel_id=SHARED)
        root = slack.messages(SHARED)[0]
        slack.error("views.open", "expired_trigger_id")
        url = slack.response_url()
        click = slack_requests.block_actions_payload(
            "partner:form",
            find_button(root, "partner:form")["value"],
            user=ALICE,
            channel=SHARED,
            message_ts=root["ts"],
            response_url=url,
            trigger_id="900.alice.click",
        )
        click["user"]["team_id"] = TEAM_ID
        click["team"]["id"] = TEAM_ID
        await slack_post(bot, click)
        await bot.app.idle()
        assert slack.views == [] and len(slack.calls("views.open")) == 1
        assert "answer in the thread" in json.dumps(slack.response_posts(url))

        msg = slack.user_message(SHARED, ALICE, "cancel", thread_ts=root["ts"])
        cancel = slack_requests.thread_message_event(
            "cancel", thread_ts=root["ts"], user=ALICE, channel=SHARED, ts=msg["ts"]
        )
        cancel["team_id"] = TEAM_ID
        await bot.post(*slack_requests.event(cancel))
        await bot.app.idle()
        assert intakes(bot.app)[0].state == "cancelled"
        url = slack.response_url()
        click.update(response_url=url, trigger_id="901.alice.click")
        await slack_post(bot, click)
        await bot.app.idle()
        assert len(slack.calls("views.open")) == 1
        assert "no longer active" in json.dumps(slack.response_posts(url))


async def test_slack_thread_path_whole_intake(slack: FakeSlack, db_url: str) -> None:
    async with running(slack_settings(slack, db_url), slack) as bot:
        await bot.command("/partner", "intake Acme Data", channel_id=SHARED)
        root = slack.messages(SHARED)[0]
        answers = [*THREAD_ANSWERS]
        answers.insert(answers.index("99.95"), "150")  # out of range: asked again
        for i, text in enumerate(answers):
            msg = slack.user_message(SHARED, DAVE, text, thread_ts=root["ts"])
            event = slack_requests.thread_message_event(
                text,
                thread_ts=root["ts"],
                user=DAVE,
                channel=SHARED,
                ts=msg["ts"],
                event_id=f"Ev0DAVE{i:04d}",
            )
            event["team_id"] = TEAM_ID
            event["event"]["user_team"] = PARTNER_TEAM
            resp = await bot.post(*slack_requests.event(event))
            assert resp.status == 200
            await bot.app.idle()
            if text == "150":
                last = slack.messages(SHARED, root["ts"])[-1]
                assert "between 0 and 100" in json.dumps(last), last
        row = intakes(bot.app)[0]
        assert row.state == "review", (row.state, row.current)
        rows = answer_rows(bot.app)
        assert len(rows) == len(THREAD_ANSWERS)
        assert all(r.user_id == DAVE and r.is_external for r in rows)
        thread = json.dumps(slack.messages(SHARED, root["ts"]))
        assert "Question 1 of" in thread and "went to review" in thread


# -- Mattermost ------------------------------------------------------------------------------
@pytest.fixture
def world() -> Iterator[MMWorld]:
    with fake_mattermost() as w:
        yield w


async def test_mattermost_dialog_path_shared_channel(world: MMWorld, db_url: str) -> None:
    fake = world.fake
    dave = fake.seed_user("dave", remote_id="remote-acme")["id"]  # a shared-channel remote user
    shared = fake.seed_channel(
        world.team, "partner-acme", members=[world.alice, dave], shared=True
    )["id"]
    async with running_mm(world, db_url) as bot:
        await run_command(
            fake, "partner", "intake Acme Data", user_id=world.alice, channel_id=shared
        )
        await bot.app.idle()
        posts = [p for p in fake.channel_posts(shared) if p["user_id"] == fake.bot["id"]]
        root = next(p for p in posts if not p.get("root_id"))
        actions = root["props"]["attachments"][0]["actions"]
        assert actions[0]["integration"]["context"]["action_id"] == "partner:form"

        await mm_click(fake, root["id"], actions[0]["id"], user_id=dave)
        await bot.app.idle()
        assert len(fake.dialogs) == 1
        opened = fake.dialogs[0]
        dialog = opened["dialog"]
        assert opened["url"].endswith("/mattermost/actions")
        assert dialog["callback_id"] == "partner:intake_form" and len(dialog["elements"]) == 20
        by_name = {e["name"]: e for e in dialog["elements"]}
        assert by_name["offer_name"]["default"] == "Acme Data"
        assert by_name["security_contact"]["subtype"] == "email"
        assert by_name["personal_data"]["type"] == "select"

        # a bad email: {"errors": {...}} keeps the dialog open; nothing recorded
        bad = {**FORM_ANSWERS, "security_contact": "security at acme"}
        status, resp = await submit_dialog(fake, opened, bad, user_id=dave, channel_id=shared)
        assert status == 200 and set(resp["errors"]) == {"security_contact"}
        await bot.app.idle()
        assert answer_rows(bot.app) == []

        # a tampered state is refused
        state = dialog["state"]
        forged_state = state[:-1] + ("0" if state[-1] != "0" else "1")
        forged = {**opened, "dialog": {**dialog, "state": forged_state}}
        status, _ = await submit_dialog(fake, forged, FORM_ANSWERS, user_id=dave, channel_id=shared)
        assert status == 401
        # another user cannot submit dave's dialog
        status, _ = await submit_dialog(
            fake, opened, FORM_ANSWERS, user_id=world.bob, channel_id=shared
        )
        assert status == 401

        status, resp = await submit_dialog(
            fake, opened, FORM_ANSWERS, user_id=dave, channel_id=shared
        )
        assert status == 200 and resp == {}
        await bot.app.idle()
        row = intakes(bot.app)[0]
        assert row.state == "review", (row.state, row.current)
        rows = answer_rows(bot.app)
        assert {r.question for r in rows} == set(FORM_ANSWERS)
        assert all(r.user_id == dave and r.is_external for r in rows)
        thread = json.dumps(fake.channel_posts(shared))
        assert "filled in the form: 19 answers recorded" in thread
        assert "went to review" in thread


async def test_slack_socket_mode_form_errors_in_the_ack(slack: FakeSlack, db_url: str) -> None:
    """Over Socket Mode the field errors travel in the envelope's ack payload."""
    settings = base_settings(slack, db_url, slack_app_token=slack.app_token)
    async with running(settings, slack) as bot:
        await slack.on_loop(slack.wait_socket())

        async def envelope(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
            eid = await slack.on_loop(slack.send_envelope(kind, payload))
            ack = await slack.on_loop(slack.wait_ack(eid))
            await bot.app.idle()
            return dict(ack)

        command = slack_requests.slash_command_form(
            command="/partner",
            text="intake Acme Socket",
            user_id=ALICE,
            channel_id=SHARED,
            team_id=TEAM_ID,
            enterprise_id="",
            response_url=slack.response_url(),
            trigger_id="800.alice.cmd",
        )
        await envelope("slash_commands", command)
        await wait_until(lambda: bool(slack.messages(SHARED)), within=10)
        await bot.app.idle()
        root = slack.messages(SHARED)[0]
        button = find_button(root, "partner:form")
        click = slack_requests.block_actions_payload(
            button["action_id"],
            button["value"],
            user=DAVE,
            channel=SHARED,
            message_ts=root["ts"],
            trigger_id="800.dave.click",
        )
        click["user"].update({"username": "dave", "name": "dave", "team_id": PARTNER_TEAM})
        click["team"]["id"] = TEAM_ID
        await envelope("interactive", click)
        await wait_until(lambda: bool(slack.views), within=10)
        view = slack.views[0]["view"]
        bad = slack_requests.view_submission_for(
            view,
            {**FORM_ANSWERS, "docs_url": "docs.acme"},
            user=DAVE,
            username="dave",
            user_team=PARTNER_TEAM,
            team=TEAM_ID,
        )
        ack = await envelope("interactive", bad)
        assert ack["payload"]["response_action"] == "errors"
        assert set(ack["payload"]["errors"]) == {"docs_url"}
        good = slack_requests.view_submission_for(
            view, FORM_ANSWERS, user=DAVE, username="dave", user_team=PARTNER_TEAM, team=TEAM_ID
        )
        ack = await envelope("interactive", good)
        assert not ack.get("payload")
        await wait_until(lambda: intakes(bot.app)[0].state == "review", within=10)
