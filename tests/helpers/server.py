"""Run `console-copilot` as a real subprocess on a free port (browser, replica and fault tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def serve(
    env: dict[str, str], *, log_path: Path | None = None, args: tuple[str, ...] = ()
) -> Iterator[str]:
    """Start `console-copilot serve`; yield its base URL once /readyz answers."""
    with serving(env, log_path=log_path, args=args) as (base, _proc):
        yield base


@contextmanager
def serving(
    env: dict[str, str], *, log_path: Path | None = None, args: tuple[str, ...] = ()
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start `console-copilot serve [args]`; yield (base URL, process) once /readyz answers."""
    port = free_port()
    full_env = {
        **os.environ,
        "COPILOT_HTTP_HOST": "127.0.0.1",
        "COPILOT_HTTP_PORT": str(port),
        **env,
    }
    out = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", *args],
        env=full_env,
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                detail = log_path.read_text() if log_path else ""
                raise RuntimeError(f"console-copilot serve exited with {proc.returncode}\n{detail}")
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("console-copilot serve did not become ready")
            time.sleep(0.1)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log_path:
            out.close()  # type: ignore[union-attr]
