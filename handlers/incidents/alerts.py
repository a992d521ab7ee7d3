"""Alertmanager webhook (v4): one chat message per group key, buttons, auto-declare.

`POST /alertmanager/webhook` validates the body and the bearer token, records it in the inbox
as a WEBHOOK event (identical deliveries are deduplicated there) and answers 200 at once; the
dispatcher then runs `on_alertmanager` in a worker thread like any other event.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from cachetools import TTLCache
from sqlalchemy.exc import IntegrityError

from bot.context import Context
from bot.events import Actor, ChannelRef, Event, EventKind, Platform
from bot.messages import (
    Actions,
    Button,
    ButtonStyle,
    Header,
    Message,
    Section,
    channel_link,
    mention,
    user_text,
)
from bot.messages import (
    Context as Note,
)
from bot.platforms.base import ChatError
from bot.router import Router, UsageError
from handlers.incidents import render, service
from handlers.incidents.policy import auto_declare, load_alert_policy
from storage import incidents as repo
from storage.models.incidents import AlertGroup

log = logging.getLogger(__name__)

WEBHOOK = "alertmanager"
PATH = "/alertmanager/webhook"
ACTION_DECLARE = "alert:declare"
ACTION_ACK = "alert:ack"
ACTION_SILENCE = "alert:silence"
MAX_ALERTS_SHOWN = 10
ALERTMANAGER = Actor(
    id="alertmanager", name="alertmanager", display_name="Alertmanager", is_bot=True
)


class BadPayload(ValueError):
    """The body is not an Alertmanager v4 webhook payload."""


def register(router: Router) -> None:
    router.webhook(WEBHOOK, on_alertmanager)
    router.action(ACTION_DECLARE, on_declare)
    router.action(ACTION_ACK, on_ack)
    router.action(ACTION_SILENCE, on_silence)


# -- HTTP ---------------------------------------------------------------------------------
def validate(body: bytes) -> dict[str, Any]:
    """Parse and check the fields the bot relies on; raise BadPayload with the reason."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadPayload("body is not JSON") from None
    if not isinstance(data, dict):
        raise BadPayload("body is not a JSON object")
    if str(data.get("version", "4")) != "4":
        raise BadPayload(f"unsupported version {data.get('version')!r} (expected 4)")
    if not isinstance(data.get("groupKey"), str) or not data["groupKey"]:
        raise BadPayload("groupKey is required")
    if data.get("status") not in ("firing", "resolved"):
        raise BadPayload("status must be firing or resolved")
    alerts = data.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise BadPayload("alerts must be a non-empty list")
    for alert in alerts:
        if not isinstance(alert, dict) or not isinstance(alert.get("labels"), dict):
            raise BadPayload("every alert needs a labels object")
    for name in ("groupLabels", "commonLabels", "commonAnnotations"):
        if not isinstance(data.get(name, {}), dict):
            raise BadPayload(f"{name} must be an object")
    truncated = data.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        raise BadPayload("truncatedAlerts must be a non-negative integer")
    return data


def primary_platform(app: Any) -> Platform:
    for p in (Platform.SLACK, Platform.MATTERMOST, Platform.LOCAL):
        if p in app.adapters:
            return p
    raise RuntimeError("no chat platform is configured")


def routes(app: Any) -> list[web.RouteDef]:
    """The webhook route, bound to the app (settings, adapters, submit)."""
    channels: TTLCache[tuple[Platform, str], ChannelRef] = TTLCache(maxsize=16, ttl=300)

    async def webhook(request: web.Request) -> web.Response:
        token = app.settings.alertmanager_webhook_token
        if token:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return web.json_response({"ok": False, "error": "unauthorized"}, status=401)
        body = await request.read()
        try:
            data = validate(body)
        except BadPayload as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        platform = primary_platform(app)
        name = app.settings.copilot_alerts_channel or "alerts"
        channel = channels.get((platform, name))
        if channel is None:  # looked up once per 5 minutes, not on every notification
            api = app.adapters[platform].api
            try:
                channel = await asyncio.to_thread(api.find_channel, name)
            except ChatError:
                channel = None
            if channel is None:
                log.warning("COPILOT_ALERTS_CHANNEL not found", extra={"channel": name})
                channel = ChannelRef(platform=platform, id=name)
            else:
                channels[(platform, name)] = channel
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        event = Event(
            kind=EventKind.WEBHOOK,
            platform=platform,
            event_id="am-" + hashlib.sha256(canonical.encode()).hexdigest()[:48],
            channel=channel,
            actor=ALERTMANAGER,
            action_id=WEBHOOK,
            action_value=canonical,
            received_at=time.time(),
        )
        new = await app.submit(event)
        return web.json_response({"ok": True, "duplicate": not new})

    return [web.post(PATH, webhook)]


