"""The harness itself: backfill is queryable, webhooks arrive with the bearer token."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.clients.prometheus import PrometheusClient, Sample
from tests.harness.promstack import Exporter, StackConfig, openmetrics_text

pytestmark = pytest.mark.prometheus


def test_backfilled_series_are_queryable(promstack_factory) -> None:  # type: ignore[no-untyped-def]
    now = int(datetime.now(UTC).timestamp()) // 60 * 60 - 120
    text = openmetrics_text([("known_gauge", {"service": "a"}, [(now - 60, 1.0), (now, 5.0)])])
    stack = promstack_factory(StackConfig(with_alertmanager=False), backfill=[text])
    client = PrometheusClient(stack.prometheus_url)
    at = datetime.fromtimestamp(now, UTC)
    assert client.query("known_gauge", at=at) == [
        Sample({"__name__": "known_gauge", "service": "a"}, 5.0)
    ]


class _Hook(BaseHTTPRequestHandler):
    received: list[tuple[str | None, dict]] = []  # type: ignore[type-arg]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.headers.get("Authorization"), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list]]:  # type: ignore[type-arg]
    class Hook(_Hook):
        received: list[tuple[str | None, dict]] = []  # type: ignore[type-arg]

    handler = Hook
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alertmanager/webhook", handler.received
    server.shutdown()
    server.server_close()


def test_alert_reaches_webhook_with_bearer_token(
    exporter: Exporter,
    promstack_factory,  # type: ignore[no-untyped-def]
    webhook: tuple[str, list],  # type: ignore[type-arg]
) -> None:
    url, received = webhook
    exporter.set("demo_down", {"service": "checkout"}, 1)
    rules = [{"name": "t", "rules": [{"alert": "DemoDown", "expr": "demo_down > 0"}]}]
    stack = promstack_factory(
        StackConfig(
            scrape_targets=[f"127.0.0.1:{exporter.port}"],
            rules=rules,
            webhook_url=url,
            webhook_token="s3cret-test-token",
        )
    )
    stack.wait_for_firing("DemoDown")
    import time

    deadline = time.monotonic() + 30
    while not received and time.monotonic() < deadline:
        time.sleep(0.2)
    assert received, "no webhook call"
    auth, body = received[0]
    assert auth == "Bearer s3cret-test-token"
    assert body["status"] == "firing"
    assert body["alerts"][0]["labels"]["alertname"] == "DemoDown"
