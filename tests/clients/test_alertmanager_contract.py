"""What the client sends matches the Alertmanager v2 spec (tests/contracts/prometheus)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import jsonschema
import pytest
import yaml

from bot.clients.alertmanager import AlertmanagerClient, Matcher

SPEC = yaml.safe_load(
    (
        Path(__file__).parents[1] / "contracts" / "prometheus" / "alertmanager_api_v2_openapi.yaml"
    ).read_text()
)


def _validate(instance: object, definition: str) -> None:
    schema = {"$ref": f"#/definitions/{definition}", "definitions": SPEC["definitions"]}
    jsonschema.validate(instance, schema, format_checker=jsonschema.FormatChecker())


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A fake Alertmanager that records requests and answers like the real one."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"method": "POST", "path": self.path, "body": body})
            self._reply({"silenceID": "0b0c4bb2-7a3e-4d1e-9a8e-1f2a3b4c5d6e"})

        def do_GET(self) -> None:
            seen.append({"method": "GET", "path": self.path})
            self._reply([])

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()
    server.server_close()


def test_silence_body_is_a_postable_silence(recorder: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = recorder
    now = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    AlertmanagerClient(url).create_silence(
        matchers=[Matcher("alertname", "HighErrorRate"), Matcher("service", "cart|checkout", True)],
        starts_at=now,
        ends_at=now + timedelta(hours=2),
        created_by="copilot",
        comment="deploy window",
    )
    (request,) = seen
    assert request["path"] == "/api/v2/silences"
    _validate(request["body"], "postableSilence")
    assert request["body"]["startsAt"] == "2026-11-29T09:00:00Z"


def test_alert_list_parameters_are_the_spec_ones(
    recorder: tuple[str, list[dict[str, Any]]],
) -> None:
    url, seen = recorder
    AlertmanagerClient(url).firing_alerts(filters=['service="cart"'])
    query = parse_qs(urlparse(seen[0]["path"]).query)
    params = {
        p["name"] for p in SPEC["paths"]["/alerts"]["get"]["parameters"] if p.get("in") == "query"
    }
    assert set(query) <= params
    assert query == {
        "active": ["true"],
        "silenced": ["false"],
        "inhibited": ["false"],
        "filter": ['service="cart"'],
    }
