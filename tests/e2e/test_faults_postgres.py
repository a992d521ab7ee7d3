"""PostgreSQL restarted and stopped under load (issue #10): nothing lost, nothing doubled.

A private PostgreSQL (its own data directory and port: the machine's shared server is never
touched) backs a real `console-copilot serve` subprocess wired to FakeSlack and the emulated
Kubernetes API. Clients send signed slash commands and Events API mentions continuously while
the database is restarted (`pg_ctl restart -m fast`) and then stopped for ~3 s; a runbook
approval is clicked while the database is down. The client behaves like Slack: a non-2xx is
retried (Events API: `X-Slack-Retry-Num`; commands: the user runs it again with the same
trigger). Asserted through the real paths:

- a request during the outage gets a fast non-2xx (never a hang), or is acknowledged;
- every acknowledged request is answered exactly once (FakeSlack response_url posts and thread
  replies), the inbox holds each event once and all are `done`, the outbox is fully `sent`;
- the runbook ran once (one real PATCH on the cluster, one `runbook.approved` audit entry), no
  run is left `running`, the audit chain verifies;
- `/readyz` went 503 during the outage and 200 after; the same bot process recovered on its own.

The quick version (`test_postgres_restart_and_outage`) stays in `make test`; the slow one runs
the same scenario with more load and a longer outage (`make soak`, `-m slow`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest

from tests.fakes import slack_requests
from tests.fakes._server import wait_until
from tests.fakes.slack_api import BOT_USER_ID, TEAM_ID, FakeSlack
from tests.helpers.private_pg import PrivatePostgres, pg_bindir, private_postgres
from tests.helpers.server import cli, serve
from tests.platforms.mattermost_app import fake_mattermost, running_mm
from tests.platforms.slack_app import (
    ALICE,
    BOB,
    GENERAL,
    copilot_help,
    fake_slack,
    find_button,
    kubeconfig_for,
)

pytestmark = pytest.mark.skipif(pg_bindir() is None, reason="PostgreSQL server binaries missing")

FAST = 8.0  # a refused request must come back well within Slack's 3 s ack + our 5 s timeouts
_ids = itertools.count(1)


@dataclass
class Sent:
    """One logical request and every HTTP attempt the client made for it."""

    kind: str  # "command" | "mention" | "click"
    key: str  # response_url (command) or root ts (mention) or run id (click)
    user: str = ""
    attempts: list[tuple[int, float]] = field(default_factory=list)  # (status, seconds)

    @property
    def acked(self) -> bool:
        return any(200 <= s < 300 for s, _ in self.attempts)


@dataclass
class Load:
    sent: list[Sent] = field(default_factory=list)
    ready: list[tuple[float, int, float]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)


async def post_until_acked(
    http: aiohttp.ClientSession,
    base: str,
    item: Sent,
    build: Any,
    *,
    tries: int = 120,
) -> None:
    """POST (rebuilt each time: fresh signature timestamp) until a 2xx, like Slack's retries."""
    for attempt in range(tries):
        body, headers = build(attempt)
        started = time.monotonic()
        try:
            async with http.post(base + "/slack/events", data=body, headers=headers) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError):
            status = 599  # no answer at all
        item.attempts.append((status, time.monotonic() - started))
        if 200 <= status < 300:
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"never acknowledged: {item}")


async def send_command(
    http: aiohttp.ClientSession, base: str, slack: FakeSlack, load: Load
) -> None:
    url = slack.response_url()
    item = Sent("command", url)
    load.sent.append(item)
    n = next(_ids)

    def build(_attempt: int) -> tuple[bytes, dict[str, str]]:
        return copilot_help(
            url,
            f"{n}.4242.pgfault",  # the same trigger on every retry
            channel_name="general",
            team_domain="fake",
            enterprise_id="",
            enterprise_name="",
        )

    await post_until_acked(http, base, item, build)


