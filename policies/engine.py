"""Runbook policy: automation levels, approvals, allowed hours and change freezes.

Policy is data (`approvals.yaml`, `automation.yaml`); the functions here are pure: they take
the policy, the facts and the time, and return a `Decision` with a reason.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from runbooks.steps.base import parse_duration

POLICIES = Path(__file__).parent
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RISKS = ("low", "medium", "high", "critical")
Translate = Callable[..., str]
# resolve_group(ref, platform, user_id) -> is the user a member of the platform group `ref`?
GroupResolver = Callable[[str, str, str], bool]


def _t(msgid: str, **kwargs: Any) -> str:
    return msgid.format(**kwargs)


class Level(StrEnum):
    READ_ONLY = "read_only"
    SUGGEST = "suggest"
    APPROVAL = "approval"
    AUTO = "auto"


@dataclass(frozen=True)
class Facts:
    """What a policy looks at."""

    runbook: str
    risk: str
    environment: str = ""
    namespace: str = ""


@dataclass(frozen=True)
class Match:
    """Glob patterns per fact; an absent fact matches anything."""

    runbook: tuple[str, ...] = ()
    environment: tuple[str, ...] = ()
    namespace: tuple[str, ...] = ()
    risk: tuple[str, ...] = ()

    def matches(self, f: Facts) -> bool:
        pairs = (
            (self.runbook, f.runbook),
            (self.environment, f.environment),
            (self.namespace, f.namespace),
            (self.risk, f.risk),
        )
        return all(
            not pats or any(fnmatch.fnmatchcase(val, p) for p in pats) for pats, val in pairs
        )

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> Match:
        raw = raw or {}
        unknown = set(raw) - {"runbook", "environment", "namespace", "risk"}
        if unknown:
            raise ValueError(f"unknown match keys: {', '.join(sorted(unknown))}")

        def tup(v: Any) -> tuple[str, ...]:
            if v is None:
                return ()
            return tuple(str(x) for x in (v if isinstance(v, list) else [v]))

        return cls(*(tup(raw.get(k)) for k in ("runbook", "environment", "namespace", "risk")))


@dataclass(frozen=True)
class ApprovalRule:
    match: Match
    approvers: int = 1
    groups: tuple[str, ...] = ()
    requester_may_approve: bool = False
    expires: float = 3600.0


@dataclass(frozen=True)
class AutomationRule:
    match: Match
    level: Level


@dataclass(frozen=True)
class AllowedHours:
    """Runs matching `match` (and not `unless`) may only start inside these hours."""

    name: str
    tz: str
    days: tuple[str, ...]
    start: time
    end: time
    match: Match
    unless: Match | None = None

    def contains(self, now: datetime) -> bool:
        local = now.astimezone(ZoneInfo(self.tz))
        if DAYS[local.weekday()] not in self.days:
            return False
        return self.start <= local.time().replace(tzinfo=None) < self.end


@dataclass(frozen=True)
class Freeze:
    """No run matching `match` (and not `unless`) may start between start and end."""

    name: str
    start: datetime
    end: datetime
    match: Match
    unless: Match | None = None
    reason: str = ""


@dataclass(frozen=True)
class Policy:
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    approval_rules: tuple[ApprovalRule, ...] = ()
    automation_rules: tuple[AutomationRule, ...] = ()
    default_level: Level = Level.APPROVAL
    auto_max_risk: str = "low"
    allowed_hours: tuple[AllowedHours, ...] = ()
    freezes: tuple[Freeze, ...] = ()


@dataclass(frozen=True)
class Decision:
    """The answer of a policy question, with the reason to show."""

    allowed: bool
    reason: str
    level: str = ""
    approvals_required: int = 0
    approvers: tuple[str, ...] = ()  # member refs allowed to approve (groups expanded)
    groups: tuple[str, ...] = ()
    requester_may_approve: bool = False
    expires_after: float = 0.0

    def snapshot(self) -> dict[str, Any]:
        """JSON-able copy stored with the run (approvals are judged against it)."""
        data = asdict(self)
        data["approvers"] = list(self.approvers)
        data["groups"] = list(self.groups)
        return data


# ---- loading -----------------------------------------------------------------------------
def _hhmm(value: Any) -> time:
    text = str(value)
    hh, mm = text.split(":")
    return time(int(hh), int(mm))


def _dt(value: Any, tz: str) -> datetime:
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(tz))


def parse_policy(approvals: Mapping[str, Any], automation: Mapping[str, Any]) -> Policy:
    """Build a Policy from the two YAML documents (raises ValueError on bad data)."""
    groups = {
        str(k): tuple(str(m) for m in v or []) for k, v in (approvals.get("groups") or {}).items()
    }
    rules = []
    for raw in approvals.get("rules") or []:
        missing = [g for g in raw.get("groups", []) if g not in groups]
        if missing:
            raise ValueError(f"approval rule names unknown groups: {', '.join(missing)}")
        rules.append(
            ApprovalRule(
                match=Match.parse(raw.get("match")),
                approvers=int(raw.get("approvers", 1)),
                groups=tuple(raw.get("groups", [])),
                requester_may_approve=bool(raw.get("requester_may_approve", False)),
                expires=parse_duration(raw.get("expires", "1h")),
            )
        )
    auto_rules = tuple(
        AutomationRule(Match.parse(r.get("match")), Level(r["level"]))
        for r in automation.get("rules") or []
    )
    hours = tuple(
        AllowedHours(
            name=str(h["name"]),
            tz=str(h.get("tz", "UTC")),
            days=tuple(str(d)[:3].lower() for d in h.get("days", DAYS)),
            start=_hhmm(h["from"]),
            end=_hhmm(h["to"]),
            match=Match.parse(h.get("match")),
            unless=Match.parse(h["unless"]) if h.get("unless") else None,
        )
        for h in automation.get("allowed_hours") or []
    )
    freezes = tuple(
        Freeze(
            name=str(f["name"]),
            start=_dt(f["start"], str(f.get("tz", "UTC"))),
            end=_dt(f["end"], str(f.get("tz", "UTC"))),
            match=Match.parse(f.get("match")),
            unless=Match.parse(f["unless"]) if f.get("unless") else None,
            reason=str(f.get("reason", "")),
        )
        for f in automation.get("freezes") or []
    )
    return Policy(
        groups=groups,
        approval_rules=tuple(rules),
        automation_rules=auto_rules,
        default_level=Level(automation.get("default_level", "approval")),
        auto_max_risk=str(automation.get("auto_max_risk", "low")),
        allowed_hours=hours,
        freezes=freezes,
    )


def load_policy(folder: Path | None = None) -> Policy:
    """Load `approvals.yaml` and `automation.yaml` from `folder` (default: the shipped ones)."""
    base = folder or POLICIES
    approvals = yaml.safe_load((base / "approvals.yaml").read_text()) or {}
    automation = yaml.safe_load((base / "automation.yaml").read_text()) or {}
    return parse_policy(approvals, automation)


# ---- decisions ---------------------------------------------------------------------------
def automation_level(policy: Policy, facts: Facts) -> Level:
    """First matching automation rule, else the default level."""
    rule = next((r for r in policy.automation_rules if r.match.matches(facts)), None)
    return rule.level if rule else policy.default_level


def check_windows(policy: Policy, facts: Facts, now: datetime, t: Translate = _t) -> Decision:
    """Refused during a matching change freeze or outside matching allowed hours."""
    for fr in policy.freezes:
        if (
            fr.start <= now < fr.end
            and fr.match.matches(facts)
            and not (fr.unless and fr.unless.matches(facts))
        ):
            why = ": " + fr.reason if fr.reason else ""
            end = fr.end.strftime("%Y-%m-%d %H:%M %Z")
            return Decision(
                False, t("Change freeze “{name}” until {end}{why}", name=fr.name, end=end, why=why)
            )
    for hw in policy.allowed_hours:
        applies = hw.match.matches(facts) and not (hw.unless and hw.unless.matches(facts))
        if applies and not hw.contains(now):
            return Decision(
                False,
                t(
                    "{runbook} may only run during “{name}” ({days} {start}–{end} {tz})",
                    runbook=facts.runbook,
                    name=hw.name,
                    days=",".join(hw.days),
                    start=hw.start.strftime("%H:%M"),
                    end=hw.end.strftime("%H:%M"),
                    tz=hw.tz,
                ),
            )
    return Decision(True, t("Inside the allowed change windows"))


def decide_request(
    policy: Policy,
    facts: Facts,
    now: datetime,
    t: Translate = _t,
    *,
    require_approval: bool = False,
) -> Decision:
    """May this run be requested, and how: auto, after approvals, only suggested, or not at all.

    `require_approval` (requests from AI agents) turns `auto` into `approval`: a model's
    proposal always waits for a human."""
    level = automation_level(policy, facts)
    if level is Level.READ_ONLY:
        return Decision(
            False,
            t(
                "{runbook} is read-only in {where}: the bot may not run it",
                runbook=facts.runbook,
                where=_where(facts),
            ),
            level=level,
        )
    if level is Level.SUGGEST:
        return Decision(
            False,
            t(
                "{runbook} is suggest-only in {where}: a human must carry it out",
                runbook=facts.runbook,
                where=_where(facts),
            ),
            level=level,
        )
    window = check_windows(policy, facts, now, t)
    if not window.allowed:
        return Decision(False, window.reason, level=level)
    if level is Level.AUTO and require_approval:
        level = Level.APPROVAL
    if level is Level.AUTO:
        if RISKS.index(facts.risk) <= RISKS.index(policy.auto_max_risk):
            return Decision(
                True,
                t("Runs automatically (policy: auto for {risk} risk)", risk=facts.risk),
                level=level,
            )
        level = Level.APPROVAL  # auto never applies above the auto risk ceiling
    rule = next((r for r in policy.approval_rules if r.match.matches(facts)), None)
    if rule is None:
        rule = ApprovalRule(Match(), approvers=1)
    members = tuple(m for g in rule.groups for m in policy.groups.get(g, ()))
    groups_txt = ", ".join(rule.groups) or t("anyone")
    return Decision(
        True,
        t("Needs {n} approval(s) from {groups}", n=rule.approvers, groups=groups_txt),
        level=level,
        approvals_required=rule.approvers,
        approvers=members,
        groups=rule.groups,
        requester_may_approve=rule.requester_may_approve,
        expires_after=rule.expires,
    )


def _where(f: Facts) -> str:
    return "/".join(x for x in (f.environment, f.namespace) if x) or "this scope"


def is_member(
    approvers: Sequence[str], platform: str, user_id: str, resolve_group: GroupResolver | None
) -> bool:
    """Is the user in the expanded approver list (explicit ids or platform group refs)?"""
    for ref in approvers:
        if ref in (user_id, f"{platform}:{user_id}", f"{platform}:*"):
            return True
        if ref.count(":") >= 2 and ref.split(":", 1)[0] == platform and resolve_group is not None:
            try:
                if resolve_group(ref, platform, user_id):
                    return True
            except Exception:
                continue
    return False


def decide_approval(
    snapshot: Mapping[str, Any],
    *,
    approver: str,
    platform: str,
    requester: str,
    prior_approvers: Sequence[str],
    expires_at: datetime | None,
    now: datetime,
    resolve_group: GroupResolver | None = None,
    t: Translate = _t,
) -> Decision:
    """May `approver` approve a run requested under the policy `snapshot`?"""
    if expires_at is not None and now >= expires_at:
        return Decision(
            False,
            t(
                "This approval request expired at {at}",
                at=expires_at.strftime("%Y-%m-%d %H:%M UTC"),
            ),
        )
    if approver == requester and not snapshot.get("requester_may_approve", False):
        return Decision(False, t("You requested this run; another approver must approve it"))
    if approver in prior_approvers:
        return Decision(False, t("You already approved this run"))
    approvers = snapshot.get("approvers") or []
    if snapshot.get("groups") and not is_member(approvers, platform, approver, resolve_group):
        return Decision(
            False,
            t(
                "Only members of {groups} may approve this run",
                groups=", ".join(snapshot["groups"]),
            ),
        )
    need = int(snapshot.get("approvals_required", 1))
    have = len(prior_approvers) + 1
    if have >= need:
        return Decision(True, t("Approved ({have}/{need})", have=have, need=need))
    return Decision(True, t("Approval recorded ({have}/{need})", have=have, need=need))


def expiry(snapshot: Mapping[str, Any], now: datetime) -> datetime | None:
    after = float(snapshot.get("expires_after") or 0)
    return now + timedelta(seconds=after) if after else None