# -- rendering ----------------------------------------------------------------------------
def _title(data: dict[str, Any]) -> str:
    common = data.get("commonLabels") or {}
    group = data.get("groupLabels") or {}
    name = common.get("alertname") or group.get("alertname")
    if not name:
        name = ", ".join(f"{k}={v}" for k, v in sorted(group.items())) or "alerts"
    return str(name)[:200]


def alert_message(ctx: Context, group: AlertGroup, data: dict[str, Any]) -> Message:
    """The one message of an alert group: state, alerts, links and buttons."""
    t = ctx.t
    firing = group.status == "firing"
    alerts = data.get("alerts") or []
    n_firing = sum(1 for a in alerts if a.get("status") == "firing")
    icon = "🔥" if firing else "✅"
    state = t("FIRING") if firing else t("RESOLVED")
    head = f"{icon} {state}: {user_text(group.title, limit=120)}"
    common = data.get("commonLabels") or {}
    fields = []
    if common.get("severity"):
        fields.append((t("Severity"), user_text(str(common["severity"]), limit=40)))
    fields.append(
        (t("Alerts"), t("{firing} firing of {total}", firing=n_firing, total=len(alerts)))
    )
    for label in ("service", "team", "cluster", "namespace"):
        if common.get(label):
            fields.append((label, user_text(str(common[label]), limit=80)))
    lines = []
    for alert in alerts[:MAX_ALERTS_SHOWN]:
        ann = alert.get("annotations") or {}
        text = ann.get("summary") or ann.get("description") or alert["labels"].get("alertname", "")
        mark = "🔥" if alert.get("status") == "firing" else "✅"
        link = str(alert.get("generatorURL") or "")
        graph = t("graph")
        tail = f" [{graph}]({link})" if link.startswith(("http://", "https://")) else ""
        lines.append(f"{mark} {user_text(str(text), limit=300)}{tail}")
    more = max(0, len(alerts) - MAX_ALERTS_SHOWN) + int(data.get("truncatedAlerts") or 0)
    if more > 0:
        lines.append(t("…and {n} more", n=more))
    blocks: list = [Header(text=head[:150]), Section(text="\n".join(lines), fields=fields)]
    runbook = (data.get("commonAnnotations") or {}).get("runbook_url")
    notes = []
    if isinstance(runbook, str) and runbook.startswith(("http://", "https://")):
        label = t("Runbook")
        notes.append(f"[{label}]({runbook})")
    if group.acked_by:
        notes.append(t("Acknowledged by {who}", who=mention(group.acked_by)))
    if group.silence_id:
        notes.append(
            t("Silenced by {who} ({id})", who=mention(group.silenced_by or ""), id=group.silence_id)
        )
    if group.incident_id:
        with ctx.session() as s:
            inc = repo.get(s, incident_id=group.incident_id)
        if inc is not None:
            notes.append(
                t(
                    "Incident {ref}: {room}",
                    ref=render.ref(inc),
                    room=channel_link(inc.channel_id or "", inc.channel_name or ""),
                )
            )
    if notes:
        blocks.append(Note(text=" · ".join(notes)))
    buttons = []
    value = str(group.id)
    if firing and not group.incident_id:
        buttons.append(
            Button(
                label=t("Declare incident"),
                action_id=ACTION_DECLARE,
                value=value,
                style=ButtonStyle.DANGER,
            )
        )
    if firing and not group.acked_by:
        buttons.append(Button(label=t("Acknowledge"), action_id=ACTION_ACK, value=value))
    if firing and not group.silence_id:
        buttons.append(Button(label=t("Silence"), action_id=ACTION_SILENCE, value=value))
    if buttons:
        blocks.append(Actions(buttons=buttons))
    return Message(text=head, blocks=blocks)