async def send_mention(
    http: aiohttp.ClientSession, base: str, slack: FakeSlack, load: Load
) -> None:
    # one asker per mention: the copilot's per-user rate limit answers with an ephemeral
    # (per-channel limit too), so the answer is either a thread reply or an ephemeral to them
    n = next(_ids)
    user = f"U0M{n:06d}"
    slack.seed_user(user, f"asker{n}")
    slack.members[GENERAL].append(user)
    root = slack.user_message(GENERAL, user, f"<@{BOT_USER_ID}> help")
    item = Sent("mention", str(root["ts"]), user)
    load.sent.append(item)
    payload = slack_requests.app_mention_event(
        f"<@{BOT_USER_ID}> help",
        user=user,
        channel=GENERAL,
        ts=root["ts"],
        event_id=f"Ev0PGFAULT{n}",
        team=TEAM_ID,
    )

    def build(attempt: int) -> tuple[bytes, dict[str, str]]:
        return slack_requests.event(payload, retry_num=attempt or None)

    await post_until_acked(http, base, item, build)


async def click(
    http: aiohttp.ClientSession,
    base: str,
    slack: FakeSlack,
    load: Load,
    message: dict[str, Any],
    user: str,
) -> None:
    button = find_button(message, "runbook:approve")
    item = Sent("click", str(button.get("value")))
    load.sent.append(item)
    payload = slack_requests.block_actions_payload(
        button["action_id"],
        button.get("value", ""),
        user=user,
        channel=GENERAL,
        message_ts=message["ts"],
        response_url=slack.response_url(),
        trigger_id=f"{next(_ids)}.4242.pgclick",
    )
    payload["user"].update({"username": "bob", "name": "bob", "team_id": TEAM_ID})
    payload["team"]["id"] = TEAM_ID
    payload["message"] = {k: v for k, v in message.items() if not k.startswith("_")}
    await post_until_acked(http, base, item, lambda _a: slack_requests.interactive(payload))


async def traffic(
    http: aiohttp.ClientSession, base: str, slack: FakeSlack, load: Load, every: float
) -> None:
    """Commands and mentions, one every `every` seconds, until told to stop."""
    pending: set[asyncio.Task[None]] = set()
    flip = itertools.cycle([send_command, send_mention])
    while not load.stop.is_set():
        task = asyncio.create_task(next(flip)(http, base, slack, load))
        pending.add(task)
        task.add_done_callback(pending.discard)
        await asyncio.sleep(every)
    if pending:
        await asyncio.gather(*pending)


async def watch_ready(http: aiohttp.ClientSession, base: str, load: Load) -> None:
    while not load.stop.is_set():
        started = time.monotonic()
        try:
            async with http.get(base + "/readyz") as resp:
                load.ready.append((started, resp.status, time.monotonic()))
        except (aiohttp.ClientError, TimeoutError):
            load.ready.append((started, 599, time.monotonic()))
        await asyncio.sleep(0.1)


def query(pg: PrivatePostgres, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg.url.replace("+psycopg", ""), connect_timeout=5) as conn:
        return list(conn.execute(sql).fetchall())


def real_restarts(cluster: Any) -> list[Any]:
    return [
        r
        for r in cluster.server.cluster.requests
        if r.method == "PATCH" and "dryRun" not in r.query and "/deployments/cart" in r.path
    ]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


async def scenario(
    slack: FakeSlack, tmp_path: Path, *, every: float, outage: float, settle: float
) -> None:
    cluster = kubeconfig_for(tmp_path)
    try:
        with private_postgres() as pg:
            env = {
                "DATABASE_URL": pg.url,
                "SLACK_BOT_TOKEN": slack.bot_token,
                "SLACK_SIGNING_SECRET": slack_requests.SECRET,
                "SLACK_API_URL": slack.base_url,
                "KUBECONFIG": str(cluster.kubeconfig),
                "COPILOT_DEMO_CLUSTER": "true",
                "COPILOT_INCIDENTS_CHANNEL": "incidents",
                "COPILOT_SCHEDULER_ENABLED": "false",
                "COPILOT_LOG_LEVEL": "INFO",
            }
            migrated = cli("migrate", env=env)
            assert migrated.returncode == 0, migrated.stderr
            with serve(env, log_path=tmp_path / "serve.log") as base:
                await run_load(slack, cluster, pg, base, every=every, outage=outage, settle=settle)
    finally:
        cluster.stop()


