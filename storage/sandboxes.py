"""Partner sandbox rows: keyword-only functions on a Session; status moves by compare-and-set."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select, update

from storage.models.sandboxes import OPEN_STATUSES, PartnerSandbox


def create(session: Session, **fields: Any) -> PartnerSandbox:
    row = PartnerSandbox(**fields)
    session.add(row)
    session.flush()
    return row


def get(session: Session, *, sandbox_id: int) -> PartnerSandbox | None:
    return session.get(PartnerSandbox, sandbox_id)


def for_intake(session: Session, *, intake_id: int) -> list[PartnerSandbox]:
    """Every sandbox of an offer, newest first."""
    q = select(PartnerSandbox).where(PartnerSandbox.intake_id == intake_id)
    return list(session.exec(q.order_by(col(PartnerSandbox.id).desc())).all())


def open_for_intake(session: Session, *, intake_id: int) -> PartnerSandbox | None:
    """The offer's sandbox that is requested, active or being cleaned up, if any."""
    q = select(PartnerSandbox).where(
        PartnerSandbox.intake_id == intake_id,
        col(PartnerSandbox.status).in_(list(OPEN_STATUSES)),
    )
    return session.exec(q.order_by(col(PartnerSandbox.id).desc())).first()


def with_status(session: Session, *, statuses: Sequence[str]) -> list[PartnerSandbox]:
    q = select(PartnerSandbox).where(col(PartnerSandbox.status).in_(list(statuses)))
    return list(session.exec(q.order_by(col(PartnerSandbox.id))).all())


def due(session: Session, *, now: datetime) -> list[PartnerSandbox]:
    """Active (or half-cleaned) sandboxes whose expiry has passed."""
    q = select(PartnerSandbox).where(
        col(PartnerSandbox.status).in_(["active", "expired"]),
        col(PartnerSandbox.expires_at) <= now,
    )
    return list(session.exec(q.order_by(col(PartnerSandbox.id))).all())


def count_by_status(session: Session) -> dict[str, int]:
    q = select(PartnerSandbox.status, func.count()).group_by(PartnerSandbox.status)
    return {str(status): int(n) for status, n in session.exec(q).all()}


def transition(
    session: Session,
    *,
    sandbox_id: int,
    from_statuses: Sequence[str],
    now: datetime,
    **values: Any,
) -> bool:
    """Compare-and-set on the status: True when this caller moved it."""
    result = session.exec(
        update(PartnerSandbox)  # type: ignore[call-overload]
        .where(
            col(PartnerSandbox.id) == sandbox_id,
            col(PartnerSandbox.status).in_(list(from_statuses)),
        )
        .values(updated_at=now, **values)
    )
    session.expire_all()
    return bool(result.rowcount)


def mark_warned(session: Session, *, sandbox_id: int, now: datetime) -> bool:
    """Set warned_at once (the expiry reminder is posted by whoever sets it)."""
    result = session.exec(
        update(PartnerSandbox)  # type: ignore[call-overload]
        .where(
            col(PartnerSandbox.id) == sandbox_id,
            col(PartnerSandbox.status) == "active",
            col(PartnerSandbox.warned_at).is_(None),
        )
        .values(warned_at=now, updated_at=now)
    )
    session.expire_all()
    return bool(result.rowcount)
