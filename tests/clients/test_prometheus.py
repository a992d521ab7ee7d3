"""PrometheusClient against a real Prometheus scraping a test exporter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.clients.errors import TelemetryUnavailable
from bot.clients.prometheus import PrometheusClient, Sample
from tests.harness.promstack import Exporter, PromStack, StackConfig, free_port

pytestmark = pytest.mark.prometheus


@pytest.fixture(scope="module")
def stack(module_exporter: Exporter, module_promstack_factory) -> PromStack:  # type: ignore[no-untyped-def]
    module_exporter.set("demo_requests_total", {"service": "checkout", "code": "200"}, 42)
    module_exporter.set("demo_requests_total", {"service": "cart", "code": "500"}, 7)
    st = module_promstack_factory(
        StackConfig(scrape_targets=[f"127.0.0.1:{module_exporter.port}"], with_alertmanager=False)
    )
    st.wait_for_query("demo_requests_total")
    return st


def test_instant_query_returns_typed_samples(stack: PromStack) -> None:
    client = PrometheusClient(stack.prometheus_url)
    samples = client.query("sum by (service) (demo_requests_total)")
    assert sorted(samples, key=lambda s: s.labels["service"]) == [
        Sample({"service": "cart"}, 7.0),
        Sample({"service": "checkout"}, 42.0),
    ]
    assert client.query_count == 1


def test_scalar_result_is_one_unlabelled_sample(stack: PromStack) -> None:
    assert PrometheusClient(stack.prometheus_url).query("1 + 1") == [Sample({}, 2.0)]


def test_range_query_returns_points(stack: PromStack) -> None:
    client = PrometheusClient(stack.prometheus_url)
    end = datetime.now(UTC)
    series = client.query_range(
        'demo_requests_total{service="checkout"}',
        start=end - timedelta(seconds=2),
        end=end,
        step=timedelta(seconds=1),
    )
    assert len(series) == 1, series
    assert series[0].labels["service"] == "checkout"
    assert series[0].points and all(v == 42.0 for _, v in series[0].points)


def test_bad_query_maps_to_telemetry_unavailable(stack: PromStack) -> None:
    with pytest.raises(TelemetryUnavailable) as err:
        PrometheusClient(stack.prometheus_url).query("sum(")
    assert err.value.source == "prometheus"
    assert err.value.reason.startswith("bad_data: ")
    assert "parse error" in err.value.reason


def test_connection_refused() -> None:
    with pytest.raises(TelemetryUnavailable) as err:
        PrometheusClient(f"http://127.0.0.1:{free_port()}").query("up")
    assert err.value.reason == "connection refused"


def test_timeout(silent_server: str) -> None:
    with pytest.raises(TelemetryUnavailable) as err:
        PrometheusClient(silent_server, timeout=0.5).query("up")
    assert err.value.reason == "timed out after 0.5s"
