"""Slow or unreachable dependencies never delay the Slack ack (issue #10).

Prometheus stalling and Alertmanager refusing connections, the Anthropic API slow or
overloaded, the Kubernetes API unreachable or slow: the signed slash command's HTTP response
comes back within Slack's 3 s (measured on the bot's own response, a contract bound, not a
benchmark), and the eventual answer says which dependency was unavailable. Real clients with
short timeouts (the production defaults are 10 s and 60 s) keep the test quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from aiohttp import web

from bot.clients.alertmanager import AlertmanagerClient
from bot.clients.llm import LLM
from bot.clients.prometheus import PrometheusClient
from tests.fakes import slack_requests
from tests.fakes.anthropic import FakeAnthropic, Slow, overloaded
from tests.fakes.anthropic import fake_anthropic_fixture as fake_anthropic  # noqa: F401
from tests.fakes.slack_api import TEAM_ID, FakeSlack
from tests.helpers.server import free_port
from tests.platforms.slack_app import (
    ALICE,
    GENERAL,
    SlackBot,
    fake_slack,
    kubeconfig_for,
    running,
    slack_settings,
)

SLACK_ACK_LIMIT = 3.0  # Slack shows the user an error when the ack takes longer
_trigger = itertools.count(1)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


class StallingServer:
    """Accepts connections and answers nothing for `seconds` (a hung Prometheus)."""

    def __init__(self, seconds: float = 30.0) -> None:
        self.seconds = seconds
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.hits = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        await asyncio.sleep(self.seconds)
        return web.json_response({"status": "success", "data": {"resultType": "vector"}})

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            runner = web.AppRunner(app, shutdown_timeout=0.1)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self._stop = asyncio.Event()
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()

        self._loop.run_until_complete(main())

    def __enter__(self) -> StallingServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


async def command(bot: SlackBot, name: str, text: str) -> tuple[float, str]:
    """Send a signed slash command; return the bot's HTTP ack time and the response_url."""
    url = bot.slack.response_url()
    body, headers = slack_requests.slash_command(
        command=name,
        text=text,
        user_id=ALICE,
        user_name="alice",
        channel_id=GENERAL,
        channel_name="general",
        team_id=TEAM_ID,
        team_domain="fake",
        enterprise_id="",
        enterprise_name="",
        response_url=url,
        trigger_id=f"{next(_trigger)}.555.slow",
    )
    started = time.perf_counter()
    resp = await bot.post(body, headers)
    elapsed = time.perf_counter() - started
    assert resp.status == 200, await resp.text()
    assert elapsed < SLACK_ACK_LIMIT, f"{name} {text}: acked after {elapsed:.2f} s"
    print(f"\n{name} {text}: acked in {elapsed * 1000:.0f} ms")  # the figure (pytest -s)
    return elapsed, url


def everything_said(slack: FakeSlack, url: str) -> str:
    """All the bot said about it: response_url posts, channel posts, ephemerals."""
    said = [*slack.response_posts(url), *slack.messages(GENERAL), *slack.ephemerals]
    return json.dumps(said, ensure_ascii=False)


async def test_digest_with_prometheus_hung(slack: FakeSlack, db_url: str) -> None:
    with StallingServer() as prom:
        settings = slack_settings(slack, db_url, prometheus_url=prom.url)
        async with running(settings, slack) as bot:
            bot.app.services.prometheus = PrometheusClient(prom.url, timeout=1.5)
            _, url = await command(bot, "/digest", "now")
            await bot.app.idle(limit=120)
            said = everything_said(slack, url)
            assert prom.hits >= 1  # the stalled Prometheus was really asked
            assert "unavailable: prometheus: timed out after 1.5s" in said, said[:3000]


async def test_digest_with_alertmanager_down(slack: FakeSlack, db_url: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    settings = slack_settings(slack, db_url, alertmanager_url=dead)
    async with running(settings, slack) as bot:
        bot.app.services.alertmanager = AlertmanagerClient(dead, timeout=1.5)
        _, url = await command(bot, "/digest", "now")
        await bot.app.idle(limit=60)
        said = everything_said(slack, url)
        assert "unavailable: alertmanager:" in said, said[:3000]
        assert "alertmanager: not configured" not in said


async def test_copilot_with_the_model_slow_then_overloaded(
    slack: FakeSlack,
    db_url: str,
    fake_anthropic: FakeAnthropic,  # noqa: F811
) -> None:
    settings = slack_settings(
        slack, db_url, anthropic_api_key="test-key", anthropic_base_url=fake_anthropic.url
    )
    async with running(settings, slack) as bot:
        client = anthropic.Anthropic(
            api_key="test-key", base_url=fake_anthropic.url, max_retries=1, timeout=1.0
        )
        bot.app.services.llm = LLM(client, "claude-test")
        fake_anthropic.script(Slow(4.0), Slow(4.0))  # every attempt times out
        _, slow_url = await command(bot, "/copilot", "ask open incidents")
        await bot.app.idle(limit=60)
        said = everything_said(slack, slow_url)
        assert "language model is unavailable" in said, said[:3000]
        assert "No incidents." in said  # the rules answer still comes

        fake_anthropic.script(overloaded(), overloaded())
        _, busy_url = await command(bot, "/copilot", "ask open incidents")
        await bot.app.idle(limit=60)
        said = everything_said(slack, busy_url)
        assert "language model is unavailable (overloaded)" in said, said[:3000]


async def test_runbook_with_kubernetes_unreachable_then_slow(
    slack: FakeSlack, db_url: str, tmp_path: Path
) -> None:
    cluster = kubeconfig_for(tmp_path)
    try:
        settings = slack_settings(
            slack, db_url, kubeconfig=str(cluster.kubeconfig), copilot_demo_cluster=True
        )
        async with running(settings, slack) as bot:
            kube: Any = bot.app.services.kubernetes
            kube.timeout = 1.5
            # slow: every deployment read stalls longer than the client waits
            cluster.server.cluster.fail("GET", "/deployments/cart", 504, delay=5.0, times=10)
            _, slow_url = await command(
                bot, "/runbook", "run restart-deployment namespace=shop deployment=cart"
            )
            await bot.app.idle(limit=60)
            said = everything_said(slack, slow_url)
            assert "The Kubernetes API did not answer in time" in said, said[:3000]
            assert "pending_approval" not in said

            cluster.server.cluster.faults.clear()
            cluster.server.stop()  # unreachable: connection refused
            _, down_url = await command(
                bot, "/runbook", "run restart-deployment namespace=shop deployment=cart"
            )
            await bot.app.idle(limit=60)
            said = json.dumps(
                slack.response_posts(down_url) + slack.ephemerals[-1:], ensure_ascii=False
            )
            assert "The Kubernetes API is unreachable" in said, said[:3000]
    finally:
        with contextlib.suppress(RuntimeError):  # already stopped above
            cluster.stop()
