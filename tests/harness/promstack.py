"""Real Prometheus + Alertmanager for tests: free loopback ports, temp dirs, test-written configs.

`Exporter` serves settable metrics with prometheus_client; `PromStack` writes prometheus.yml,
rule files and alertmanager.yml, optionally backfills OpenMetrics text with promtool, starts
both binaries, waits for `/-/ready`, and stops them cleanly (logs are kept on failure).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric

PROMETHEUS_BIN = os.environ.get("COPILOT_PROMETHEUS_BIN", "/usr/bin/prometheus")
ALERTMANAGER_BIN = os.environ.get("COPILOT_ALERTMANAGER_BIN", "/usr/bin/prometheus-alertmanager")
PROMTOOL_BIN = os.environ.get("COPILOT_PROMTOOL_BIN", "/usr/bin/promtool")


def binaries_available() -> bool:
    """True when the Prometheus, Alertmanager and promtool binaries are installed."""
    return all(Path(p).exists() for p in (PROMETHEUS_BIN, ALERTMANAGER_BIN, PROMTOOL_BIN))


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (bind to 0, read it back, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Labels = tuple[tuple[str, str], ...]


class Exporter:
    """A scrape target whose samples the test sets: `exporter.set("x_total", {"a": "b"}, 3)`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: dict[str, dict[Labels, float]] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self._server: Any = None
        self.port = 0

    def set(self, name: str, labels: Mapping[str, str], value: float) -> None:
        """Set (or overwrite) one sample; names are exposed verbatim as untyped metrics."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._samples.setdefault(name, {})[key] = float(value)

    def inc(self, name: str, labels: Mapping[str, str], amount: float = 1.0) -> None:
        """Add to a sample (a counter)."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._samples.setdefault(name, {})
            series[key] = series.get(key, 0.0) + amount

    def remove(self, name: str) -> None:
        with self._lock:
            self._samples.pop(name, None)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            snapshot = {n: dict(s) for n, s in self._samples.items()}
        for name, series in snapshot.items():
            metric = Metric(name, name, "untyped")
            for labels, value in series.items():
                metric.add_sample(name, dict(labels), value)
            yield metric

    def start(self) -> str:
        """Serve /metrics on a free loopback port; returns `host:port`."""
        server, _thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self._server = server
        self.port = int(server.server_port)
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@dataclass
class StackConfig:
    """What the test wants the stack to look like."""

    scrape_targets: list[str] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)  # rule groups
    webhook_url: str | None = None
    webhook_token: str | None = None
    scrape_interval: str = "1s"
    evaluation_interval: str = "1s"
    group_wait: str = "1s"
    group_interval: str = "2s"
    repeat_interval: str = "1h"
    with_alertmanager: bool = True
    retention: str = "3650d"


