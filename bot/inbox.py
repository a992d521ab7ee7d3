"""Durable dedupe of incoming events: recorded before the ack, processed once.

`record` is one `INSERT ... ON CONFLICT DO NOTHING`: the first delivery of an event wins,
retries (Slack `X-Slack-Retry-Num`, websocket redelivery, every replica seeing the same
Mattermost post) find the row and are acknowledged without being handled again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlmodel import select

from bot.events import Event
from storage.db import unit_of_work
from storage.models.core import InboxEvent


def record(engine: Engine, event: Event) -> bool:
    """Store the event; True when it is new, False when it was seen before."""
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(InboxEvent)
        .values(
            platform=str(event.platform),
            event_id=event.event_id[:255],
            kind=str(event.kind),
            payload=event.model_dump_json(),
            status="received",
            received_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing(index_elements=["platform", "event_id"])
        .returning(InboxEvent.id)
    )
    with engine.begin() as conn:
        return conn.execute(stmt).first() is not None


def claim(conn: Connection, event: Event) -> bool:
    """Move the event from received to processing (in the caller's transaction); False if
    someone else has it. Core statements: this runs for every event (hot path)."""
    res = conn.execute(
        update(InboxEvent)
        .where(
            InboxEvent.platform == str(event.platform),
            InboxEvent.event_id == event.event_id[:255],
            InboxEvent.status == "received",
        )
        .values(status="processing")
    )
    return res.rowcount == 1


def finish(engine: Engine, event: Event, *, error: str | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(InboxEvent)
            .where(
                InboxEvent.platform == str(event.platform),
                InboxEvent.event_id == event.event_id[:255],
            )
            .values(
                status="failed" if error else "done",
                finished_at=datetime.now(UTC),
                error=error[:4000] if error else None,
            )
        )


def stranded(engine: Engine, *, older_than: timedelta, limit: int = 100) -> list[Event]:
    """Events acknowledged but never processed (the process died between ack and handling)."""
    cutoff = datetime.now(UTC) - older_than
    with unit_of_work(engine) as s:
        rows = s.exec(
            select(InboxEvent)
            .where(InboxEvent.status == "received", InboxEvent.received_at < cutoff)
            .order_by(InboxEvent.id)
            .limit(limit)
        ).all()
        return [Event.model_validate_json(r.payload) for r in rows]


def interrupted(engine: Engine, *, older_than: timedelta) -> int:
    """Mark events stuck in `processing` (their process died) as failed; return how many."""
    cutoff = datetime.now(UTC) - older_than
    with unit_of_work(engine) as s:
        res = s.exec(
            update(InboxEvent)
            .where(InboxEvent.status == "processing", InboxEvent.received_at < cutoff)
            .values(status="failed", error="interrupted: the process stopped while handling it")
        )
        return res.rowcount
