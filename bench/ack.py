"""Slash-command ack latency: console-copilot vs bare slack-bolt vs a bare signature check.

Signed `/copilot help` slash commands are sent over HTTP at a fixed rate (open loop: each
request leaves at its scheduled time, whatever the previous ones do) to each target in turn;
the script prints p50 / p99 / max ack latency and errors side by side.

    .venv/bin/python bench/ack.py [--rate 200] [--seconds 30] [--runs 3]
    git worktree add /tmp/base <commit>   # then, A/B in one run:
    .venv/bin/python bench/ack.py --compare /tmp/base --targets copilot-sqlite,copilot-sqlite@base

Targets: console-copilot serve on SQLite and on PostgreSQL (the event durably recorded in
the inbox before the ack), in one process and with `--workers 2` (`copilot-<db>-w2`: this
process acknowledges, two worker processes handle), slack-bolt's AsyncApp (default mode and
process_before_response),
and a bare aiohttp handler that only verifies the signature (the floor).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.helpers.server import free_port  # noqa: E402

SECRET = "bench-signing-secret"
PG = os.environ.get("COPILOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    sig = hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={sig}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def command_body(stub: str) -> str:
    trigger = uuid.uuid4().hex
    return urllib.parse.urlencode(
        {
            "token": "legacy",
            "team_id": "T0BENCH",
            "team_domain": "bench",
            "channel_id": "C0BENCH",
            "channel_name": "bench",
            "user_id": "U0BENCH",
            "user_name": "bench",
            "command": "/copilot",
            "text": "help",
            "api_app_id": "A0BENCH",
            "response_url": f"{stub}/response/{trigger}",
            "trigger_id": f"{trigger}.1.x",
        }
    )


async def load(url: str, rate: int, seconds: int, stub: str) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    # Bodies and signatures are made before the clock starts: the load generator shares the
    # machine's two cores with the target, and its own work must not add to what it measures.
    requests = [
        (body, signed(body)) for body in (command_body(stub) for _ in range(rate * seconds))
    ]
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(body: str, headers: dict[str, str]) -> None:
            nonlocal errors
            start = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
                        return
            except aiohttp.ClientError:
                errors += 1
                return
            latencies.append((time.perf_counter() - start) * 1000)

        tasks = []
        t0 = time.perf_counter()
        for i, (body, headers) in enumerate(requests):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(body, headers)))
        await asyncio.gather(*tasks)
    return latencies, errors


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, data=b"", timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers (401/404 is fine: it is up)
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


@contextmanager
def process(args: list[str], env: dict[str, str] | None = None) -> Iterator[None]:
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def copilot(
    db: str, stub: str, tmp: Path, workers: int = 0, root: Path = ROOT
) -> Iterator[tuple[str, int]]:
    if db == "sqlite":
        url = f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:8]}.db'}"
    else:
        name = f"cc_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        url = PG.rsplit("/", 1)[0] + "/" + name
    port = free_port()
    env = {
        "DATABASE_URL": url,
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": f"{stub}/api/",
        "COPILOT_HTTP_HOST": "127.0.0.1",
        "COPILOT_HTTP_PORT": str(port),
        "COPILOT_LOG_LEVEL": "WARNING",
    }
    py = sys.executable
    subprocess.run(
        [py, "-m", "bot.cli", "migrate"],
        cwd=root,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen(
        [py, "-m", "bot.cli", "serve", *(["--workers", str(workers)] if workers else [])],
        cwd=root,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base + "/slack/events", proc)
        yield base + "/slack/events", proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=40)
        if db == "postgres":
            with psycopg.connect(PG, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def baseline(kind: str, stub: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    args = [sys.executable, str(ROOT / "bench" / "_servers.py"), kind, str(port), SECRET]
    args.append(f"{stub}/api/")
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/slack/events"
    try:
        wait_ready(url, proc)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def answered(stub: str) -> int:
    with urllib.request.urlopen(f"{stub}/stats", timeout=5) as r:
        return int(json.loads(r.read())["n"])


def drained(stub: str, expected: int, limit: float = 300) -> float:
    """Seconds until the stub has seen `expected` answers (the handling backlog)."""
    start = time.perf_counter()
    while answered(stub) < expected and time.perf_counter() - start < limit:
        time.sleep(0.05)
    return time.perf_counter() - start


def children(pid: int) -> list[int]:
    """Direct children of a process (a replica's worker processes), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def proc_stats(pid: int) -> tuple[float, float]:
    """(cpu seconds, RSS MiB) of a process and its worker processes, from /proc."""
    cpu = rss = 0.0
    for p in [pid, *children(pid)]:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{p}/status") as f:
                kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
        except (OSError, StopIteration):  # a worker that just exited
            continue
        cpu += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        rss += kib / 1024
    return cpu, rss


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument(
        "--runs",
        type=int,
        default=1,
        help="rounds over every target (interleaved, so drift on the machine hits all alike); "
        "p50/p99 are the median of the rounds, the p99 range their spread",
    )
    ap.add_argument(
        "--targets",
        default="floor,bolt,bolt-pbr,copilot-sqlite,copilot-postgres,"
        "copilot-sqlite-w1,copilot-postgres-w1,copilot-sqlite-w2,copilot-postgres-w2",
    )
    ap.add_argument(
        "--compare",
        type=Path,
        help="a checkout of another commit (git worktree add DIR REV): a target named "
        "copilot-...@base runs that code, beside the same target on this checkout",
    )
    ns = ap.parse_args()
    import tempfile

    stub_port = free_port()
    stub = f"http://127.0.0.1:{stub_port}"
    targets = ns.targets.split(",")
    # per round: latencies, errors, answered after (s), CPU ms per command (process tree)
    results: dict[str, list[tuple[list[float], int, float | None, float]]] = {
        t: [] for t in targets
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        process(
            [sys.executable, str(ROOT / "bench" / "_servers.py"), "slack-stub", str(stub_port)]
        ),
    ):
        time.sleep(1)
        for round_ in range(ns.runs):
            for target in targets:
                if target.startswith("copilot-"):  # copilot-<db>[-w<N>][@base]: N workers
                    name, _, base = target.partition("@")
                    db, _, w = name.split("-", 1)[1].partition("-w")
                    if base and ns.compare is None:
                        ap.error(f"{target}: needs --compare DIR")
                    root = ns.compare.resolve() if base else ROOT
                    ctx = copilot(db, stub, Path(tmp), workers=int(w or 0), root=root)
                else:
                    ctx = baseline(target, stub)
                with ctx as (url, pid):
                    start = answered(stub)
                    warm, _ = asyncio.run(load(url, 20, 2, stub))  # warm-up
                    if target.startswith("copilot-"):  # every process up (workers import)
                        drained(stub, start + len(warm), limit=120)
                    before = answered(stub)
                    cpu = proc_stats(pid)[0]
                    lat, errors = asyncio.run(load(url, ns.rate, ns.seconds, stub))
                    copilot_target = target.startswith("copilot-")
                    drain = drained(stub, before + len(lat)) if copilot_target else None
                    cpu = (proc_stats(pid)[0] - cpu) * 1000 / max(1, len(lat))
                results[target].append((lat, errors, drain, cpu))
                print(f"  done: {target} (round {round_ + 1})", file=sys.stderr)
    rounds = f", median of {ns.runs} rounds" if ns.runs > 1 else ""
    if ns.compare is not None:
        head = subprocess.run(
            ["git", "-C", str(ns.compare), "log", "--oneline", "-1"], text=True, capture_output=True
        ).stdout.strip()
        print(f"\n@base: {ns.compare} ({head})")
    print(f"\nack latency, {ns.rate} signed slash commands/s for {ns.seconds} s (ms{rounds})")
    print(
        f"{'target':<26}{'n':>7}{'p50':>9}{'p99':>9}{'p99 range':>16}{'max':>9}{'errors':>8}"
        f"{'cpu/cmd':>9}{'answered after':>16}"
    )
    for target in targets:
        runs = results[target]
        p50 = statistics.median(pct(lat, 50) for lat, *_ in runs)
        p99s = [pct(lat, 99) for lat, *_ in runs]
        spread = f"{min(p99s):.2f}–{max(p99s):.2f}"
        worst = max((max(lat, default=float("nan")) for lat, *_ in runs), default=float("nan"))
        drains = [d for _, _, d, _ in runs if d is not None]
        tail = f"{max(drains):>14.1f} s" if drains else ""
        cpu = statistics.median(c for *_, c in runs)
        print(
            f"{target:<26}{sum(len(lat) for lat, *_ in runs):>7}{p50:>9.2f}"
            f"{statistics.median(p99s):>9.2f}{spread:>16}{worst:>9.2f}"
            f"{sum(e for _, e, *_ in runs):>8}{cpu:>9.2f}{tail}"
        )
    print(
        "cpu/cmd: CPU ms the target's processes (workers included) spent per command, from the"
        " start of the load until every command was answered"
    )
    print(
        "answered after: seconds from the last request until the bot had answered every command"
        " (response_url posts seen by the Slack stub): the handling backlog behind the acks"
    )


if __name__ == "__main__":
    main()