def openmetrics_text(
    series: Iterable[tuple[str, Mapping[str, str], Iterable[tuple[float, float]]]],
) -> str:
    """OpenMetrics text for `(name, labels, [(unix_ts, value), ...])` rows, ending in `# EOF`."""
    lines: list[str] = []
    seen: set[str] = set()
    for name, labels, points in series:
        if name not in seen:
            seen.add(name)
            lines.append(f"# TYPE {name} gauge")
        lbl = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        selector = f"{name}{{{lbl}}}" if lbl else name
        for ts, value in points:
            lines.append(f"{selector} {_num(value)} {ts:.3f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: float) -> str:
    return repr(float(value)) if value == value else "NaN"


class StackError(RuntimeError):
    """A binary failed to start or become ready; the message includes its log tail."""


class PromStack:
    """Prometheus (and Alertmanager) started on free loopback ports in a temp directory."""

    def __init__(self, config: StackConfig, *, workdir: Path | None = None) -> None:
        self.config = config
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="promstack-"))
        self.data_dir = self.workdir / "prom-data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.prom_port = 0
        self.am_port = 0
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, Path] = {}
        self.keep_logs = False

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prom_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.am_port}"

    # ---- backfill -------------------------------------------------------------------------
    def backfill(self, text: str) -> None:
        """Write OpenMetrics text and turn it into TSDB blocks in the data dir (before start)."""
        src = self.workdir / f"backfill-{time.monotonic_ns()}.om"
        src.write_text(text)
        out = subprocess.run(
            [
                PROMTOOL_BIN,
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                str(src),
                str(self.data_dir),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if out.returncode != 0:
            raise StackError(f"promtool backfill failed: {out.stderr[-2000:]}")
        src.unlink()

    # ---- configuration --------------------------------------------------------------------
    def _write_configs(self) -> None:
        cfg = self.config
        rules_path = self.workdir / "rules.yml"
        rules_path.write_text(yaml.safe_dump({"groups": cfg.rules}))
        prom: dict[str, Any] = {
            "global": {
                "scrape_interval": cfg.scrape_interval,
                "evaluation_interval": cfg.evaluation_interval,
            },
            "rule_files": [str(rules_path)],
            "scrape_configs": [
                {"job_name": "exporter", "static_configs": [{"targets": cfg.scrape_targets}]}
            ]
            if cfg.scrape_targets
            else [],
        }
        if cfg.with_alertmanager:
            prom["alerting"] = {
                "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{self.am_port}"]}]}]
            }
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(prom))
        if not cfg.with_alertmanager:
            return
        webhook: dict[str, Any] = {
            "url": cfg.webhook_url or "http://127.0.0.1:9/unused",
            "send_resolved": True,
        }
        if cfg.webhook_token:
            webhook["http_config"] = {
                "authorization": {"type": "Bearer", "credentials": cfg.webhook_token}
            }
        am = {
            "global": {"resolve_timeout": "5m"},
            "route": {
                "receiver": "test-webhook",
                "group_by": ["alertname"],
                "group_wait": cfg.group_wait,
                "group_interval": cfg.group_interval,
                "repeat_interval": cfg.repeat_interval,
            },
            "receivers": [{"name": "test-webhook", "webhook_configs": [webhook]}],
        }
        (self.workdir / "alertmanager.yml").write_text(yaml.safe_dump(am))

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self, *, timeout: float = 60.0) -> PromStack:
        """Start Alertmanager (if configured) then Prometheus; wait until both are ready."""
        self.prom_port = free_port()
        if self.config.with_alertmanager:
            self.am_port = free_port()
        self._write_configs()
        if self.config.with_alertmanager:
            am_dir = self.workdir / "am-data"
            am_dir.mkdir(exist_ok=True)
            self._spawn(
                "alertmanager",
                [
                    ALERTMANAGER_BIN,
                    f"--config.file={self.workdir / 'alertmanager.yml'}",
                    f"--storage.path={am_dir}",
                    f"--web.listen-address=127.0.0.1:{self.am_port}",
                    "--cluster.listen-address=",
                    "--log.level=info",
                ],
            )
        self._spawn(
            "prometheus",
            [
                PROMETHEUS_BIN,
                f"--config.file={self.workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.data_dir}",
                f"--storage.tsdb.retention.time={self.config.retention}",
                f"--web.listen-address=127.0.0.1:{self.prom_port}",
                "--web.enable-lifecycle",
                "--log.level=info",
            ],
        )
        try:
            self.wait_ready("prometheus", self.prometheus_url, timeout=timeout)
            if self.config.with_alertmanager:
                self.wait_ready("alertmanager", self.alertmanager_url, timeout=timeout)
        except Exception:
            self.keep_logs = True
            self.stop()
            raise
        return self

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = self.workdir / f"{name}.log"
        self._logs[name] = log
        with log.open("ab") as fh:
            self._procs[name] = subprocess.Popen(
                argv,
                stdout=fh,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
            )

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self._logs.get(name)
        return path.read_text(errors="replace")[-chars:] if path and path.exists() else ""

    def wait_ready(self, name: str, base_url: str, *, timeout: float = 60.0) -> None:
        """Poll `{base_url}/-/ready` until HTTP 200; raise StackError with the log tail."""
        deadline = time.monotonic() + timeout
        proc = self._procs[name]
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise StackError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")
            try:
                with urllib.request.urlopen(f"{base_url}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise StackError(f"{name} not ready after {timeout}s:\n{self.log_tail(name)}")

    def stop_process(self, name: str, *, timeout: float = 15.0) -> None:
        """Stop one binary with SIGTERM (SIGKILL after `timeout`)."""
        proc = self._procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def stop(self) -> None:
        """Stop both binaries; remove the workdir unless logs must be kept."""
        for name in ("prometheus", "alertmanager"):
            self.stop_process(name)
        if not self.keep_logs:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> PromStack:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            self.keep_logs = True
        self.stop()

    # ---- helpers for tests ----------------------------------------------------------------
    def wait_for_query(self, promql: str, *, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Poll an instant query until it returns a non-empty result."""
        import json
        import urllib.parse

        deadline = time.monotonic() + timeout
        url = f"{self.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        while time.monotonic() < deadline:
            with urllib.request.urlopen(url, timeout=5) as resp:
                body = json.loads(resp.read())
            result = body["data"]["result"]
            if result:
                return list(result)
            time.sleep(0.2)
        raise StackError(f"query {promql!r} stayed empty for {timeout}s")

    def wait_for_firing(self, alertname: str, *, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Poll Alertmanager's v2 API until an active alert named `alertname` is present."""
        import json

        deadline = time.monotonic() + timeout
        url = f"{self.alertmanager_url}/api/v2/alerts?active=true"
        while time.monotonic() < deadline:
            with urllib.request.urlopen(url, timeout=5) as resp:
                alerts = json.loads(resp.read())
            found = [a for a in alerts if a["labels"].get("alertname") == alertname]
            if found:
                return found
            time.sleep(0.2)
        raise StackError(f"alert {alertname} not firing in Alertmanager after {timeout}s")