# -- handling -----------------------------------------------------------------------------
def _store(ctx: Context, data: dict[str, Any], digest: str) -> tuple[AlertGroup, bool, bool]:
    """Create or update the group row; returns (group, is_new, changed)."""
    now = ctx.now()
    for _attempt in range(3):
        try:
            with ctx.session() as s:
                group = repo.alert_group(s, group_key=data["groupKey"])
                if group is not None and group.payload_hash == digest:
                    return group, False, False
                is_new = group is None
                if group is None:
                    group = AlertGroup(
                        group_key=data["groupKey"],
                        platform=str(ctx.event.platform),
                        channel_id=ctx.channel.id,
                        first_seen_at=now,
                    )
                was = group.status
                group.receiver = str(data.get("receiver", ""))[:255]
                group.status = data["status"]
                group.title = _title(data)
                group.labels_json = json.dumps(
                    data.get("groupLabels") or {}, sort_keys=True, ensure_ascii=False
                )
                group.payload_json = json.dumps(data, ensure_ascii=False)
                group.payload_hash = digest
                group.updated_at = now
                if was == "resolved" and group.status == "firing":
                    group.acked_by = group.acked_at = None  # a new episode
                s.add(group)
                s.flush()
                if is_new:
                    group.message_key = ctx.post(group.channel_id, alert_message(ctx, group, data))
                else:
                    ctx.update(group.message_key or "", alert_message(ctx, group, data))
                s.add(group)
                return group, is_new, was != group.status
        except IntegrityError:
            time.sleep(0.02)  # another delivery created the group: update it instead
    raise RuntimeError("could not store the alert group")


def on_alertmanager(ctx: Context, value: str) -> Message | None:
    """A webhook delivery: post or update the group's message; auto-declare per policy."""
    data = json.loads(value)
    digest = hashlib.sha256(value.encode()).hexdigest()
    group, _is_new, changed = _store(ctx, data, digest)
    if group.incident_id and changed:
        with ctx.session() as s:
            repo.add_timeline(
                s,
                incident_id=group.incident_id,
                kind="alert",
                text=f"{group.status.upper()}: {group.title}",
                actor="alertmanager",
                at=ctx.now(),
            )
    policy = load_alert_policy()
    common = {str(k): str(v) for k, v in (data.get("commonLabels") or {}).items()}
    decision = auto_declare(policy, common, group.status)
    if decision.ok and decision.rule is not None and not group.incident_id:
        _declare_from(ctx, group, data, severity=decision.rule.severity, commander=None)
    return None


def _declare_from(
    ctx: Context,
    group: AlertGroup,
    data: dict[str, Any],
    *,
    severity: int,
    commander: Actor | None,
) -> Any:
    policy = load_alert_policy()
    common = data.get("commonLabels") or {}
    summary = (data.get("commonAnnotations") or {}).get("summary") or group.title
    result = service.declare(
        ctx,
        title=str(summary)[:200],
        severity=severity,
        service=str(common.get(policy.service_label) or "")[:120] or None,
        commander=commander,
        source="alert",
        dedupe_key=f"alert:{group.id}",
        first_note=f"FIRING: {group.title}",
    )
    with ctx.session() as s:
        if repo.link_alert_incident(s, group_id=group.id or 0, incident_id=result.incident.id or 0):
            fresh = repo.alert_group_by_id(s, group_id=group.id or 0)
            assert fresh is not None
            ctx.update(fresh.message_key or "", alert_message(ctx, fresh, data))
            ctx.audit(
                "alert.declare",
                render.ref(result.incident),
                {"group_key": group.group_key, "by": ctx.actor.id},
            )
    return result


def _group(ctx: Context, value: str) -> tuple[AlertGroup, dict[str, Any]]:
    try:
        group_id = int(value)
    except ValueError:
        raise UsageError(ctx.t("This button is no longer valid.")) from None
    with ctx.session() as s:
        group = repo.alert_group_by_id(s, group_id=group_id)
    if group is None:
        raise UsageError(ctx.t("This alert is no longer known."))
    return group, json.loads(group.payload_json)


