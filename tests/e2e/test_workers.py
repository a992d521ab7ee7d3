"""`console-copilot serve --workers N`: the serving process acknowledges, worker processes handle.

Real processes on SQLite and PostgreSQL, the fake Slack behind SLACK_API_URL, signed slash
commands over HTTP: every command answered exactly once, a killed worker started again, and no
worker outlives its serving process (stopped or killed).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from storage.db import make_engine
from tests.fakes import slack_requests
from tests.fakes._server import wait_until
from tests.fakes.slack_api import FakeSlack
from tests.helpers.server import serving
from tests.platforms.slack_app import copilot_help, fake_slack

pytestmark = pytest.mark.timeout(240)


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def _metric(base: str, name: str) -> float | None:
    """The sum of a metric's samples named `name` on /metrics (None when absent)."""
    async with aiohttp.ClientSession() as http, http.get(base + "/metrics") as resp:
        assert resp.status == 200
        body = await resp.text()
    values = [
        sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == name
    ]
    return sum(values) if values else None


async def _wait_for_metric(base: str, name: str, at_least: float, within: float = 10) -> float:
    """The metric's value once it reaches `at_least`, or the last value read after `within` s."""
    value = 0.0
    for _ in range(int(within / 0.1)):
        value = await _metric(base, name) or 0.0
        if value >= at_least:
            break
        await asyncio.sleep(0.1)
    return value


async def _commands(base: str, slack: FakeSlack, n: int, tag: str) -> list[str]:
    urls = [slack.response_url() for _ in range(n)]
    async with aiohttp.ClientSession() as http:

        async def one(i: int, url: str) -> None:
            body, headers = copilot_help(url, f"{i}.4242.{tag}")
            async with http.post(base + "/slack/events", data=body, headers=headers) as resp:
                assert resp.status == 200, await resp.text()

        await asyncio.gather(*(one(i, u) for i, u in enumerate(urls)))
    return urls


def _env(db_url: str, slack: FakeSlack) -> dict[str, str]:
    return {
        "DATABASE_URL": db_url,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack_requests.SECRET,
        "SLACK_API_URL": slack.base_url,
        "COPILOT_SCHEDULER_ENABLED": "false",
    }


async def test_workers_answer_every_command_once_and_come_back(db_url: str, tmp_path: Path) -> None:
    with (
        fake_slack() as slack,
        serving(_env(db_url, slack), args=("--workers", "2"), log_path=tmp_path / "s.log") as (
            base,
            proc,
        ),
    ):
        await wait_until(lambda: len(_children(proc.pid)) == 2, within=30)
        workers = _children(proc.pid)
        assert await _metric(base, "copilot_workers") == 2.0

        urls = await _commands(base, slack, 60, "first")
        await wait_until(lambda: all(slack.response_posts(u) for u in urls), within=60)
        # killed once its deliveries are recorded and counted: a worker killed between a post
        # and its `sent` leaves the row leased, and the outbox posts it again when the lease
        # (60 s) runs out (at least once, by design), which this test does not wait for; one
        # killed between its `sent` and the counter's increment takes that count with it
        await wait_until(lambda: _statuses(db_url, "outbox_message") == {"sent": 60}, within=30)
        assert await _wait_for_metric(base, "copilot_outbox_deliveries_total", 60) == 60

        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        await wait_until(lambda: victim not in (c := _children(proc.pid)) and len(c) == 2, 30)
        assert victim not in _children(proc.pid)

        more = await _commands(base, slack, 40, "second")
        await wait_until(lambda: all(slack.response_posts(u) for u in more), within=60)
        await asyncio.sleep(0.5)  # a doubled answer would arrive now
        assert [len(slack.response_posts(u)) for u in urls + more] == [1] * 100
        assert all("/copilot" in str(slack.response_posts(u)[0]) for u in urls + more)

        assert _statuses(db_url) == {"done": 100}
        # the workers' own counts reach the serving process's /metrics (multiprocess mode),
        # the killed worker's included
        assert await _metric(base, "copilot_handler_seconds_count") == 100
        assert await _metric(base, "copilot_events_total") == 100
        # counted once the delivery is recorded, just after the post the fake has seen
        assert await _wait_for_metric(base, "copilot_outbox_deliveries_total", 100) == 100
        assert await _metric(base, "copilot_workers") == 2.0

        workers = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)  # stopping the serving process stops its workers
        proc.wait(timeout=30)
        assert proc.returncode == 0
        assert not [w for w in workers if _alive(w)]


