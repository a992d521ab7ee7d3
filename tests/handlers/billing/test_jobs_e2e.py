"""The scheduled billing job end to end: BILLING_SOURCE → refresh → /cost through the local
workspace; one alert per injected anomaly and one freshness alarm per stale episode."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import CopilotApp, create_app
from bot.config import load_settings
from bot.i18n import Translator
from tests.handlers.billing.conftest import SAMPLE, direct_sum, sample_rows, write_rows

Local = tuple[CopilotApp, TestClient]
JOB = "billing:refresh"
START = datetime(2024, 10, 1, 2, tzinfo=UTC)


@pytest.fixture
async def local(db_url: str, tmp_path: Path) -> AsyncIterator[Local]:
    source = tmp_path / "exports"
    source.mkdir()
    shutil.copy(SAMPLE, source / "2024-09.csv")
    settings = load_settings(
        database_url=db_url,
        copilot_demo=True,
        billing_source=str(source),
        billing_anomaly_min_impact=5.0,
    )
    app = create_app(settings)
    app.runtime.clock = lambda: START
    client = TestClient(TestServer(app.web))
    await client.start_server()
    app.scheduler.token = app.scheduler.renew()
    yield app, client
    await client.close()


def _run(app: CopilotApp, slot: datetime) -> str:
    spec = app.scheduler.load_specs()[JOB]
    return app.scheduler.fire(spec, slot)


async def _messages(local: Local, channel: str, user: str = "carol") -> list[Any]:
    app, client = local
    await app.idle()
    r = await client.get("/api/local/messages", params={"channel": channel, "user": user})
    return [m for m in (await r.json())["messages"] if m["user_id"] == "copilot"]


async def _ask(local: Local, text: str) -> list[Any]:
    app, client = local
    r = await client.post(
        "/api/local/send", json={"user": "carol", "channel": "C-finops", "text": text}
    )
    assert r.status == 200, await r.text()
    await app.idle()
    return await _messages(local, "C-finops")


async def test_refresh_then_cost_top_matches_the_file(local: Local) -> None:
    app, _ = local
    assert JOB in app.scheduler.load_specs()
    assert _run(app, START) == "done"
    bot = await _ask(local, "/cost top --by service --from 2024-09-01 --to 2024-09-30 --n 50")
    text = bot[-1]["text"]
    fmt = Translator("en")
    expected = sorted(direct_sum(SAMPLE, "ServiceName").items(), key=lambda kv: -kv[1])
    lines = [ln for ln in text.splitlines() if re.match(r"^\d+\. ", ln)]
    assert len(lines) == len(expected)
    for line, (service, cost) in zip(lines, expected, strict=True):
        assert line.split(". ", 1)[1] == f"{service}: {fmt.money(round(cost, 2), 'USD')}"


async def test_forecast_shows_its_measured_backtest_error(local: Local) -> None:
    app, _ = local
    _run(app, START)
    bot = await _ask(local, "/cost forecast")
    text = str(bot[-1]["message"])
    assert "Month-end forecast" in text
    assert re.search(r"Backtest at mid-month over 1 month: MAPE [\d.]+%", text), text


async def test_each_new_anomaly_is_posted_once(local: Local, tmp_path: Path) -> None:
    app, _ = local
    assert _run(app, START) == "done"
    header, rows = sample_rows()
    spike = dict(rows[0])  # a new export with one EC2 hour 20x the service's usual day
    spike.update(
        ServiceName="Amazon Elastic Compute Cloud",
        ChargePeriodStart="2024-09-27 10:00:00",
        ChargePeriodEnd="2024-09-27 11:00:00",
        BilledCost="25.0",
        ResourceId="i-injected",
    )
    write_rows(tmp_path / "exports" / "late-2024-09-27.csv", header, [spike])
    assert _run(app, START + timedelta(minutes=15)) == "done"
    assert _run(app, START + timedelta(minutes=30)) == "done"
    alerts = [m for m in await _messages(local, "C-finops") if "Cost anomaly" in m["text"]]
    assert len(alerts) == 1
    body = str(alerts[0]["message"])
    assert "i-injected" in body and "cost:ack" in body and "cost:dismiss" in body
    assert "Not an anomaly" in body and "Acknowledge" in body


async def test_freshness_alarm_once_per_stale_episode(local: Local, tmp_path: Path) -> None:
    app, _ = local
    assert _run(app, START) == "done"
    assert not [m for m in await _messages(local, "C-finops") if "stale" in m["text"]]
    app.runtime.clock = lambda: START + timedelta(hours=12)
    assert _run(app, START + timedelta(hours=12)) == "done"
    assert _run(app, START + timedelta(hours=12, minutes=15)) == "done"
    stale = [m for m in await _messages(local, "C-finops") if "stale" in m["text"]]
    assert len(stale) == 1
    # fresh data ends the episode; going stale again alarms again
    header, rows = sample_rows()
    late = dict(rows[0], ChargePeriodStart="2024-10-01 13:00:00")
    late["ChargePeriodEnd"] = "2024-10-01 14:00:00"
    write_rows(tmp_path / "exports" / "2024-10-01.csv", header, [late])
    app.runtime.clock = lambda: START + timedelta(hours=13)
    assert _run(app, START + timedelta(hours=13)) == "done"
    app.runtime.clock = lambda: START + timedelta(days=1)
    assert _run(app, START + timedelta(days=1)) == "done"
    stale = [m for m in await _messages(local, "C-finops") if "stale" in m["text"]]
    assert len(stale) == 2
