"""A stored history with hand-countable figures (used by the evidence and stats tests)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.engine import Engine

from bot.events import Actor, ChannelRef, Event, EventKind, Platform
from storage import audit
from storage.db import unit_of_work
from storage.models.billing import BillingAnomaly
from storage.models.compliance import Feedback
from storage.models.core import InboxEvent
from storage.models.incidents import Incident, TimelineEntry
from storage.models.runbooks import RunbookApproval, RunbookRun

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _event(
    n: int, user: str, at: datetime, kind: str, command: str = "", action: str = ""
) -> InboxEvent:
    ev = Event(
        kind=EventKind(kind),
        platform=Platform.LOCAL,
        event_id=f"e{n}",
        channel=ChannelRef(platform=Platform.LOCAL, id="C1"),
        actor=Actor(id=user),
        command=command or None,
        action_id=action or None,
    )
    return InboxEvent(
        platform="local",
        event_id=f"e{n}",
        kind=kind,
        payload=ev.model_dump_json(),
        status="done",
        received_at=at,
    )


def _run(
    n: int, state: str, created: datetime, *, decided_s: float | None, started: bool
) -> RunbookRun:
    return RunbookRun(
        runbook="restart-deployment",
        params=json.dumps({"namespace": "shop", "deployment": f"d{n}"}),
        risk="low",
        requester="alice",
        platform="local",
        state=state,
        level="approval",
        policy="{}",
        created_at=created,
        decided_at=created + timedelta(seconds=decided_s) if decided_s is not None else None,
        started_at=created + timedelta(minutes=10) if started else None,
    )


def seed_history(engine: Engine) -> None:
    """Within the 7 days before NOW (Nov 23..29):

    - operators: Nov 27 alice+bob (3 commands, 1 click), Nov 28 alice (1 command);
      a bot event and an event 10 days ago do not count -> daily active 2,1 (avg 3/7)
    - incidents: 4 declared, 3 summarized (75%); resolved MTTRs 600 s and 1800 s in the week
      of Nov 23 (mean 1200 s) and 3600 s in the week of Nov 16 (declared earlier, no count)
    - runs: succeeded, succeeded, failed (attempted 3, 67%), one rejected (not attempted);
      decisions after 60, 120, 300, 30 s -> median 90 s
    - anomalies: acknowledged 120.5 + 79.5 EUR in the period; an open one and an old one not
    - feedback: 3 up, 1 down -> 75%
    """
    with unit_of_work(engine) as s:
        s.add(_event(1, "alice", NOW - 2 * DAY, "command", command="/compliance"))
        s.add(_event(2, "alice", NOW - 2 * DAY, "command", command="/incident"))
        s.add(_event(3, "bob", NOW - 2 * DAY, "command", command="/compliance"))
        s.add(_event(4, "bob", NOW - 2 * DAY, "action", action="feedback:up"))
        s.add(_event(5, "alice", NOW - DAY, "command", command="/cost"))
        s.add(_event(6, "copilot", NOW - DAY, "command", command="/cost"))
        s.add(_event(7, "carol", NOW - 10 * DAY, "command", command="/cost"))
        for i, (summaries, mttr) in enumerate([(1, 600.0), (2, 1800.0), (1, None), (0, None)]):
            declared = NOW - (3 + i) * DAY
            inc = Incident(
                number=i + 1,
                title=f"Incident {i + 1}",
                declared_by="alice",
                platform="local",
                declared_at=declared,
                summary_count=summaries,
                summary_json=json.dumps({"what": "x"}) if summaries else None,
                status="resolved" if mttr else "investigating",
                resolved_at=declared + timedelta(seconds=mttr) if mttr else None,
                mttr_seconds=mttr,
                dedupe_key=f"k{i}",
            )
            s.add(inc)
            s.flush()
            s.add(TimelineEntry(incident_id=inc.id or 0, at=declared, kind="declared", text="go"))
        old = datetime(2026, 11, 10, tzinfo=UTC)
        s.add(
            Incident(
                number=9,
                title="Old",
                declared_by="bob",
                platform="local",
                declared_at=old,
                status="resolved",
                resolved_at=datetime(2026, 11, 20, 12, tzinfo=UTC),  # week of Nov 16
                mttr_seconds=3600.0,
                dedupe_key="old",
            )
        )
        runs = [
            _run(1, "succeeded", NOW - 3 * DAY, decided_s=60, started=True),
            _run(2, "succeeded", NOW - 3 * DAY, decided_s=120, started=True),
            _run(3, "failed", NOW - 2 * DAY, decided_s=300, started=True),
            _run(4, "rejected", NOW - 2 * DAY, decided_s=30, started=False),
        ]
        for r in runs:
            s.add(r)
        s.flush()
        s.add(
            RunbookApproval(
                run_id=runs[0].id or 0, approver="bob", platform="local", decision="approve"
            )
        )
        for key, status, impact, at in [
            ("a1", "acknowledged", 120.5, NOW - DAY),
            ("a2", "acknowledged", 79.5, NOW - 3 * DAY),
            ("a3", "open", 500.0, NOW - DAY),
            ("a4", "acknowledged", 999.0, NOW - 20 * DAY),
        ]:
            s.add(
                BillingAnomaly(
                    key=key,
                    dimension="service",
                    value="compute",
                    currency="EUR",
                    day=date(2026, 11, 20),
                    actual=1.0,
                    expected=1.0,
                    impact=impact,
                    score=3.0,
                    status=status,
                    detected_at=at,
                    feedback_at=at if status == "acknowledged" else None,
                )
            )
        for i, vote in enumerate(["up", "up", "up", "down"]):
            s.add(
                Feedback(
                    platform="local",
                    user_id=f"u{i}",
                    subject="digest:1",
                    kind="digest",
                    vote=vote,
                    at=NOW - DAY,
                )
            )
        for i in range(3):
            audit.append(
                s,
                actor="local:alice",
                action="test.action",
                subject=f"s{i}",
                data={"i": i},
                at=NOW - DAY,
            )
