"""Quick mixed load on two replicas of different shapes over one PostgreSQL (issue #10).

Replica A is `console-copilot serve` (acks and handlers in one process); replica B is
`console-copilot serve --workers 2` (acks only; two worker processes take events from the inbox).
A client sends signed slash commands, button clicks, Events API mentions and Alertmanager
webhooks round-robin over both for a fixed time, open loop, against FakeSlack. Asserted: every
request acknowledged, every command and click answered exactly once through its response_url,
every mention answered once, one channel message per alert group, every inbox event `done` once
and the outbox fully `sent`. The ack latencies are printed, not asserted (`bench/load.py` is the
long version; `make soak`).
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.fakes import slack_requests
from tests.fakes._server import wait_until
from tests.fakes.slack_api import BOT_USER_ID, TEAM_ID, FakeSlack
from tests.helpers.server import cli, serving
from tests.platforms.slack_app import ALICE, GENERAL, copilot_help, fake_slack

pytestmark = pytest.mark.timeout(300)

RATE = 40  # requests per second, over both replicas
SECONDS = 15
ALERTS = "C0INCIDENT"
AM_PAYLOAD = json.loads(
    (
        Path(__file__).parents[1] / "contracts/prometheus/01.firing.TargetDown.from_prometheus.json"
    ).read_text()
)


@dataclass
class Traffic:
    slack: FakeSlack
    responses: list[str] = field(default_factory=list)  # response_urls of commands and clicks
    mentions: list[tuple[str, str]] = field(default_factory=list)  # (root ts, user)
    groups: list[str] = field(default_factory=list)
    acks: dict[str, list[float]] = field(default_factory=dict)  # replica -> ms
    failures: list[str] = field(default_factory=list)
    n: int = 0

    def command(self) -> tuple[str, bytes, dict[str, str]]:
        url = self.slack.response_url()
        self.responses.append(url)
        body, headers = copilot_help(url, f"{self.n}.4242.load")
        return "/slack/events", body, headers

    def click(self) -> tuple[str, bytes, dict[str, str]]:
        url = self.slack.response_url()
        self.responses.append(url)
        payload = slack_requests.block_actions_payload(
            "copilot:help",
            "digest",
            user=ALICE,
            channel=GENERAL,
            message_ts="1.000100",
            response_url=url,
            trigger_id=f"{self.n}.4242.loadclick",
        )
        payload["user"].update({"team_id": TEAM_ID})
        payload["team"]["id"] = TEAM_ID
        body, headers = slack_requests.interactive(payload)
        return "/slack/events", body, headers

    def mention(self) -> tuple[str, bytes, dict[str, str]]:
        user = f"U0L{self.n:06d}"  # one asker each: the copilot rate-limits per user
        self.slack.seed_user(user, f"asker{self.n}")
        self.slack.members[GENERAL].append(user)
        root = self.slack.user_message(GENERAL, user, f"<@{BOT_USER_ID}> help")
        self.mentions.append((str(root["ts"]), user))
        payload = slack_requests.app_mention_event(
            f"<@{BOT_USER_ID}> help",
            user=user,
            channel=GENERAL,
            ts=root["ts"],
            event_id=f"Ev0LOAD{self.n}",
            team=TEAM_ID,
        )
        body, headers = slack_requests.event(payload)
        return "/slack/events", body, headers

    def alert(self) -> tuple[str, bytes, dict[str, str]]:
        payload = copy.deepcopy(AM_PAYLOAD)
        name = f"Load{self.n}Z"  # not a prefix of another group's name
        payload["groupKey"] = '{}:{alertname="' + name + '"}'
        payload["groupLabels"] = {"alertname": name}
        payload["commonLabels"]["alertname"] = name
        for alert in payload["alerts"]:
            alert["labels"]["alertname"] = name
            alert["fingerprint"] = uuid.uuid4().hex[:16]
        self.groups.append(name)
        headers = {"Content-Type": "application/json"}
        return "/alertmanager/webhook", json.dumps(payload).encode(), headers


MIX: list[Callable[[Traffic], tuple[str, bytes, dict[str, str]]]] = [
    Traffic.command,
    Traffic.click,
    Traffic.command,
    Traffic.mention,
    Traffic.command,
    Traffic.alert,
]


async def drive(traffic: Traffic, bases: list[str]) -> None:
    async with aiohttp.ClientSession() as http:

        async def one(base: str, path: str, body: bytes, headers: dict[str, str]) -> None:
            started = time.perf_counter()
            try:
                async with http.post(base + path, data=body, headers=headers) as resp:
                    await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                traffic.failures.append(f"{path}: {exc!r}")
                return
            if status != 200:
                traffic.failures.append(f"{path}: HTTP {status}")
                return
            ms = (time.perf_counter() - started) * 1000
            traffic.acks.setdefault(base, []).append(ms)

        tasks = []
        t0 = time.perf_counter()
        for i in range(RATE * SECONDS):
            delay = t0 + i / RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            traffic.n = i
            path, body, headers = MIX[i % len(MIX)](traffic)
            tasks.append(asyncio.create_task(one(bases[i % len(bases)], path, body, headers)))
        await asyncio.gather(*tasks)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def mention_answers(slack: FakeSlack, ts: str, user: str) -> int:
    replies = slack.messages(GENERAL, thread_ts=ts)[1:]
    ephemerals = [e for e in slack.ephemerals if e["user"] == user]
    return len([r for r in replies if r.get("user") == BOT_USER_ID]) + len(ephemerals)


def alert_posts(slack: FakeSlack, name: str) -> int:
    return len(
        [
            m
            for m in slack.messages(ALERTS)
            if m.get("user") == BOT_USER_ID and name in json.dumps(m.get("blocks") or m["text"])
        ]
    )


async def test_mixed_load_on_two_replicas_loses_and_doubles_nothing(
    pg_engine: Engine, tmp_path: Path
) -> None:
    db_url = pg_engine.url.render_as_string(hide_password=False)
    with fake_slack() as slack:
        env = {
            "DATABASE_URL": db_url,
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": slack_requests.SECRET,
            "SLACK_API_URL": slack.base_url,
            "COPILOT_ALERTS_CHANNEL": "incidents",
            "COPILOT_SCHEDULER_ENABLED": "false",
            "COPILOT_LOG_LEVEL": "WARNING",
        }
        assert cli("check-config", env=env).returncode == 0
        with (
            serving(env, log_path=tmp_path / "a.log") as (one_process, _a),
            serving(env, args=("--workers", "2"), log_path=tmp_path / "b.log") as (ingress, _b),
        ):
            traffic = Traffic(slack)
            await drive(traffic, [one_process, ingress])
            sent = RATE * SECONDS
            assert traffic.failures == []

            def answered() -> bool:
                return all(slack.response_posts(u) for u in traffic.responses) and all(
                    mention_answers(slack, ts, user) for ts, user in traffic.mentions
                )

            started = time.monotonic()
            await wait_until(answered, within=120, interval=0.2)
            drained = time.monotonic() - started
            await asyncio.sleep(1.0)  # a doubled answer would show up now

            assert [len(slack.response_posts(u)) for u in traffic.responses] == [1] * len(
                traffic.responses
            )
            assert [mention_answers(slack, ts, u) for ts, u in traffic.mentions] == [1] * len(
                traffic.mentions
            )
            await wait_until(lambda: all(alert_posts(slack, g) for g in traffic.groups), 60)
            assert [alert_posts(slack, g) for g in traffic.groups] == [1] * len(traffic.groups)

            with pg_engine.connect() as conn:
                inbox = dict(
                    conn.execute(text("SELECT status, count(*) FROM inbox_event GROUP BY 1")).all()
                )
                outbox = dict(
                    conn.execute(
                        text("SELECT status, count(*) FROM outbox_message GROUP BY 1")
                    ).all()
                )
                failed = conn.execute(
                    text(
                        "SELECT op, user_id, channel_id, last_error, payload "
                        "FROM outbox_message WHERE status <> 'sent'"
                    )
                ).all()
            assert inbox == {"done": sent}
            assert set(outbox) == {"sent"}, failed

    every = [ms for values in traffic.acks.values() for ms in values]
    print(
        f"\nquick load: {sent} requests at {RATE}/s over 2 replicas (one process; 2 workers), "
        f"0 errors; ack p50 {pct(every, 50):.1f} ms, p99 {pct(every, 99):.1f} ms; "
        f"all answered {drained:.1f} s after the last request"
    )
    for base, label in ((one_process, "one process"), (ingress, "--workers 2")):
        values = traffic.acks[base]
        print(f"  {label}: p50 {pct(values, 50):.1f} ms, p99 {pct(values, 99):.1f} ms")
