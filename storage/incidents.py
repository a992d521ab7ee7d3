"""Incident repository: keyword-only functions over a caller's Session; CAS state changes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from storage.db import serialize
from storage.models.incidents import OPEN_STATES, AlertGroup, Incident, TimelineEntry

_NUMBER_LOCK = 0x494E4349  # "INCI"


def next_number(session: Session) -> int:
    """The next incident number. Concurrent declares wait for one another here until the
    caller's transaction commits (a burst of alerts from Alertmanager declares many at once;
    retrying on the unique constraint alone ran out of attempts under load)."""
    serialize(session, _NUMBER_LOCK, "incident")
    current = session.exec(select(func.max(Incident.number))).one()
    return int(current or 0) + 1


def by_dedupe_key(session: Session, *, dedupe_key: str) -> Incident | None:
    return session.exec(select(Incident).where(Incident.dedupe_key == dedupe_key)).first()


def get(session: Session, *, incident_id: int) -> Incident | None:
    return session.get(Incident, incident_id)


def by_channel(session: Session, *, platform: str, channel_id: str) -> Incident | None:
    """The incident whose war room is this channel."""
    return session.exec(
        select(Incident).where(Incident.platform == platform, Incident.channel_id == channel_id)
    ).first()


def recent_open_by(
    session: Session, *, declared_by: str, title: str, since: datetime
) -> Incident | None:
    """An open incident with the same title the same person declared since `since`."""
    return session.exec(
        select(Incident)
        .where(
            Incident.declared_by == declared_by,
            func.lower(Incident.title) == title.lower(),
            Incident.declared_at >= since,
            col(Incident.status).in_(OPEN_STATES),
        )
        .order_by(col(Incident.id).desc())
    ).first()


def list_incidents(session: Session, *, open_only: bool = False, limit: int = 20) -> list[Incident]:
    q = select(Incident)
    if open_only:
        q = q.where(col(Incident.status).in_(OPEN_STATES))
    return list(session.exec(q.order_by(col(Incident.id).desc()).limit(limit)).all())


def open_incidents(session: Session) -> list[Incident]:
    return list(
        session.exec(
            select(Incident)
            .where(col(Incident.status).in_(OPEN_STATES), col(Incident.channel_id).is_not(None))
            .order_by(Incident.id)
        ).all()
    )


def set_state(
    session: Session, *, incident_id: int, from_states: Sequence[str], to: str, **values: Any
) -> bool:
    """Compare-and-set the status; False when another change won."""
    n = session.exec(  # type: ignore[call-overload]
        update(Incident)
        .where(col(Incident.id) == incident_id, col(Incident.status).in_(list(from_states)))
        .values(status=to, **values)
    ).rowcount
    session.expire_all()
    return bool(n)


def claim_status_slot(session: Session, *, incident_id: int, slot: int, now: datetime) -> bool:
    """Claim an automated status slot once (never two posts for the same slot)."""
    n = session.exec(  # type: ignore[call-overload]
        update(Incident)
        .where(
            col(Incident.id) == incident_id,
            col(Incident.status_slot) < slot,
            col(Incident.status).in_(OPEN_STATES),
        )
        .values(status_slot=slot, last_status_post_at=now)
    ).rowcount
    return bool(n)


def add_timeline(
    session: Session,
    *,
    incident_id: int,
    kind: str,
    text: str,
    actor: str = "",
    at: datetime,
    message_key: str | None = None,
    link: str | None = None,
) -> TimelineEntry:
    entry = TimelineEntry(
        incident_id=incident_id,
        kind=kind,
        text=text,
        actor=actor,
        at=at,
        message_key=message_key,
        link=link,
    )
    session.add(entry)
    session.flush()
    return entry


def timeline(session: Session, *, incident_id: int) -> list[TimelineEntry]:
    return list(
        session.exec(
            select(TimelineEntry)
            .where(TimelineEntry.incident_id == incident_id)
            .order_by(TimelineEntry.at, TimelineEntry.id)
        ).all()
    )


# -- alert groups -------------------------------------------------------------------------
def alert_group(session: Session, *, group_key: str) -> AlertGroup | None:
    return session.exec(select(AlertGroup).where(AlertGroup.group_key == group_key)).first()


def alert_group_by_id(session: Session, *, group_id: int) -> AlertGroup | None:
    return session.get(AlertGroup, group_id)


def link_alert_incident(session: Session, *, group_id: int, incident_id: int) -> bool:
    """Attach an incident to an alert group once (False when one is already attached)."""
    n = session.exec(  # type: ignore[call-overload]
        update(AlertGroup)
        .where(col(AlertGroup.id) == group_id, col(AlertGroup.incident_id).is_(None))
        .values(incident_id=incident_id)
    ).rowcount
    session.expire_all()
    return bool(n)


def labels(group: AlertGroup) -> dict[str, str]:
    return dict(json.loads(group.labels_json or "{}"))


# -- metrics ------------------------------------------------------------------------------
def metric_rows(session: Session) -> list[tuple[int, str, float | None, float | None, int]]:
    """(severity, status, mttr_seconds, time_to_first_update_seconds, summary_count) per row."""
    rows = session.exec(
        select(
            Incident.severity,
            Incident.status,
            Incident.mttr_seconds,
            Incident.time_to_first_update_seconds,
            Incident.summary_count,
        )
    ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]
