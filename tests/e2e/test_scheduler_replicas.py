"""Leader election and failover with real `console-copilot serve` processes on PostgreSQL.

A digest subscription fires every 5 seconds; the test SIGKILLs the scheduler leader (once with
two replicas, twice with three) and checks that every slot from the first to the last was
posted exactly once, and that another replica took the lease over within the bound
(lease TTL + renew interval, plus start-up slack).
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from storage import scheduler as runs
from storage.db import make_engine, unit_of_work
from storage.models.core import LocalMessage, OutboxMessage
from tests.conftest import _truncate_pg
from tests.helpers.server import serve

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

TTL, RENEW = 3, 1
TAKEOVER_BOUND = TTL + RENEW + 6  # seconds: lease expiry + one renew round + slack
CHANNEL = "C-general"
JOB = "digest:1"


def _send(base: str, text: str) -> None:
    body = json.dumps({"user": "alice", "channel": CHANNEL, "text": text}).encode()
    req = urllib.request.Request(
        base + "/api/local/send", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


def _holder(engine: Engine) -> str | None:
    with unit_of_work(engine) as s:
        row = runs.lease(s, name="scheduler")
        return row.holder if row is not None and row.holder else None


def _done_slots(engine: Engine) -> list[str]:
    with unit_of_work(engine) as s:
        return [r.slot for r in runs.runs(s, job_id=JOB) if r.status == "done"]


def _wait(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _run_failover(db: str, tmp_path: Path, replicas: int, kills: int) -> None:
    _truncate_pg(db)
    engine = make_engine(db)
    env = {
        "DATABASE_URL": db,
        "COPILOT_SCHEDULER_ENABLED": "true",  # conftest turns it off for every other test
        "COPILOT_SCHEDULER_LEASE_TTL": str(TTL),
        "COPILOT_SCHEDULER_RENEW": str(RENEW),
        "COPILOT_LOG_LEVEL": "INFO",
    }
    with ExitStack() as stack:
        bases = [
            stack.enter_context(serve(env, log_path=tmp_path / f"replica{i}.log"))
            for i in range(replicas)
        ]
        _send(bases[-1], '/digest subscribe "*/5 * * * * *" --window 30m')
        killed: set[int] = set()
        takeovers: list[float] = []
        _wait(lambda: len(_done_slots(engine)) >= 2, 30, "the first scheduled digests")
        for _ in range(kills):
            leader = _wait(lambda: _holder(engine), 10, "a leader")
            pid = int(leader.split(":")[1])
            assert pid not in killed
            before = len(_done_slots(engine))
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
            started = time.monotonic()
            _wait(
                lambda leader=leader: (_holder(engine) or leader) != leader,
                TAKEOVER_BOUND,
                "another replica to take the lease over",
            )
            takeovers.append(time.monotonic() - started)
            _wait(lambda b=before: len(_done_slots(engine)) >= b + 2, 30, "digests after failover")
        print(f"take-over times (s): {[round(x, 1) for x in takeovers]} (bound {TAKEOVER_BOUND})")
        # every done run is delivered by a surviving replica's outbox
        _wait(lambda: _delivered(engine) >= len(_done_slots(engine)), 60, "deliveries to finish")
        slots = _done_slots(engine)
    with unit_of_work(engine) as s:
        all_runs = runs.runs(s, job_id=JOB)
        posts = s.exec(select(OutboxMessage).where(OutboxMessage.key.startswith("digest-1-"))).all()
        notes = [
            m.payload
            for m in s.exec(select(LocalMessage).where(LocalMessage.channel_id == CHANNEL)).all()
            if m.payload and "Scheduled digest #1" in m.payload
        ]
    engine.dispose()
    # no gaps: consecutive 5-second slots from the first to the last
    stamps = sorted(int(_ts(x)) for x in slots)
    assert stamps == list(range(stamps[0], stamps[-1] + 5, 5)), slots
    assert {r.status for r in all_runs} <= {"done", "running"}
    # exactly once: one outbox row and one delivered message per slot
    assert len(posts) == len(slots)
    # one delivered chat message per slot (the note's time has minute resolution, so compare
    # counts, not texts)
    assert len(notes) == len(slots)


def _ts(slot: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(slot).timestamp()


def _delivered(engine: Engine) -> int:
    with unit_of_work(engine) as s:
        rows = s.exec(
            select(OutboxMessage).where(
                OutboxMessage.key.startswith("digest-1-"), OutboxMessage.status == "sent"
            )
        ).all()
        return len(rows)


def test_two_replicas_leader_killed(_pg_migrated: str, tmp_path: Path) -> None:
    _run_failover(_pg_migrated, tmp_path, replicas=2, kills=1)


def test_three_replicas_two_leaders_killed(_pg_migrated: str, tmp_path: Path) -> None:
    _run_failover(_pg_migrated, tmp_path, replicas=3, kills=2)
