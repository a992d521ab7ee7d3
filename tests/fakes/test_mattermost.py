"""The fake Mattermost driven by the real mattermostdriver client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from mattermostdriver import Driver
from mattermostdriver.exceptions import InvalidOrMissingParameters, NoAccessTokenProvided

from tests.fakes._server import wait_until
from tests.fakes.mattermost import FakeMattermost


@pytest.fixture
def mm() -> Iterator[FakeMattermost]:
    fake = FakeMattermost()
    fake.start_in_thread()
    team = fake.seed_team("ops", team_id="team0000000000000000000001")
    fake.seed_channel(team["id"], "town-square", channel_id="chan0000000000000000000001")
    yield fake
    fake.stop_thread()


def driver(fake: FakeMattermost, **kw: Any) -> Driver:
    d = Driver(fake.driver_options(**kw))
    d.login()
    return d


def test_login_and_lookups(mm: FakeMattermost) -> None:
    alice = mm.seed_user("alice")
    d = driver(mm)
    assert d.client.userid == mm.bot["id"]
    assert d.users.get_user_by_username("alice")["id"] == alice["id"]
    assert d.users.get_users_by_ids([alice["id"]])[0]["username"] == "alice"
    team = d.teams.get_team_by_name("ops")
    assert d.channels.get_channel_by_name(team["id"], "town-square")["id"].startswith("chan")
    mm.assert_no_violations()


def test_wrong_token(mm: FakeMattermost) -> None:
    with pytest.raises(NoAccessTokenProvided):
        driver(mm, token="nope")


def test_posts_threads_patch_and_dedupe(mm: FakeMattermost) -> None:
    d = driver(mm)
    cid = "chan0000000000000000000001"
    root = d.posts.create_post(
        {"channel_id": cid, "message": "incident #db", "pending_post_id": "x:1"}
    )
    again = d.posts.create_post(
        {"channel_id": cid, "message": "incident #db", "pending_post_id": "x:1"}
    )
    assert again["id"] == root["id"]
    reply = d.posts.create_post({"channel_id": cid, "message": "update", "root_id": root["id"]})
    d.posts.patch_post(root["id"], {"message": "incident resolved"})
    d.posts.update_post(reply["id"], {"id": reply["id"], "message": "final"})
    d.posts.pin_post_to_channel(root["id"])
    thread = d.posts.get_thread(root["id"])
    assert [thread["posts"][i]["message"] for i in reversed(thread["order"])] == [
        "incident resolved",
        "final",
    ]
    assert mm.posts[root["id"]]["is_pinned"] and mm.posts[root["id"]]["reply_count"] == 1
    since = d.posts.get_posts_for_channel(cid, params={"since": reply["create_at"] - 1})
    assert reply["id"] in since["order"]
    eph = d.posts.create_ephemeral_post(
        {"user_id": mm.bot["id"], "post": {"channel_id": cid, "message": "only you"}}
    )
    assert eph["message"] == "only you"
    mm.assert_no_violations()


def test_channels_files_commands_dialogs(mm: FakeMattermost) -> None:
    bob = mm.seed_user("bob")
    d = driver(mm)
    team_id = "team0000000000000000000001"
    ch = d.channels.create_channel(
        {"team_id": team_id, "name": "inc-42", "display_name": "Inc 42", "type": "O"}
    )
    with pytest.raises(InvalidOrMissingParameters):
        d.channels.create_channel(
            {"team_id": team_id, "name": "inc-42", "display_name": "x", "type": "O"}
        )
    with pytest.raises(InvalidOrMissingParameters):
        d.channels.create_channel(
            {"team_id": team_id, "name": "Bad Name", "display_name": "x", "type": "O"}
        )
    d.channels.add_user(ch["id"], options={"user_id": bob["id"]})
    assert bob["id"] in mm.members[ch["id"]]
    up = d.files.upload_file(ch["id"], files={"files": ("report.csv", b"a,b\n")})
    fid = up["file_infos"][0]["id"]
    d.posts.create_post({"channel_id": ch["id"], "message": "report", "file_ids": [fid]})
    assert mm.files[fid]["content"] == b"a,b\n"
    cmd = d.commands.create_command(
        {
            "team_id": team_id,
            "trigger": "incident",
            "url": "http://bot/mattermost/command",
            "method": "P",
        }
    )
    assert cmd["token"]
    assert [c["trigger"] for c in d.commands.list_commands_for_team({"team_id": team_id})] == [
        "incident"
    ]
    dialog = {
        "trigger_id": "t1",
        "url": "http://bot/mattermost/actions",
        "dialog": {"title": "Intake", "elements": []},
    }
    d.client.post("/actions/dialogs/open", options=dialog)
    assert mm.dialogs[0]["dialog"]["title"] == "Intake"
    mm.assert_no_violations()


def test_post_contract_violations(mm: FakeMattermost) -> None:
    d = driver(mm)
    bad = {
        "attachments": [
            {"actions": [{"id": "bad_id", "name": "Go", "integration": {"url": "http://x"}}]}
        ]
    }
    d.posts.create_post({"channel_id": "chan0000000000000000000001", "message": "x", "props": bad})
    with pytest.raises(InvalidOrMissingParameters):
        d.posts.create_post({"channel_id": "chan0000000000000000000001", "message": "x" * 16384})
    problems = [v.message for v in mm.violations]
    assert any("letters and digits" in p for p in problems)
    assert any("integration.context" in p for p in problems)
    assert any("16384 characters" in p for p in problems)


def test_fault_injection(mm: FakeMattermost) -> None:
    mm.fail("POST /posts", status=503)
    d = driver(mm)
    with pytest.raises(Exception) as err:
        d.posts.create_post({"channel_id": "chan0000000000000000000001", "message": "x"})
    assert "503" in str(err.value)
    assert d.posts.create_post({"channel_id": "chan0000000000000000000001", "message": "x"})["id"]


async def test_websocket_posted_event() -> None:
    async with FakeMattermost() as fake:
        team = fake.seed_team("ops")
        alice = fake.seed_user("alice")
        ch = fake.seed_channel(team["id"], "town-square", members=[alice["id"]])
        events: list[dict[str, Any]] = []

        async def handler(message: str) -> None:
            events.append(json.loads(message))

        d = Driver(fake.driver_options())
        await asyncio.to_thread(d.login)
        from mattermostdriver.websocket import Websocket

        ws = Websocket(d.options, d.client.token)
        task = asyncio.create_task(ws.connect(handler))
        try:
            await wait_until(lambda: fake.connected_users() == [fake.bot["id"]])
            fake.user_post(alice["id"], ch["id"], "@copilot status please")
            await wait_until(lambda: any(e.get("event") == "posted" for e in events))
            posted = next(e for e in events if e.get("event") == "posted")
            post = json.loads(posted["data"]["post"])
            assert post["message"] == "@copilot status please"
            assert posted["data"]["sender_name"] == "@alice"
            assert json.loads(posted["data"]["mentions"]) == [fake.bot["id"]]
            assert events[0]["event"] == "hello" and events[0]["seq"] == 0
        finally:
            ws.disconnect()
            await fake.stop()
            task.cancel()


def test_memberships(mm: FakeMattermost) -> None:
    carol = mm.seed_user("carol", remote_id="remote0000000000000000001")
    team = mm.seed_team("partners", members=[carol["id"]])
    shared = mm.seed_channel(team["id"], "acme-shared", shared=True, members=[carol["id"]])
    d = driver(mm)
    assert {t["name"] for t in d.teams.get_user_teams("me")} == {"ops", "partners"}
    team_users = {m["user_id"] for m in d.teams.get_team_members(team["id"])}
    assert team_users == {mm.bot["id"], carol["id"]}
    members = d.channels.get_channel_members(shared["id"], params={"per_page": 200})
    assert {m["user_id"] for m in members} == {mm.bot["id"], carol["id"]}
    assert d.channels.get_channel(shared["id"])["shared"] is True
    assert d.users.get_user(carol["id"])["remote_id"] == "remote0000000000000000001"
    mm.assert_no_violations()
