"""Alertmanager v2 API client (blocking; run it in a thread)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests

from bot.clients.errors import TelemetryUnavailable
from storage.db import as_utc

SOURCE = "alertmanager"


@dataclass(frozen=True)
class Alert:
    """A gettableAlert, reduced to what the bot reads."""

    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    state: str
    generator_url: str = ""
    receivers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Matcher:
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True


@dataclass(frozen=True)
class AlertmanagerStatus:
    version: str
    cluster_status: str
    uptime: datetime | None


def parse_time(text: str) -> datetime:
    """Parse Alertmanager's RFC 3339 timestamps (nanosecond fractions included) as UTC."""
    text = text.replace("Z", "+00:00")
    if "." in text:
        head, rest = text.split(".", 1)
        frac, tz = rest[: len(rest) - 6], rest[len(rest) - 6 :]
        text = f"{head}.{frac[:6].ljust(6, '0')}{tz}"
    parsed = datetime.fromisoformat(text)
    return as_utc(parsed)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


class AlertmanagerClient:
    """List firing alerts, create silences and read status through `/api/v2`."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session = session or requests.Session()
        if headers:
            self._session.headers.update(headers)
        self.request_count = 0

    def _request(self, method: str, path: str, **kwargs: object) -> object:
        self.request_count += 1
        try:
            resp = self._session.request(
                method,
                f"{self.url}/api/v2{path}",
                timeout=self.timeout,
                **kwargs,  # type: ignore[arg-type]
            )
        except requests.exceptions.Timeout:
            raise TelemetryUnavailable(SOURCE, f"timed out after {self.timeout:g}s") from None
        except requests.exceptions.ConnectionError as exc:
            reason = "connection refused" if "refused" in str(exc).lower() else "cannot connect"
            raise TelemetryUnavailable(SOURCE, reason) from None
        except requests.exceptions.RequestException as exc:
            raise TelemetryUnavailable(SOURCE, type(exc).__name__) from None
        if resp.status_code >= 400:
            detail = resp.text.strip().strip('"')[:300]
            raise TelemetryUnavailable(SOURCE, f"HTTP {resp.status_code}: {detail}")
        try:
            return resp.json()
        except ValueError:
            raise TelemetryUnavailable(SOURCE, "bad response: not JSON") from None

    def firing_alerts(self, *, filters: list[str] | None = None) -> list[Alert]:
        """Active alerts that are neither silenced nor inhibited (`filters`: `name="value"`)."""
        params: list[tuple[str, str]] = [
            ("active", "true"),
            ("silenced", "false"),
            ("inhibited", "false"),
        ]
        params += [("filter", f) for f in filters or []]
        body = self._request("GET", "/alerts", params=params)
        if not isinstance(body, list):
            raise TelemetryUnavailable(SOURCE, "bad response: expected a list of alerts")
        alerts: list[Alert] = []
        for raw in body:
            status = raw.get("status") or {}
            alerts.append(
                Alert(
                    fingerprint=str(raw.get("fingerprint", "")),
                    labels={str(k): str(v) for k, v in (raw.get("labels") or {}).items()},
                    annotations={str(k): str(v) for k, v in (raw.get("annotations") or {}).items()},
                    starts_at=parse_time(str(raw.get("startsAt"))),
                    state=str(status.get("state", "active")),
                    generator_url=str(raw.get("generatorURL") or ""),
                    receivers=[str(r.get("name")) for r in raw.get("receivers") or []],
                )
            )
        return alerts

    def create_silence(
        self,
        *,
        matchers: list[Matcher],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
    ) -> str:
        """Create a silence; returns its id."""
        body = {
            "matchers": [
                {"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
                for m in matchers
            ],
            "startsAt": _iso(starts_at),
            "endsAt": _iso(ends_at),
            "createdBy": created_by,
            "comment": comment,
        }
        reply = self._request("POST", "/silences", json=body)
        if not isinstance(reply, dict) or "silenceID" not in reply:
            raise TelemetryUnavailable(SOURCE, "bad response: no silenceID")
        return str(reply["silenceID"])

    def status(self) -> AlertmanagerStatus:
        """Version, cluster status and uptime."""
        body = self._request("GET", "/status")
        if not isinstance(body, dict):
            raise TelemetryUnavailable(SOURCE, "bad response: expected an object")
        uptime = body.get("uptime")
        return AlertmanagerStatus(
            version=str((body.get("versionInfo") or {}).get("version", "")),
            cluster_status=str((body.get("cluster") or {}).get("status", "")),
            uptime=parse_time(str(uptime)) if uptime else None,
        )