async def run_load(
    slack: FakeSlack,
    cluster: Any,
    pg: PrivatePostgres,
    base: str,
    *,
    every: float,
    outage: float,
    settle: float,
) -> None:
    load = Load()
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        # a runbook request whose approval is clicked while the database is down
        await send_command_text(
            http, base, slack, "/runbook", "run restart-deployment namespace=shop deployment=cart"
        )
        await wait_until(lambda: bool(slack.messages(GENERAL)), within=20)
        approval = slack.messages(GENERAL)[0]
        run_id = int(find_button(approval, "runbook:approve")["value"])

        ready = asyncio.create_task(watch_ready(http, base, load))
        sender = asyncio.create_task(traffic(http, base, slack, load, every))
        await asyncio.sleep(settle)
        await asyncio.to_thread(pg.restart)  # every session killed, server back at once
        await asyncio.sleep(settle)
        await asyncio.to_thread(pg.stop)
        down_at = time.monotonic()  # pg_ctl -w returned: the server is gone
        clicked = asyncio.create_task(click(http, base, slack, load, approval, BOB))
        await asyncio.sleep(outage)
        up_at = time.monotonic()  # from here the server may answer before pg_ctl returns
        await asyncio.to_thread(pg.start)
        await asyncio.sleep(settle)
        load.stop.set()
        await asyncio.gather(sender, clicked, ready)

        # every acknowledged request answered exactly once --------------------------------
        acked = [s for s in load.sent if s.acked]
        assert len(acked) == len(load.sent)  # the client retried until it was acknowledged

        def answered() -> bool:
            return all(answers(slack, s) >= 1 for s in acked if s.kind != "click")

        try:
            await wait_until(answered, within=45, interval=0.2)
        except TimeoutError:
            lost = [s for s in acked if s.kind != "click" and answers(slack, s) == 0]
            inbox = query(
                pg, "SELECT event_id, status, error FROM inbox_event WHERE status <> 'done'"
            )
            outbox = query(
                pg,
                "SELECT id, op, channel_id, status, attempts, last_error FROM outbox_message "
                "WHERE status <> 'sent' ORDER BY id LIMIT 5",
            )
            kinds = query(pg, "SELECT kind, status, count(*) FROM inbox_event GROUP BY 1, 2")
            posts = [
                (c.params.get("channel"), c.params.get("thread_ts"))
                for c in slack.calls("chat.postMessage")
            ]
            raise AssertionError(
                f"acked, never answered: {lost[:5]}; inbox: {inbox} {kinds}; outbox: {outbox}; "
                f"chat.postMessage: {posts[:20]}"
            ) from None
        await asyncio.sleep(1.0)  # a duplicate would arrive now
        counts = {s.key: answers(slack, s) for s in acked if s.kind != "click"}
        assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v != 1}

        # during the outage: fast refusals, never a hang
        failures = [(st, sec) for s in load.sent for st, sec in s.attempts if not 200 <= st < 300]
        assert failures, "the outage was not observed by any request"
        assert max(sec for _, sec in failures) < FAST, sorted(failures, key=lambda f: -f[1])[:5]
        assert all(st >= 500 for st, _ in failures), failures[:5]

        # readiness: unhealthy during the outage, healthy again, same process
        # (a probe counts when it both started and finished while the server was down: one
        # queued behind the bot's busy threads may only reach the database once it is back)
        during = [st for t, st, end in load.ready if down_at + 0.2 < t and end < up_at]
        assert during and all(st == 503 for st in during), [
            (round(t - down_at, 2), round(end - down_at, 2), st)
            for t, st, end in load.ready
            if st != 503 and down_at + 0.2 < t and end < up_at
        ]
        async with http.get(base + "/readyz") as resp:
            assert resp.status == 200

        # the runbook ran exactly once --------------------------------------------------
        def finished() -> bool:
            rows = query(pg, f"SELECT state FROM runbook_run WHERE id = {run_id}")
            return bool(rows) and rows[0][0] not in ("pending_approval", "approved", "running")

        await wait_until(finished, within=60, interval=0.2)
        assert query(pg, f"SELECT state FROM runbook_run WHERE id = {run_id}") == [("succeeded",)]
        assert len(real_restarts(cluster)) == 1
        approved = query(pg, "SELECT count(*) FROM audit_entry WHERE action = 'runbook.approved'")
        assert approved == [(1,)]
        assert query(pg, "SELECT count(*) FROM runbook_run WHERE state = 'running'") == [(0,)]
        assert query(pg, "SELECT count(*) FROM runbook_step WHERE state = 'running'") == [(0,)]
        text = json.dumps(slack.message(GENERAL, approval["ts"]))
        assert "succeeded" in text.lower(), text[:2000]

        # storage: each event once, all handled; every outgoing message sent
        await wait_until(
            lambda: (
                query(pg, "SELECT count(*) FROM outbox_message WHERE status <> 'sent'") == [(0,)]
            ),
            within=60,
            interval=0.2,
        )
        rows = query(pg, "SELECT event_id, status FROM inbox_event")
        ids = [r[0] for r in rows]
        assert len(ids) == len(set(ids))
        assert {r[1] for r in rows} == {"done"}, [r for r in rows if r[1] != "done"]
        assert len(rows) == len(load.sent) + 1  # + the /runbook run command
        verify = cli("audit", "verify", env={"DATABASE_URL": pg.url})
        assert verify.returncode == 0, verify.stdout + verify.stderr
        print(  # the figures, for the report (pytest -s)
            f"\nrequests={len(load.sent)} attempts="
            f"{sum(len(s.attempts) for s in load.sent)} refused={len(failures)} "
            f"max_refusal_s={max(sec for _, sec in failures):.2f} "
            f"ready_503={sum(1 for _, st, _ in load.ready if st == 503)}"
        )