def _say(ctx: Context, text: str) -> None:
    ctx.reply(Message(text=text, blocks=[Section(text=text)]), ephemeral=True)


def on_declare(ctx: Context, value: str) -> Message | None:
    """Declare incident from an alert (once per group); the clicker commands it."""
    group, data = _group(ctx, value)
    if group.incident_id:
        with ctx.session() as s:
            inc = repo.get(s, incident_id=group.incident_id)
        _say(ctx, ctx.t("An incident is already open for this alert: {ref}.", ref=render.ref(inc)))
        return None
    sev = load_alert_policy()
    common = {str(k): str(v) for k, v in (data.get("commonLabels") or {}).items()}
    decision = auto_declare(sev, common, "firing")
    severity = decision.rule.severity if decision.rule else 2
    result = _declare_from(ctx, group, data, severity=severity, commander=ctx.actor)
    inc = result.incident
    _say(
        ctx,
        ctx.t(
            "{ref} declared: join {room}.",
            ref=render.ref(inc),
            room=channel_link(inc.channel_id or "", inc.channel_name or ""),
        ),
    )
    return None


def on_ack(ctx: Context, value: str) -> Message | None:
    """Acknowledge: the message says who is on it."""
    group, data = _group(ctx, value)
    with ctx.session() as s:
        row = repo.alert_group_by_id(s, group_id=group.id or 0)
        assert row is not None
        if row.acked_by:
            _say(ctx, ctx.t("Already acknowledged by {who}.", who=mention(row.acked_by)))
            return None
        row.acked_by = ctx.actor.id
        row.acked_at = ctx.now()
        s.add(row)
        ctx.update(row.message_key or "", alert_message(ctx, row, data))
        ctx.audit("alert.ack", row.title, {"group_key": row.group_key})
    return None


def _alertmanager(ctx: Context) -> Any:
    if ctx.services.alertmanager is not None:
        return ctx.services.alertmanager
    if not ctx.settings.alertmanager_url:
        return None
    from bot.clients.alertmanager import AlertmanagerClient

    return AlertmanagerClient(ctx.settings.alertmanager_url)


def on_silence(ctx: Context, value: str) -> Message | None:
    """Silence the group's alerts in Alertmanager (API v2) for the policy's duration."""
    group, data = _group(ctx, value)
    if group.silence_id:
        _say(ctx, ctx.t("This alert is already silenced ({id}).", id=group.silence_id))
        return None
    client = _alertmanager(ctx)
    if client is None:
        _say(ctx, ctx.t("Silencing needs ALERTMANAGER_URL to be configured."))
        return None
    from bot.clients.alertmanager import Matcher
    from bot.clients.errors import TelemetryUnavailable

    labels = data.get("groupLabels") or data.get("commonLabels") or {}
    if not labels:
        _say(ctx, ctx.t("This alert group has no labels to silence by."))
        return None
    hours = load_alert_policy().silence_hours
    now = datetime.now(UTC)
    try:
        silence_id = client.create_silence(
            matchers=[Matcher(name=str(k), value=str(v)) for k, v in sorted(labels.items())],
            starts_at=now,
            ends_at=now + timedelta(hours=hours),
            created_by=f"{ctx.actor.label} via Console Copilot",
            comment=f"Silenced from chat: {group.title}",
        )
    except TelemetryUnavailable as exc:
        _say(ctx, ctx.t("Alertmanager did not accept the silence: {reason}", reason=str(exc)))
        return None
    with ctx.session() as s:
        row = repo.alert_group_by_id(s, group_id=group.id or 0)
        assert row is not None
        row.silence_id = silence_id
        row.silenced_by = ctx.actor.id
        s.add(row)
        ctx.update(row.message_key or "", alert_message(ctx, row, data))
        ctx.audit("alert.silence", row.title, {"silence_id": silence_id, "hours": hours})
    shown = f"{hours:g}"
    _say(ctx, ctx.t("Silenced for {hours} h ({id}).", hours=shown, id=silence_id))
    return None
