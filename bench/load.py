"""Sustained mixed load against 1, 2 and 3 `console-copilot serve` replicas on one PostgreSQL.

Mixed traffic, round-robin over the replicas (as a load balancer would): signed slash
commands, button clicks (block_actions), Events API mentions and Alertmanager webhooks.
Prints p50 / p99 / p99.9 ack latency, errors, the outbox lag after the run, and CPU and memory
of each replica (with its worker processes) at the start and at the end; then a scaling curve:
the highest rate whose p99 stays under 100 ms, for each layout. Layouts: `--layouts 1,2,3,1w1`
(default): 1, 2 and 3 replicas, and one replica with `serve --workers 1`.

    .venv/bin/python bench/load.py --quick            # 60 s at 300/s, short curve (~10 min)
    .venv/bin/python bench/load.py                    # 300 s at 300/s per layout (make soak)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import aiohttp
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.ack import SECRET, pct, proc_stats, process, signed  # noqa: E402
from tests.helpers.server import free_port  # noqa: E402

PG = os.environ.get("COPILOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
SAMPLE_EVERY = 30.0  # seconds between RSS samples during a sustained run
AM_PAYLOAD = json.loads(
    (ROOT / "tests/contracts/prometheus/01.firing.TargetDown.from_prometheus.json").read_text()
)


def slash(stub: str) -> tuple[str, str]:
    trig = uuid.uuid4().hex
    body = urllib.parse.urlencode(
        {
            "team_id": "T0LOAD",
            "channel_id": "C0LOAD",
            "user_id": f"U{random.randint(1, 50):04d}",
            "user_name": "load",
            "command": "/copilot",
            "text": "help",
            "response_url": f"{stub}/response/{trig}",
            "trigger_id": f"{trig}.1.x",
        }
    )
    return "slash", body


def click(stub: str) -> tuple[str, str]:
    trig = uuid.uuid4().hex
    payload = {
        "type": "block_actions",
        "user": {"id": "U0001", "username": "load", "team_id": "T0LOAD"},
        "team": {"id": "T0LOAD"},
        "channel": {"id": "C0LOAD", "name": "load"},
        "container": {"type": "message", "message_ts": "1.0", "channel_id": "C0LOAD"},
        "trigger_id": f"{trig}.1.x",
        "response_url": f"{stub}/response/{trig}",
        "actions": [
            {
                "action_id": "copilot:help",
                "value": "digest",
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return "click", urllib.parse.urlencode({"payload": json.dumps(payload)})


def mention(stub: str) -> tuple[str, str]:
    ts = f"{time.time():.6f}"
    body = {
        "type": "event_callback",
        "team_id": "T0LOAD",
        "api_app_id": "A0LOAD",
        "event_id": "Ev" + uuid.uuid4().hex[:12].upper(),
        "event_time": int(time.time()),
        "event": {
            "type": "app_mention",
            "user": "U0001",
            "text": "<@UBOT> help",
            "ts": ts,
            "channel": "C0LOAD",
            "event_ts": ts,
        },
    }
    return "event", json.dumps(body)


def alert(stub: str) -> tuple[str, str]:
    payload = dict(AM_PAYLOAD)
    n = random.randint(1, 20)
    payload["groupKey"] = '{}:{alertname="Load' + str(n) + '"}'
    payload["alerts"] = [dict(a, fingerprint=uuid.uuid4().hex[:16]) for a in payload["alerts"]]
    return "alert", json.dumps(payload)


MIX = [slash] * 5 + [click] * 2 + [mention] * 2 + [alert]


async def run_load(urls: list[str], rate: int, seconds: float, stub: str) -> dict[str, object]:
    lat: list[float] = []
    kinds: dict[str, list[float]] = {}
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=400)) as session:

        async def one(i: int) -> None:
            nonlocal errors
            kind, body = random.choice(MIX)(stub)
            base = urls[i % len(urls)]
            if kind == "alert":
                url, headers = base + "/alertmanager/webhook", {"Content-Type": "application/json"}
            else:
                url = base + "/slack/events"
                headers = signed(body)
                if kind == "event":
                    headers["Content-Type"] = "application/json"
            start = time.perf_counter()
            try:
                async with session.post(
                    url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
                ) as r:
                    await r.read()
                    ok = r.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            ms = (time.perf_counter() - start) * 1000
            if not ok:
                errors += 1
                return
            lat.append(ms)
            kinds.setdefault(kind, []).append(ms)

        tasks = []
        t0 = time.perf_counter()
        n = int(rate * seconds)
        for i in range(n):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
    return {"lat": lat, "errors": errors, "sent": n, "elapsed": elapsed, "kinds": kinds}


def outbox_lag(url: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("copilot_outbox_lag_seconds "):
                return float(line.split()[1])
    return float("nan")


@contextmanager
def database() -> Iterator[str]:
    name = f"cc_load_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = PG.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with psycopg.connect(PG, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def replicas(n: int, db: str, stub: str, workers: int = 0) -> Iterator[list[tuple[str, int]]]:
    env = {
        **os.environ,
        "DATABASE_URL": db,
        "SLACK_BOT_TOKEN": "xoxb-load",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": f"{stub}/api/",
        "COPILOT_ALERTS_CHANNEL": "C0ALERTS",
        "COPILOT_LOG_LEVEL": "WARNING",
        "COPILOT_HTTP_HOST": "127.0.0.1",
    }
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "migrate"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    procs = []
    try:
        for _ in range(n):
            port = free_port()
            p = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve", "--workers", str(workers)],
                cwd=ROOT,
                env={**env, "COPILOT_HTTP_PORT": str(port)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            procs.append((f"http://127.0.0.1:{port}", p))
        for url, p in procs:
            deadline = time.monotonic() + 120
            while True:
                try:
                    urllib.request.urlopen(url + "/readyz", timeout=2)
                    break
                except OSError:
                    if time.monotonic() > deadline or p.poll() is not None:
                        raise RuntimeError(f"replica {url} did not start") from None
                    time.sleep(0.2)
        yield [(url, p.pid) for url, p in procs]
    finally:
        for _, p in procs:
            p.terminate()
        for _, p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def layout(spec: str) -> tuple[int, int]:
    """ "2" → two replicas; "1w2" → one replica with two worker processes."""
    n, _, w = spec.partition("w")
    return int(n), int(w or 0)


def label(n: int, workers: int) -> str:
    return f"{n} replica(s)" + (f" with --workers {workers}" if workers else "")


def sustained(n: int, rate: int, seconds: float, stub: str, workers: int = 0) -> None:
    with database() as db, replicas(n, db, stub, workers) as reps:
        urls = [u for u, _ in reps]
        asyncio.run(run_load(urls, 20, 2, stub))  # warm-up
        before = {pid: proc_stats(pid) for _, pid in reps}
        samples: list[list[float]] = []  # RSS of each replica every SAMPLE_EVERY s
        done = threading.Event()

        def sample() -> None:
            while not done.wait(SAMPLE_EVERY):
                samples.append([proc_stats(pid)[1] for _, pid in reps])

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t_wall = time.time()
        res = asyncio.run(run_load(urls, rate, seconds, stub))
        wall = time.time() - t_wall
        done.set()
        sampler.join()
        time.sleep(2)
        after = {pid: proc_stats(pid) for _, pid in reps}
        lag = max(outbox_lag(u) for u in urls)
    lat = res["lat"]
    assert isinstance(lat, list)
    print(
        f"\n{label(n, workers)}, {rate}/s for {seconds:.0f} s: sent {res['sent']}, ok {len(lat)}, "
        f"errors {res['errors']}, achieved {len(lat) / float(res['elapsed']):.0f}/s"
    )
    print(
        f"  ack ms  p50 {pct(lat, 50):.2f}  p99 {pct(lat, 99):.2f}  p99.9 {pct(lat, 99.9):.2f}"
        f"  max {max(lat, default=float('nan')):.2f}   outbox lag after 2 s: {lag:.1f} s"
    )
    kinds = res["kinds"]
    assert isinstance(kinds, dict)
    for kind, values in sorted(kinds.items()):
        print(
            f"    {kind:<6} n={len(values):<6} "
            f"p50 {pct(values, 50):7.2f}  p99 {pct(values, 99):7.2f}"
        )
    for i, (_, pid) in enumerate(reps):
        c0, m0 = before[pid]
        c1, m1 = after[pid]
        print(
            f"  replica {i + 1}: CPU {100 * (c1 - c0) / wall:5.1f}% of a core, "
            f"RSS {m0:6.1f} → {m1:6.1f} MiB"
        )
        series = " ".join(f"{row[i]:.0f}" for row in samples)
        print(f"    RSS every {SAMPLE_EVERY:.0f} s (MiB): {series}")


def curve(n: int, rates: list[int], seconds: float, stub: str, workers: int = 0) -> int:
    best = 0
    with database() as db, replicas(n, db, stub, workers) as reps:
        urls = [u for u, _ in reps]
        asyncio.run(run_load(urls, 20, 2, stub))
        for rate in rates:
            res = asyncio.run(run_load(urls, rate, seconds, stub))
            lat = res["lat"]
            assert isinstance(lat, list)
            p99 = pct(lat, 99)
            ok = p99 < 100 and res["errors"] == 0
            print(
                f"  {label(n, workers)} at {rate}/s: p99 {p99:.1f} ms, errors {res['errors']}"
                f"{'' if ok else '  ✗'}"
            )
            if not ok:
                break
            best = rate
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rate", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--quick", action="store_true", help="60 s runs and a short curve")
    ap.add_argument(
        "--layouts", default="1,2,3,1w1", help='replicas per run; "1w1": one with --workers 1'
    )
    ap.add_argument("--no-curve", action="store_true", help="skip the scaling curve")
    ns = ap.parse_args()
    seconds = 60 if ns.quick else ns.seconds
    layouts = [layout(x) for x in ns.layouts.split(",")]
    stub_port = free_port()
    stub = f"http://127.0.0.1:{stub_port}"
    with ExitStack() as stack:
        stack.enter_context(
            process(
                [sys.executable, str(ROOT / "bench" / "_servers.py"), "slack-stub", str(stub_port)]
            )
        )
        time.sleep(1)
        for n, workers in layouts:
            sustained(n, ns.rate, seconds, stub, workers)
        if ns.no_curve:
            return
        print("\nscaling curve: highest rate with p99 < 100 ms and no errors")
        rates = [50, 100, 200, 300, 400, 600, 800]
        step = 10 if ns.quick else 30
        results = {(n, w): curve(n, rates, step, stub, w) for n, w in layouts}
        for (n, w), best in results.items():
            print(f"  {label(n, w)}: {best}/s")


if __name__ == "__main__":
    main()