async def test_a_worker_killed_mid_command_fails_it_and_tells_the_asker(
    db_url: str, tmp_path: Path
) -> None:
    """The digest's Prometheus query hangs (a listener that never answers), the worker is
    SIGKILLed while handling it: the serving process fails the event and the person who asked
    hears so through its response_url, once, from the restarted worker's outbox."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections complete in the kernel; nothing ever answers
    with fake_slack() as slack:
        env = {
            **_env(db_url, slack),
            "PROMETHEUS_URL": f"http://127.0.0.1:{silent.getsockname()[1]}",
        }
        with serving(env, args=("--workers", "1"), log_path=tmp_path / "s.log") as (base, proc):
            await wait_until(lambda: len(_children(proc.pid)) == 1, within=30)
            (worker,) = _children(proc.pid)
            url = slack.response_url()
            body, headers = copilot_help(url, "1.4242.hang", text="digest now")
            async with (
                aiohttp.ClientSession() as http,
                http.post(base + "/slack/events", data=body, headers=headers) as resp,
            ):
                assert resp.status == 200
            await wait_until(lambda: _statuses(db_url) == {"processing": 1}, within=30)
            os.kill(worker, signal.SIGKILL)

            await wait_until(lambda: _statuses(db_url) == {"failed": 1}, within=30)
            await wait_until(lambda: slack.response_posts(url), within=30)  # restarted worker
            await asyncio.sleep(0.5)  # a second notice would arrive now
            (notice,) = slack.response_posts(url)
            assert "stopped while handling `/copilot digest now`" in notice["text"]
            assert notice.get("response_type", "ephemeral") == "ephemeral"
            assert _children(proc.pid) and worker not in _children(proc.pid)
    silent.close()


async def test_workers_stop_when_the_serving_process_is_killed(
    sqlite_url: str, tmp_path: Path
) -> None:
    with (
        fake_slack() as slack,
        serving(_env(sqlite_url, slack), args=("--workers", "2")) as (_base, proc),
    ):
        await wait_until(lambda: len(_children(proc.pid)) == 2, within=30)
        workers = _children(proc.pid)
        proc.kill()
        proc.wait(timeout=10)
        with contextlib.suppress(TimeoutError):  # the assertion below says which survived
            await wait_until(lambda: not any(_alive(w) for w in workers), within=20, interval=0.1)
        assert not [w for w in workers if _alive(w)], "a worker outlived its serving process"


async def test_ingress_only_leaves_the_handling_to_a_separate_worker(
    db_url: str, tmp_path: Path
) -> None:
    with (
        fake_slack() as slack,
        serving(_env(db_url, slack), args=("--ingress-only",)) as (base, proc),
    ):
        assert _children(proc.pid) == set()
        urls = await _commands(base, slack, 10, "ingress")
        await asyncio.sleep(1.5)  # an in-process handler would have answered by now
        assert [slack.response_posts(u) for u in urls] == [[]] * 10
        assert _statuses(db_url) == {"received": 10}

        log = (tmp_path / "worker.log").open("w")
        worker = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "bot.cli", "worker"],
            env={**os.environ, **_env(db_url, slack)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            await wait_until(lambda: all(slack.response_posts(u) for u in urls), within=60)
            await asyncio.sleep(0.5)
            assert [len(slack.response_posts(u)) for u in urls] == [1] * 10
            assert _statuses(db_url) == {"done": 10}
        finally:
            worker.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(worker.wait(), 30) == 0
            log.close()


async def test_idle_workers_on_postgresql_wait_for_a_notify_instead_of_polling(
    pg_url: str, tmp_path: Path
) -> None:
    """Polling every 20 ms, two idle workers ran about 400 transactions in 4 s; LISTENing,
    they look once a second (and the serving process NOTIFYs each new event)."""
    with (
        fake_slack() as slack,
        serving(_env(pg_url, slack), args=("--workers", "2"), log_path=tmp_path / "s.log") as (
            base,
            proc,
        ),
    ):
        await wait_until(lambda: len(_children(proc.pid)) == 2, within=30)
        urls = await _commands(base, slack, 5, "warm")
        await wait_until(lambda: all(slack.response_posts(u) for u in urls), within=60)
        await asyncio.sleep(1.5)  # the warm-up's statistics reach pg_stat_database
        before = _transactions(pg_url)
        await asyncio.sleep(4)
        idle = _transactions(pg_url) - before
        assert idle < 100, f"{idle} transactions in 4 s of idleness"
        more = await _commands(base, slack, 5, "after-idle")
        await wait_until(lambda: all(slack.response_posts(u) for u in more), within=30)
        assert [len(slack.response_posts(u)) for u in urls + more] == [1] * 10


def _transactions(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                        "WHERE datname = current_database()"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


@pytest.fixture
def pg_url(_pg_migrated: str) -> str:
    from tests.conftest import _truncate_pg

    _truncate_pg(_pg_migrated)
    return _pg_migrated


def _statuses(db_url: str, table: str = "inbox_event") -> dict[str, int]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(f"SELECT status, count(*) FROM {table} GROUP BY 1"))
            return {str(k): int(v) for k, v in rows.all()}
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    import shutil

    path = tmp_path / "copilot.db"
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite:///{path}"
