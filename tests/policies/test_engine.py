from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from policies.engine import Facts, Level, decide_approval, decide_request, load_policy, parse_policy

# Monday 2026-11-30 10:00 UTC = 11:00 in Berlin (inside change hours)
MONDAY = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
FREEZE = datetime(2026, 12, 23, 10, 0, tzinfo=UTC)

POLICY = load_policy()


@pytest.mark.parametrize(
    ("facts", "now", "allowed", "level", "approvals", "reason_part"),
    [
        (
            Facts("restart-deployment", "low", "production", "shop"),
            MONDAY,
            True,
            "approval",
            1,
            "1 approval(s) from sre",
        ),
        (
            Facts("restart-deployment", "low", "staging", "shop"),
            MONDAY,
            True,
            "auto",
            0,
            "automatically",
        ),
        (
            Facts("scale-deployment", "medium", "staging", "shop"),
            MONDAY,
            True,
            "approval",
            1,
            "anyone",
        ),
        (
            Facts("drain-node", "high", "production", ""),
            MONDAY,
            True,
            "approval",
            2,
            "sre, platform-leads",
        ),
        (
            Facts("drain-node", "high", "production", ""),
            SATURDAY,
            False,
            "approval",
            0,
            "may only run during",
        ),
        (
            Facts("ddos-mitigation", "high", "production", "edge"),
            SATURDAY,
            True,
            "approval",
            2,
            "2 approval(s)",
        ),
        (
            Facts("scale-deployment", "medium", "production", "shop"),
            FREEZE,
            False,
            "approval",
            0,
            "year-end freeze",
        ),
        (
            Facts("rollback-deployment", "medium", "production", "shop"),
            FREEZE,
            True,
            "approval",
            1,
            "approval",
        ),
        (
            Facts("scale-deployment", "medium", "staging", "shop"),
            FREEZE,
            True,
            "approval",
            1,
            "approval",
        ),
        (
            Facts("restart-deployment", "low", "production", "kube-system"),
            MONDAY,
            False,
            "read_only",
            0,
            "read-only",
        ),
        (
            Facts("wipe-cluster", "critical", "production", "x"),
            MONDAY,
            False,
            "suggest",
            0,
            "suggest-only",
        ),
        (
            Facts("wipe-cluster", "critical", "staging", "x"),
            MONDAY,
            True,
            "approval",
            2,
            "platform-leads, security",
        ),
    ],
)
def test_request_matrix(
    facts: Facts, now: datetime, allowed: bool, level: str, approvals: int, reason_part: str
) -> None:
    d = decide_request(POLICY, facts, now)
    assert (d.allowed, d.level, d.approvals_required) == (allowed, level, approvals), d.reason
    assert reason_part in d.reason


def test_auto_never_applies_above_the_risk_ceiling() -> None:
    policy = parse_policy(
        {"rules": [{"match": {}, "approvers": 1}]}, {"rules": [{"match": {}, "level": "auto"}]}
    )
    assert decide_request(policy, Facts("x", "low"), MONDAY).level == Level.AUTO
    d = decide_request(policy, Facts("x", "medium"), MONDAY)
    assert d.level == Level.APPROVAL and d.approvals_required == 1


def _snapshot(facts: Facts) -> dict:
    return decide_request(POLICY, facts, MONDAY).snapshot()


@pytest.mark.parametrize(
    ("approver", "platform", "prior", "allowed", "reason_part"),
    [
        ("U1", "slack", [], False, "another approver"),  # requester
        ("U2", "slack", [], True, "Approved (1/1)"),  # member via user group
        ("U3", "slack", [], False, "Only members of sre"),  # not in the group
        ("u9", "local", [], True, "Approved (1/1)"),  # local:* (demo workspace)
        ("U2", "slack", ["U2"], False, "already approved"),
    ],
)
def test_approval_matrix(
    approver: str, platform: str, prior: list[str], allowed: bool, reason_part: str
) -> None:
    members = {("slack:usergroup:S0SRE00001", "U2")}
    d = decide_approval(
        _snapshot(Facts("restart-deployment", "low", "production", "shop")),
        approver=approver,
        platform=platform,
        requester="U1",
        prior_approvers=prior,
        expires_at=MONDAY + timedelta(hours=1),
        now=MONDAY,
        resolve_group=lambda ref, _p, user: (ref, user) in members,
    )
    assert d.allowed is allowed and reason_part in d.reason


def test_two_approvers_and_expiry() -> None:
    snap = _snapshot(Facts("drain-node", "high", "production", ""))
    kw = dict(platform="local", requester="a", expires_at=MONDAY + timedelta(hours=1))
    first = decide_approval(snap, approver="b", prior_approvers=[], now=MONDAY, **kw)
    assert first.allowed and first.reason == "Approval recorded (1/2)"
    second = decide_approval(snap, approver="c", prior_approvers=["b"], now=MONDAY, **kw)
    assert second.reason == "Approved (2/2)"
    late = decide_approval(
        snap, approver="c", prior_approvers=["b"], now=MONDAY + timedelta(hours=2), **kw
    )
    assert not late.allowed and "expired" in late.reason


def test_requester_may_approve_when_the_policy_says_so(tmp_path: Path) -> None:
    (tmp_path / "approvals.yaml").write_text(
        "groups: {ops: [U1, U2]}\nrules:\n  - match: {}\n    approvers: 1\n    groups: [ops]\n"
        "    requester_may_approve: true\n    expires: 10m\n"
    )
    (tmp_path / "automation.yaml").write_text("default_level: approval\n")
    policy = load_policy(tmp_path)
    snap = decide_request(policy, Facts("x", "low"), MONDAY).snapshot()
    assert snap["expires_after"] == 600
    d = decide_approval(
        snap,
        approver="U1",
        platform="slack",
        requester="U1",
        prior_approvers=[],
        expires_at=None,
        now=MONDAY,
    )
    assert d.allowed


def test_broken_group_resolver_denies() -> None:
    def boom(*_: object) -> bool:
        raise RuntimeError("slack down")

    d = decide_approval(
        _snapshot(Facts("restart-deployment", "low", "production", "shop")),
        approver="U2",
        platform="slack",
        requester="U1",
        prior_approvers=[],
        expires_at=None,
        now=MONDAY,
        resolve_group=boom,
    )
    assert not d.allowed


def test_policy_rejects_unknown_groups_and_keys() -> None:
    with pytest.raises(ValueError, match="unknown groups"):
        parse_policy({"rules": [{"match": {}, "groups": ["nope"]}]}, {})
    with pytest.raises(ValueError, match="unknown match keys"):
        parse_policy({}, {"rules": [{"match": {"team": "x"}, "level": "auto"}]})


def test_agents_always_need_a_human() -> None:
    facts = Facts("restart-deployment", "low", "staging", "shop")
    assert decide_request(POLICY, facts, MONDAY).level == Level.AUTO
    d = decide_request(POLICY, facts, MONDAY, require_approval=True)
    assert d.level == Level.APPROVAL and d.approvals_required == 1
