"""A thin typed Prometheus client over prometheus-api-client (blocking: run it in a thread)."""

from __future__ import annotations

import ast
import json
import math
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from bot.clients.errors import TelemetryUnavailable

SOURCE = "prometheus"


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector (or a scalar, with empty labels)."""

    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    """One series of a range query: `(unix_seconds, value)` points in time order."""

    labels: dict[str, str]
    points: list[tuple[float, float]] = field(default_factory=list)


def _value(raw: object) -> float:
    try:
        return float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


class PrometheusClient:
    """Instant and range queries with a timeout; every failure is a `TelemetryUnavailable`."""

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
        # prometheus-api-client retries 5xx with backoff unless given a session: a digest
        # prefers to fail fast and mark the section unavailable.
        self._conn = PrometheusConnect(
            url=self.url,
            headers=headers,
            disable_ssl=False,
            session=session or requests.Session(),
            retry=Retry(0, read=False),
            timeout=timeout,  # type: ignore[arg-type]
        )
        self._lock = threading.Lock()
        self.query_count = 0

    def _count(self) -> None:
        with self._lock:
            self.query_count += 1

    def _params(self) -> dict[str, str]:
        return {"timeout": f"{self.timeout:g}s"}

    def query(self, promql: str, *, at: datetime | None = None) -> list[Sample]:
        """Evaluate an instant query (at `at`, default now) and return its samples."""
        params = self._params()
        if at is not None:
            params["time"] = f"{at.timestamp():.3f}"
        self._count()
        result = self._call(lambda: self._conn.custom_query(promql, params=params))
        if (
            isinstance(result, list)
            and len(result) == 2
            and not isinstance(result[0], dict)
            and not isinstance(result[1], dict)
        ):
            return [Sample({}, _value(result[1]))]  # scalar / string result: [ts, "v"]
        return [
            Sample(dict(item.get("metric", {})), _value(item.get("value", [0, "NaN"])[1]))
            for item in result
        ]

    def query_range(
        self, promql: str, *, start: datetime, end: datetime, step: timedelta
    ) -> list[Series]:
        """Evaluate a range query and return one `Series` per label set."""
        # the library rounds start/end to whole seconds; exact values override them
        params = {
            **self._params(),
            "start": f"{start.timestamp():.3f}",
            "end": f"{end.timestamp():.3f}",
        }
        self._count()
        result = self._call(
            lambda: self._conn.custom_query_range(
                promql,
                start_time=start,
                end_time=end,
                # whole milliseconds: Prometheus truncates a float step ("514.285" → 514284ms)
                step=f"{max(round(step.total_seconds() * 1000), 1)}ms",
                params=params,
            )
        )
        return [
            Series(
                dict(item.get("metric", {})),
                [(float(ts), _value(v)) for ts, v in item.get("values", [])],
            )
            for item in result
        ]

    def _call(self, fn: object) -> list:  # type: ignore[type-arg]
        try:
            return fn()  # type: ignore[operator,no-any-return]
        except TelemetryUnavailable:
            raise
        except requests.exceptions.Timeout:
            raise TelemetryUnavailable(SOURCE, f"timed out after {self.timeout:g}s") from None
        except requests.exceptions.ConnectionError as exc:
            raise TelemetryUnavailable(SOURCE, _connection_reason(exc)) from None
        except PrometheusApiClientException as exc:
            raise TelemetryUnavailable(SOURCE, _api_reason(str(exc))) from None
        except requests.exceptions.RequestException as exc:
            raise TelemetryUnavailable(SOURCE, type(exc).__name__) from None
        except ValueError as exc:  # a body that is not JSON
            raise TelemetryUnavailable(SOURCE, f"bad response: {exc}") from None


def _connection_reason(exc: Exception) -> str:
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    return "cannot connect"


def _api_reason(text: str) -> str:
    # "HTTP Status Code 400 (b'{"status":"error","errorType":"bad_data","error":"..."}')"
    match = re.search(r"\((b['\"].*['\"])\)\s*$", text, re.S)
    if match:
        try:
            body = json.loads(ast.literal_eval(match.group(1)))
            return f"{body.get('errorType', 'error')}: {body.get('error', '')}".strip()[:300]
        except (ValueError, SyntaxError, AttributeError):
            pass
    return text[:300]
