"""Guardrail scans and feedback: keyword-only repository functions over a Session."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from policies.guardrails import Finding
from storage.models.compliance import Feedback, GuardrailFinding, GuardrailScan


def save_scan(
    session: Session,
    *,
    at: datetime,
    scope: str,
    trigger: str,
    actor: str,
    workloads: int,
    compliant: int,
    findings: Iterable[Finding],
) -> GuardrailScan:
    """Store a scan and its findings."""
    items = list(findings)
    scan = GuardrailScan(
        at=at,
        scope=scope,
        trigger=trigger,
        actor=actor[:255],
        workloads=workloads,
        compliant=compliant,
        findings=len(items),
    )
    session.add(scan)
    session.flush()
    for f in items:
        session.add(
            GuardrailFinding(
                scan_id=scan.id or 0,
                kind=f.workload.kind,
                namespace=f.workload.namespace[:255],
                name=f.workload.name[:255],
                rule=f.rule,
                severity=f.severity,
                subject=f.subject[:255],
                fingerprint=f.fingerprint[:700],
                params=json.dumps(f.params, sort_keys=True),
            )
        )
    session.flush()
    return scan


def previous_scan(session: Session, *, scope: str, before_id: int) -> GuardrailScan | None:
    """The last scan of the same scope before `before_id`."""
    return session.exec(
        select(GuardrailScan)
        .where(GuardrailScan.scope == scope, GuardrailScan.id < before_id)  # type: ignore[operator]
        .order_by(GuardrailScan.id.desc())  # type: ignore[union-attr]
        .limit(1)
    ).first()


def scan_findings(session: Session, *, scan_id: int) -> list[GuardrailFinding]:
    return list(
        session.exec(
            select(GuardrailFinding)
            .where(GuardrailFinding.scan_id == scan_id)
            .order_by(GuardrailFinding.id)  # type: ignore[arg-type]
        ).all()
    )


def get_finding(session: Session, *, finding_id: int) -> GuardrailFinding | None:
    return session.get(GuardrailFinding, finding_id)


def scans_between(session: Session, *, start: datetime, end: datetime) -> list[GuardrailScan]:
    return list(
        session.exec(
            select(GuardrailScan)
            .where(GuardrailScan.at >= start, GuardrailScan.at < end)  # type: ignore[operator]
            .order_by(GuardrailScan.id)  # type: ignore[arg-type]
        ).all()
    )


def record_feedback(
    session: Session,
    *,
    platform: str,
    user_id: str,
    subject: str,
    kind: str,
    vote: str,
    channel_id: str,
    message_id: str | None,
    context: Mapping[str, Any],
    at: datetime,
) -> Feedback:
    """Store a vote; the same person voting again on the same subject replaces the vote.

    Two quick clicks may race: the loser of the insert (unique constraint) updates instead.
    """
    values = {
        "kind": kind[:32],
        "vote": vote,
        "channel_id": channel_id[:255],
        "message_id": message_id,
        "context": json.dumps(dict(context), sort_keys=True, default=str),
        "at": at,
    }
    key = (
        Feedback.platform == platform,
        Feedback.user_id == user_id[:255],
        Feedback.subject == subject[:255],
    )
    row = session.exec(select(Feedback).where(*key)).first()
    if row is None:
        try:
            with session.begin_nested():
                row = Feedback(platform=platform, user_id=user_id[:255], subject=subject[:255])
                for k, v in values.items():
                    setattr(row, k, v)
                session.add(row)
                session.flush()
            return row
        except IntegrityError:
            row = session.exec(select(Feedback).where(*key)).one()
    for k, v in values.items():
        setattr(row, k, v)
    session.add(row)
    session.flush()
    return row
