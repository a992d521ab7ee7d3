from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from runbooks.steps import KINDS, StepContext, StepFailed
from runbooks.steps.base import parse_duration
from runbooks.steps.checks import HttpPrometheus


class StaticProm:
    def __init__(self, *values: float) -> None:
        self.values = list(values)
        self.queries: list[str] = []

    def query(self, promql: str) -> list[tuple[dict[str, str], float]]:
        self.queries.append(promql)
        value = self.values.pop(0) if len(self.values) > 1 else self.values[0]
        return [({"job": "edge"}, value)]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_parse_duration() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25
    assert parse_duration(12) == 12
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_prometheus_check_passes_and_fails() -> None:
    ok = KINDS["prometheus_check"].run(
        StepContext(prometheus=StaticProm(0.01)), {"query": "err", "op": "<", "threshold": 0.05}
    )
    assert ok.summary == "err = 0.01 (must be < 0.05)"
    with pytest.raises(StepFailed, match=r"Check failed: err = 0.2 \(must be < 0.05\)"):
        KINDS["prometheus_check"].run(
            StepContext(prometheus=StaticProm(0.2)), {"query": "err", "op": "<", "threshold": 0.05}
        )


def test_wait_for_a_condition_and_time_out() -> None:
    clock = Clock()
    ctx = StepContext(
        prometheus=StaticProm(0.3, 0.2, 0.01), sleep=clock.sleep, monotonic=clock.monotonic
    )
    cond = {"kind": "prometheus_check", "query": "err", "op": "<", "threshold": 0.05}
    res = KINDS["wait"].run(ctx, {"condition": cond, "timeout": "5m", "interval": "30s"})
    assert res.summary.startswith("Condition met") and clock.sleeps == [30, 30]
    ctx = StepContext(prometheus=StaticProm(0.3), sleep=clock.sleep, monotonic=clock.monotonic)
    with pytest.raises(StepFailed, match="Timed out after 60s"):
        KINDS["wait"].run(ctx, {"condition": cond, "timeout": "1m", "interval": "20s"})
    plain = Clock()
    KINDS["wait"].run(StepContext(sleep=plain.sleep), {"duration": "2m"})
    assert plain.sleeps == [120]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = 200 if self.path == "/healthz" else 503
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"ok" if code == 200 else b"down")

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def web() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_http_check(web: str) -> None:
    ok = KINDS["http_check"].run(StepContext(), {"url": f"{web}/healthz", "contains": "ok"})
    assert ok.summary.endswith("answered HTTP 200")
    with pytest.raises(StepFailed, match="failed: HTTP 503"):
        KINDS["http_check"].run(StepContext(), {"url": f"{web}/other"})
    with pytest.raises(StepFailed, match="Only http"):
        KINDS["http_check"].run(StepContext(), {"url": "file:///etc/passwd"})


def test_notify_returns_the_message() -> None:
    res = KINDS["notify"].run(StepContext(), {"message": "hello"})
    assert res.message == "hello"


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("the prometheus binary is required (apt install prometheus)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "prometheus.yml").write_text("global: {scrape_interval: 1h}\n")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as resp:
                if resp.status == 200:
                    break
        except OSError:
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.mark.prometheus
def test_prometheus_check_against_real_prometheus(prometheus: str) -> None:
    prom = HttpPrometheus(prometheus)
    assert prom.query("vector(42)") == [({}, 42.0)]
    assert prom.query("scalar(vector(1.5))") == [({}, 1.5)]
    ctx = StepContext(prometheus=prom)
    KINDS["prometheus_check"].run(ctx, {"query": "vector(1200)", "op": ">", "threshold": 1000})
    with pytest.raises(StepFailed, match="Prometheus query failed"):
        KINDS["prometheus_check"].run(ctx, {"query": "rate(", "threshold": 1})
    with pytest.raises(StepFailed, match="no data"):
        KINDS["prometheus_check"].run(ctx, {"query": "absent_metric_xyz", "threshold": 1})
