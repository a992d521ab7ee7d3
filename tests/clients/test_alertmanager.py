"""AlertmanagerClient against a real Alertmanager fed by a real Prometheus rule."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.clients.alertmanager import AlertmanagerClient, Matcher, parse_time
from bot.clients.errors import TelemetryUnavailable
from tests.harness.promstack import Exporter, PromStack, StackConfig, free_port

pytestmark = pytest.mark.prometheus

RULES = [
    {
        "name": "demo",
        "rules": [
            {
                "alert": "DemoErrors",
                "expr": "demo_errors > 0",
                "labels": {"severity": "critical"},
                "annotations": {"summary": "errors on {{ $labels.service }}"},
            }
        ],
    }
]


@pytest.fixture(scope="module")
def stack(module_exporter: Exporter, module_promstack_factory) -> PromStack:  # type: ignore[no-untyped-def]
    module_exporter.set("demo_errors", {"service": "checkout"}, 3)
    module_exporter.set("demo_errors", {"service": "cart"}, 1)
    st = module_promstack_factory(
        StackConfig(scrape_targets=[f"127.0.0.1:{module_exporter.port}"], rules=RULES)
    )
    st.wait_for_firing("DemoErrors")
    return st


def _wait_count(client: AlertmanagerClient, n: int) -> list:  # type: ignore[type-arg]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alerts = client.firing_alerts(filters=['alertname="DemoErrors"'])
        if len(alerts) == n:
            return alerts
        time.sleep(0.2)
    raise AssertionError(f"expected {n} firing alerts")


def test_firing_alerts_are_typed(stack: PromStack) -> None:
    client = AlertmanagerClient(stack.alertmanager_url)
    alerts = sorted(_wait_count(client, 2), key=lambda a: a.labels["service"])
    assert [a.labels["service"] for a in alerts] == ["cart", "checkout"]
    assert alerts[1].labels["severity"] == "critical"
    assert alerts[1].annotations == {"summary": "errors on checkout"}
    assert alerts[1].state == "active"
    assert alerts[1].starts_at.tzinfo is not None
    assert alerts[1].starts_at <= datetime.now(UTC)


def test_silenced_alert_is_not_firing(stack: PromStack) -> None:
    client = AlertmanagerClient(stack.alertmanager_url)
    now = datetime.now(UTC)
    silence_id = client.create_silence(
        matchers=[Matcher("alertname", "DemoErrors"), Matcher("service", "cart")],
        starts_at=now,
        ends_at=now + timedelta(minutes=5),
        created_by="tests",
        comment="maintenance",
    )
    assert silence_id
    alerts = _wait_count(client, 1)
    assert alerts[0].labels["service"] == "checkout"


def test_status(stack: PromStack) -> None:
    status = AlertmanagerClient(stack.alertmanager_url).status()
    assert status.version == "0.25.0"
    assert status.cluster_status == "disabled"
    assert status.uptime is not None and status.uptime <= datetime.now(UTC)


def test_invalid_silence_is_an_http_error(stack: PromStack) -> None:
    now = datetime.now(UTC)
    with pytest.raises(TelemetryUnavailable) as err:
        AlertmanagerClient(stack.alertmanager_url).create_silence(
            matchers=[Matcher("alertname", "DemoErrors")],
            starts_at=now,
            ends_at=now - timedelta(minutes=1),
            created_by="tests",
            comment="backwards",
        )
    assert err.value.reason.startswith("HTTP 400")


def test_connection_refused() -> None:
    with pytest.raises(TelemetryUnavailable) as err:
        AlertmanagerClient(f"http://127.0.0.1:{free_port()}").firing_alerts()
    assert (err.value.source, err.value.reason) == ("alertmanager", "connection refused")


def test_parse_time_handles_nanoseconds() -> None:
    assert parse_time("2026-11-29T17:16:04.123456789Z") == datetime(
        2026, 11, 29, 17, 16, 4, 123456, tzinfo=UTC
    )
