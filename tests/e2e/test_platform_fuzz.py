"""Random mutations of the real payloads against every inbound endpoint of the real app.

Invariants: never a 5xx, never a stack trace in a body, no handler/bolt error logged while
serving, and unsigned (or wrongly authenticated) requests change nothing (the inbox stays
empty, no chat call). ~1,000 cases by default; COPILOT_FUZZ_CASES=<n> sets the count
(`make soak` runs the `-m slow` test with FUZZ_CASES=10000 and prints cases, 5xx, seconds).
Fixed seed by default; COPILOT_FUZZ_SEED=<n> explores (printed on failure).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.config import load_settings
from bot.platforms.mattermost_render import sign_context
from tests.fakes import mattermost_requests as mr
from tests.fakes import slack_requests
from tests.fakes.mattermost import FakeMattermost
from tests.fakes.slack_api import FakeSlack
from tests.platforms.slack_app import inbox_count

PAYLOADS = Path(__file__).parent.parent / "contracts" / "slack" / "payloads"
ALERTS = Path(__file__).parent.parent / "contracts" / "prometheus"
AM_TOKEN = "fuzz-am-token"
MM_TOKEN = "fuzz-command-token"
ACTION_SECRET = "fuzz-action-secret"
CASES = int(os.environ.get("COPILOT_FUZZ_CASES", "1000"))
SEED = int(os.environ.get("COPILOT_FUZZ_SEED", "20261129"))  # fixed: reproducible CI

WEIRD: list[Any] = [
    None,
    "",
    0,
    -1,
    2**63,
    1.5e308,
    True,
    [],
    {},
    "x" * 5000,
    "<@U0000BOT1>",
    "\u0000\ud7ff\u202e",
    "'; DROP TABLE inbox_event; --",
    "${jndi:ldap://x}",
    "../../etc/passwd",
    [{"a": None}],
    {"type": "event_callback"},
    "💥" * 100,
]


def _json_payloads() -> list[dict[str, Any]]:
    out = []
    for path in sorted(PAYLOADS.glob("*.json")):
        data = json.loads(path.read_text())
        if path.name.startswith("socket_mode."):
            data = data.get("payload") or {}
        if isinstance(data, dict) and data:
            out.append(data)
    return out


def _alerts() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(ALERTS.glob("0*.json"))]


def mutate(rng: random.Random, value: Any, depth: int = 0) -> Any:
    """A random structural mutation: drop, retype, replace or recurse."""
    if isinstance(value, dict) and value and depth < 6:
        value = dict(value)
        key = rng.choice(list(value))
        roll = rng.random()
        if roll < 0.2:
            del value[key]
        elif roll < 0.45:
            value[key] = rng.choice(WEIRD)
        elif roll < 0.55:
            value[rng.choice(["type", "event", "actions", "user", "view", "x"])] = rng.choice(WEIRD)
        else:
            value[key] = mutate(rng, value[key], depth + 1)
        return value
    if isinstance(value, list) and value and depth < 6:
        value = list(value)
        i = rng.randrange(len(value))
        if rng.random() < 0.3:
            del value[i]
        else:
            value[i] = mutate(rng, value[i], depth + 1)
        return value
    if isinstance(value, str) and value and rng.random() < 0.5:
        i = rng.randrange(len(value))
        return value[:i] + rng.choice(["", "\x00", "%", "&", "=", "{", "é", "\n"]) + value[i + 1 :]
    return rng.choice(WEIRD)


def mutations(rng: random.Random, base: Any) -> Any:
    data = base
    for _ in range(rng.randint(1, 4)):
        data = mutate(rng, data)
    return data


def _form(data: Any) -> bytes:
    if not isinstance(data, dict):
        return str(data).encode("utf-8", "surrogatepass")
    return urlencode(
        {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
    ).encode()


class Case:
    def __init__(self, path: str, body: bytes, headers: dict[str, str], authentic: bool) -> None:
        self.path, self.body, self.headers, self.authentic = path, body, headers, authentic

    def __repr__(self) -> str:
        return f"{self.path} authentic={self.authentic} body={self.body[:300]!r}"


def make_case(
    rng: random.Random, slack_bases: list[Any], alerts: list[Any], authentic: bool
) -> Case:
    kind = rng.choice(
        [
            "slack_event",
            "slack_interactive",
            "slack_command",
            "mm_command",
            "mm_action",
            "alertmanager",
            "raw",
        ]
    )
    if kind == "raw":
        body = rng.randbytes(rng.randint(0, 300))
        path = rng.choice(
            ["/slack/events", "/mattermost/command", "/mattermost/actions", "/alertmanager/webhook"]
        )
        ctype = rng.choice(["application/json", "application/x-www-form-urlencoded", ""])
        headers = {"Content-Type": ctype} if ctype else {}
        if authentic and path == "/slack/events":
            body, headers = slack_requests.signed(body, ctype or "application/json")
        return Case(path, body, headers, authentic)
    if kind.startswith("slack"):
        if kind == "slack_event":
            data = mutations(rng, rng.choice(slack_bases))
            body = json.dumps(data).encode()
            ctype = "application/json"
        elif kind == "slack_interactive":
            data = mutations(rng, rng.choice(slack_bases))
            body = ("payload=" + quote(json.dumps(data))).encode()
            ctype = "application/x-www-form-urlencoded"
        else:
            form = slack_requests.slash_command_form(command="/copilot", text="help")
            data = mutations(rng, form)
            body = _form(data)
            ctype = "application/x-www-form-urlencoded"
        if authentic:
            return Case("/slack/events", *slack_requests.signed(body, ctype), authentic)
        forged = rng.choice(
            [
                slack_requests.signed(body, ctype, secret="wrong"),
                slack_requests.signed(body, ctype, timestamp=int(time.time()) - 3600),
                (body, {"Content-Type": ctype}),
            ]
        )
        return Case("/slack/events", *forged, authentic)
    if kind == "mm_command":
        form = dict(mr.slash_command_form(MM_TOKEN if authentic else "bad-token", text="help"))
        data = mutations(rng, form)
        if authentic and isinstance(data, dict):
            data["token"] = MM_TOKEN
        elif isinstance(data, dict):
            data["token"] = rng.choice(["", "bad-token", MM_TOKEN + "x"])
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return Case("/mattermost/command", _form(data), headers, authentic)
    if kind == "mm_action":
        ctx = {"action_id": "incident:status", "value": "1"}
        channel = mr.CHANNEL_ID
        ctx["sig"] = sign_context(ACTION_SECRET, ctx["action_id"], ctx["value"], channel)
        data = mr.action_payload(ctx, channel_id=channel)
        if authentic:
            data = (
                {
                    k: (mutations(rng, v) if k not in ("context", "channel_id") else v)
                    for k, v in data.items()
                }
                if rng.random() < 0.7
                else data
            )
        else:
            forged = mutations(rng, ctx)
            signed = ("action_id", "value", "sig")
            if isinstance(forged, dict) and all(
                str(forged.get(k, "")) == str(ctx[k]) for k in signed
            ):  # only unsigned extras changed: that is not a forgery, make it one
                forged["sig"] = "0" * 64
            data["context"] = forged
        headers = {"Content-Type": "application/json"}
        return Case("/mattermost/actions", json.dumps(data).encode(), headers, authentic)
    data = mutations(rng, rng.choice(alerts))
    headers = {"Content-Type": "application/json"}
    if authentic:
        headers["Authorization"] = f"Bearer {AM_TOKEN}"
    else:
        headers["Authorization"] = rng.choice(["", "Bearer nope", f"Basic {AM_TOKEN}"])
    return Case("/alertmanager/webhook", json.dumps(data).encode(), headers, authentic)


@pytest.fixture
def fakes() -> Iterator[tuple[FakeSlack, FakeMattermost]]:
    slack = FakeSlack(check_contract=False)
    mm = FakeMattermost(check_contract=False, check_responses=False)
    slack.start_in_thread()
    mm.start_in_thread()
    try:
        yield slack, mm
    finally:
        mm.stop_thread()
        slack.stop_thread()


async def send(client: TestClient, case: Case) -> Any:
    try:
        return await asyncio.wait_for(
            client.post(case.path, data=case.body, headers=case.headers), 30
        )
    except TimeoutError:
        raise AssertionError(f"no answer in 30 s (seed {SEED}): {case}") from None


async def run_fuzz(
    fakes: tuple[FakeSlack, FakeMattermost],
    db_url: str,
    cases: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    slack, mm = fakes
    settings = load_settings(
        database_url=db_url,
        slack_bot_token=slack.bot_token,
        slack_signing_secret=slack_requests.SECRET,
        slack_api_url=slack.base_url,
        mattermost_url=f"http://127.0.0.1:{mm.port}",
        mattermost_token=mm.bot_token,
        mattermost_command_tokens=MM_TOKEN,
        copilot_action_secret=ACTION_SECRET,
        alertmanager_webhook_token=AM_TOKEN,
        copilot_scheduler_enabled=False,
    )
    app = create_app(settings)
    client = TestClient(TestServer(app.web))
    await client.start_server()
    rng = random.Random(SEED)
    slack_bases, alerts = _json_payloads(), _alerts()
    statuses: collections.Counter[int] = collections.Counter()
    started = time.monotonic()
    caplog.set_level(logging.ERROR)
    try:
        slack.reset_calls()
        mm.reset_calls()
        # phase 1: nothing authentic may change anything
        for _ in range(cases // 2):
            case = make_case(rng, slack_bases, alerts, authentic=False)
            resp = await send(client, case)
            text = await resp.text()
            statuses[resp.status] += 1
            assert resp.status in (400, 401, 403, 404, 405, 415), (SEED, case, resp.status, text)
            assert "Traceback" not in text, (SEED, case)
        await app.idle()
        assert inbox_count(app) == 0, SEED
        assert [c for c in slack.requests if c.method != "auth.test"] == [], SEED
        # phase 2: authentic but mutated: handled or refused, never a 5xx
        for _ in range(cases - cases // 2):
            case = make_case(rng, slack_bases, alerts, authentic=True)
            resp = await send(client, case)
            text = await resp.text()
            statuses[resp.status] += 1
            assert resp.status < 500, (SEED, case, resp.status, text)
            assert "Traceback" not in text, (SEED, case)
        serving_errors = [
            r for r in caplog.records if r.name == "bot.http" and r.levelno >= logging.ERROR
        ]
        assert serving_errors == [], (SEED, [r.exc_text for r in serving_errors][:3])
        fivexx = sum(n for status, n in statuses.items() if status >= 500)
        print(  # the figures (pytest -s; `make soak`)
            f"\nfuzz: cases={cases} seed={SEED} 5xx={fivexx} "
            f"statuses={dict(sorted(statuses.items()))} seconds={time.monotonic() - started:.1f}"
        )
    finally:
        app.outbox and await app.outbox.stop()  # undeliverable garbage must not hold us up
        await client.close()


async def test_fuzz_inbound_endpoints(
    fakes: tuple[FakeSlack, FakeMattermost], db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await run_fuzz(fakes, db_url, CASES, caplog)


@pytest.mark.slow
async def test_fuzz_inbound_endpoints_long(
    fakes: tuple[FakeSlack, FakeMattermost], sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await run_fuzz(fakes, sqlite_url, max(CASES, 10_000), caplog)


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    import shutil

    path = tmp_path / "copilot.db"
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite:///{path}"
