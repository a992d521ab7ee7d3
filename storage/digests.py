"""Digest subscriptions (keyword-only functions taking a Session)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, select

from storage.models.digests import DigestSubscription


def create_subscription(
    session: Session,
    *,
    platform: str,
    channel_id: str,
    cron: str,
    tz: str,
    sections: list[str] | None,
    service: str | None,
    window: str,
    locale: str,
    created_by: str,
    now: datetime,
) -> DigestSubscription:
    row = DigestSubscription(
        platform=platform,
        channel_id=channel_id,
        cron=cron,
        tz=tz,
        sections=",".join(sections) if sections else None,
        service=service,
        window=window,
        locale=locale,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def get_subscription(session: Session, *, subscription_id: int) -> DigestSubscription | None:
    return session.get(DigestSubscription, subscription_id)


def active_subscriptions(
    session: Session, *, platform: str | None = None, channel_id: str | None = None
) -> list[DigestSubscription]:
    q = select(DigestSubscription).where(DigestSubscription.status == "active")
    if platform is not None:
        q = q.where(DigestSubscription.platform == platform)
    if channel_id is not None:
        q = q.where(DigestSubscription.channel_id == channel_id)
    return list(session.exec(q.order_by(DigestSubscription.id)).all())


def cancel_subscription(session: Session, *, subscription_id: int, by: str, now: datetime) -> bool:
    """active → cancelled (compare-and-set); False when it was not active."""
    return bool(
        session.exec(
            update(DigestSubscription)
            .where(DigestSubscription.id == subscription_id, DigestSubscription.status == "active")
            .values(status="cancelled", cancelled_by=by, cancelled_at=now, updated_at=now)
        ).rowcount
    )


def save_snapshot(session: Session, *, subscription_id: int, slot: str, digest_json: str) -> None:
    """Keep the digest just sent: the next one reports the changes since it."""
    session.exec(
        update(DigestSubscription)
        .where(DigestSubscription.id == subscription_id)
        .values(last_slot=slot, last_digest=digest_json)
    )
