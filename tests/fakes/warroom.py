"""A generated incident war room (deterministic): alerts, chatter, threads, statuses, actions."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from handlers.incidents.summary_types import ChatLine, IncidentMeta, LineKind

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
USERS = ["alice", "bob", "carol", "dmitry", "elena", "farid", "grace"]
CHATTER = [
    "looking at the dashboards now",
    "p99 latency on checkout-api is 2.4s, normally 300ms",
    "error rate 12% on /pay, customers see 502",
    "I see connection pool exhaustion in pgbouncer logs",
    "grafana link: https://grafana.example.com/d/checkout",
    "смотрю логи, много таймаутов к базе",
    "пользователи жалуются на ошибки оплаты",
    "+1",
    "same here",
    "checking the last deploy diff",
    "the canary looked fine yesterday",
    "CPU on db-primary is 95%",
]
ACTIONS = [
    "restarted checkout-api pods in prod",
    "scaled pgbouncer up to 6 replicas",
    "rolled back checkout-api to v1.41.3",
    "disabled the new-pricing feature flag",
    "перезапустил воркеры очереди платежей",
    "increased the DB connection limit to 400",
]
DECISIONS = [
    "decided: we roll back checkout-api first, then investigate",
    "agreed to keep the feature flag off until Monday",
    "решили не трогать базу до конца пика",
]
QUESTIONS = [
    "did anyone change the pgbouncer config this week?",
    "is the payment provider status page green?",
    "кто владелец сервиса pricing?",
    "should we page the DB on-call?",
]
NEXT = [
    "we will add an alert on pool saturation",
    "need to write the customer comms",
    "нужно проверить ретраи в клиенте",
]


def incident() -> IncidentMeta:
    return IncidentMeta(
        id="INC-42",
        title="Checkout errors after deploy",
        severity=2,
        status="monitoring",
        commander="alice",
        service="checkout-api",
        declared_at=START,
        channel="inc-20260302-checkout-errors",
    )


def war_room(n: int = 5000, seed: int = 7) -> list[ChatLine]:
    """`n` lines over ~n*4 seconds; one in four is a thread reply."""
    rng = random.Random(seed)
    lines: list[ChatLine] = []
    parents: list[str] = []
    ts = START
    for i in range(n):
        ts += timedelta(seconds=rng.randint(1, 7))
        mid = f"{1772442000 + i}.{i:06d}"
        kind = LineKind.MESSAGE
        user = rng.choice(USERS)
        roll = rng.random()
        if i < 3:
            kind, user = LineKind.ALERT, "alertmanager"
            text = f"[FIRING] CheckoutHighErrorRate{' (repeat)' * i} error ratio > 5% for 5m"
        elif i % 250 == 0:
            kind = LineKind.STATUS
            text = f"Status: monitoring after step {i // 250}; error rate {rng.randint(0, 9)}%"
        elif roll < 0.04:
            kind, text = LineKind.ACTION, rng.choice(ACTIONS)
        elif roll < 0.06:
            kind, text = LineKind.DECISION, rng.choice(DECISIONS)
        elif roll < 0.10:
            text = rng.choice(QUESTIONS)
        elif roll < 0.12:
            text = rng.choice(NEXT)
        else:
            text = rng.choice(CHATTER) + f" (#{i})" * (roll > 0.5)
        thread = rng.choice(parents[-20:]) if parents and rng.random() < 0.25 else None
        if thread is None and rng.random() < 0.1:
            parents.append(mid)
        lines.append(
            ChatLine(
                ts=ts,
                id=mid,
                user=user,
                text=text,
                thread_id=thread,
                permalink=f"https://chat.example.com/archives/C1/p{mid.replace('.', '')}",
                kind=kind,
            )
        )
    return lines
