"""Answers delivered from handler threads: their `sent` marks are written in batches."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot import outbox
from bot.dispatch import STORAGE_DOWN
from bot.messages import Message
from tests.fakes._server import wait_until_sync


def _claimed_answers(engine: Engine, n: int) -> list[str]:
    """n private answers stored as a handler stores them: already claimed (`sending`)."""
    from datetime import UTC, datetime

    rows = [
        outbox.row_values(
            platform="slack",
            op="ephemeral",
            channel_id="C1",
            user_id="U1",
            message=Message(text=f"answer {i}"),
            claimed_until=datetime.now(UTC) + outbox.LEASE,
        )
        for i in range(n)
    ]
    with engine.begin() as conn:
        outbox.store(conn, rows)
    return [row["key"] for row in rows]


def _statuses(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, count(*) FROM outbox_message GROUP BY 1")).all()
    return {s: int(n) for s, n in rows}


def test_a_burst_of_marks_is_written_in_a_few_writes(engine: Engine) -> None:
    keys = _claimed_answers(engine, 60)
    assert _statuses(engine) == {"sending": 60}
    writes: list[int] = []
    marks = outbox.SentMarks(engine, retry_on=STORAGE_DOWN, on_written=writes.append)
    with ThreadPoolExecutor(8) as pool:  # handler threads, each handing over its answer's mark
        list(pool.map(lambda k: marks.add(k, channel="C1"), keys))
    wait_until_sync(lambda: not marks.busy)
    assert _statuses(engine) == {"sent": 60}
    assert sum(writes) == 60 and len(writes) < 10  # one write per burst, not one per answer
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM outbox_message WHERE platform_channel = 'C1'")
            ).scalar_one()
            == 60
        )
    marks.close()


def test_close_writes_what_is_pending_and_later_marks_go_at_once(engine: Engine) -> None:
    keys = _claimed_answers(engine, 3)
    marks = outbox.SentMarks(engine, retry_on=STORAGE_DOWN, linger=5.0)  # a burst never ends
    marks.add(keys[0], channel="C1")
    marks.add(keys[1], channel="C1")
    marks.close()  # does not wait out the linger: the stop writes at once
    assert _statuses(engine) == {"sent": 2, "sending": 1}
    marks.add(keys[2], channel="C1")  # a handler that outlived the stop
    assert _statuses(engine) == {"sent": 3}


def test_a_row_no_longer_sending_is_left_alone(engine: Engine) -> None:
    (key,) = _claimed_answers(engine, 1)
    with engine.begin() as conn:  # the lease ran out and the outbox worker re-took it
        conn.execute(text("UPDATE outbox_message SET status = 'pending'"))
    outbox.mark_sent_keys(engine, [(key, None, "C1")])
    assert _statuses(engine) == {"pending": 1}