async def send_command_text(
    http: aiohttp.ClientSession, base: str, slack: FakeSlack, command: str, text: str
) -> None:
    body, headers = slack_requests.slash_command(
        command=command,
        text=text,
        user_id=ALICE,
        user_name="alice",
        channel_id=GENERAL,
        channel_name="general",
        team_id=TEAM_ID,
        team_domain="fake",
        enterprise_id="",
        enterprise_name="",
        response_url=slack.response_url(),
        trigger_id=f"{next(_ids)}.4242.pgrunbook",
    )
    async with http.post(base + "/slack/events", data=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()


def answers(slack: FakeSlack, item: Sent) -> int:
    if item.kind == "command":
        return len(slack.response_posts(item.key))
    replies = slack.messages(GENERAL, thread_ts=item.key)[1:]
    ephemerals = [e for e in slack.ephemerals if e["user"] == item.user]
    return len([r for r in replies if r.get("user") == BOT_USER_ID]) + len(ephemerals)


async def test_postgres_restart_and_outage(slack: FakeSlack, tmp_path: Path) -> None:
    await scenario(slack, tmp_path, every=0.1, outage=3.0, settle=2.0)


@pytest.mark.slow
async def test_postgres_restart_and_outage_long(slack: FakeSlack, tmp_path: Path) -> None:
    await scenario(slack, tmp_path, every=0.03, outage=10.0, settle=5.0)


async def test_mattermost_websocket_mention_during_outage(tmp_path: Path) -> None:
    """A mention pushed over the websocket while the database is down has no redelivery:
    the bot must keep it and record it when the database is back (and keep listening)."""
    with fake_mattermost() as world, private_postgres() as pg:
        migrated = cli("migrate", env={"DATABASE_URL": pg.url})
        assert migrated.returncode == 0, migrated.stderr
        async with running_mm(world, pg.url) as bot:
            fake = world.fake
            await wait_until(lambda: fake.bot["id"] in fake.connected_users(), within=10)
            await asyncio.sleep(1.5)  # past the start-up recovery pass
            await asyncio.to_thread(pg.stop)
            during = fake.user_post(world.alice, world.town, "@copilot help")
            await asyncio.sleep(1.5)
            await asyncio.to_thread(pg.start)
            after = fake.user_post(world.alice, world.town, "@copilot help")

            def replies(root: dict[str, Any]) -> int:
                return len(
                    [
                        p
                        for p in fake.channel_posts(world.town)
                        if p.get("root_id") == root["id"] and p["user_id"] == fake.bot["id"]
                    ]
                )

            await wait_until(lambda: replies(during) >= 1 and replies(after) >= 1, within=60)
            await bot.app.idle(limit=30)
            assert (replies(during), replies(after)) == (1, 1)
