"""Partner intake repository: keyword-only functions over a caller's Session; CAS transitions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.models.core import OutboxMessage
from storage.models.partners import ACTIVE_STATES, Intake, IntakeAnswer


def answers(intake: Intake) -> dict[str, Any]:
    return json.loads(intake.answers_json or "{}")


def meta(intake: Intake) -> dict[str, Any]:
    return json.loads(intake.meta_json or "{}")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def get(session: Session, *, intake_id: int) -> Intake | None:
    return session.get(Intake, intake_id)


def by_slug(session: Session, *, slug: str) -> Intake | None:
    return session.exec(select(Intake).where(Intake.slug == slug)).first()


def slug_taken(session: Session, *, slug: str) -> bool:
    return by_slug(session, slug=slug) is not None


def by_thread(session: Session, *, platform: str, channel_id: str, thread_ts: str) -> Intake | None:
    """The intake whose thread this is (its root message resolved through the outbox)."""
    row = session.exec(
        select(Intake).where(
            Intake.platform == platform,
            Intake.channel_id == channel_id,
            Intake.thread_ts == thread_ts,
        )
    ).first()
    if row is not None:
        return row
    row = session.exec(
        select(Intake)
        .join(OutboxMessage, OutboxMessage.key == Intake.root_key)  # type: ignore[arg-type]
        .where(
            Intake.platform == platform,
            Intake.channel_id == channel_id,
            OutboxMessage.platform_ts == thread_ts,
        )
    ).first()
    if row is not None and row.thread_ts is None:
        row.thread_ts = thread_ts
        session.add(row)
    return row


def create(session: Session, **fields: Any) -> Intake:
    row = Intake(**fields)
    session.add(row)
    session.flush()
    return row


def advance(
    session: Session,
    *,
    intake_id: int,
    expect_state: str,
    expect_current: str | None,
    now: datetime,
    **values: Any,
) -> bool:
    """Compare-and-set: change the intake only if it is still in the state/question we saw."""
    cond = [Intake.id == intake_id, Intake.state == expect_state]
    if expect_current is None:
        cond.append(col(Intake.current).is_(None))
    else:
        cond.append(Intake.current == expect_current)
    result = session.exec(update(Intake).where(*cond).values(updated_at=now, **values))  # type: ignore[call-overload]
    session.expire_all()
    return bool(result.rowcount)


def transition(
    session: Session, *, intake_id: int, from_states: Sequence[str], now: datetime, **values: Any
) -> bool:
    """Compare-and-set on the state alone (review decisions, publish, cancel)."""
    result = session.exec(
        update(Intake)  # type: ignore[call-overload]
        .where(Intake.id == intake_id, col(Intake.state).in_(list(from_states)))
        .values(updated_at=now, **values)
    )
    session.expire_all()
    return bool(result.rowcount)


def add_answer(
    session: Session,
    *,
    intake_id: int,
    question: str,
    value: Any,
    raw: str,
    user_id: str,
    user_name: str,
    is_external: bool,
    now: datetime,
) -> IntakeAnswer:
    row = IntakeAnswer(
        intake_id=intake_id,
        question=question,
        value_json=dumps(value),
        raw=raw[:4000],
        user_id=user_id,
        user_name=user_name,
        is_external=is_external,
        answered_at=now,
    )
    session.add(row)
    return row


def answer_rows(session: Session, *, intake_id: int) -> list[IntakeAnswer]:
    q = select(IntakeAnswer).where(IntakeAnswer.intake_id == intake_id)
    return list(session.exec(q.order_by(col(IntakeAnswer.id))).all())


def listing(session: Session, *, states: Sequence[str] | None = None) -> list[Intake]:
    q = select(Intake)
    if states:
        q = q.where(col(Intake.state).in_(list(states)))
    return list(session.exec(q.order_by(col(Intake.id))).all())


def active(session: Session) -> list[Intake]:
    return listing(session, states=ACTIVE_STATES)
