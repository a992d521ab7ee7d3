"""War-room summary benchmark: a generated 5,000-message room with threads.

Prints the extractive summary's time and peak memory (tracemalloc), the redaction cost, and, for
the LLM mode against the fake Anthropic server, the model calls and input tokens sent — beside
the naive baseline of sending the whole channel in one request every time.

    .venv/bin/python -m bench.summarize [--messages 5000] [--budget 12000] [--update 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import anthropic

from bot.clients.llm import LLM
from bot.redact import redact
from handlers.incidents.extractive import extractive_summary
from handlers.incidents.summary import Budget, summarize
from handlers.incidents.summary_prompt import format_line
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.warroom import incident, war_room


def t(msgid: str, **kw: object) -> str:
    return msgid.format(**kw)


def _extractive(n: int) -> None:
    tracemalloc.start()
    room = war_room(n)
    room_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    meta = incident()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        extractive_summary(meta, room)
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    extractive_summary(meta, room)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    texts = [line.text for line in room]
    start = time.perf_counter()
    for text in texts:
        redact(text)
    redact_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    for line in room:
        format_line(line)
    format_ms = (time.perf_counter() - start) * 1000
    print(f"extractive summary of {n} messages")
    print(
        f"  time    median {statistics.median(times) * 1000:7.1f} ms  (min {min(times) * 1000:.1f})"
    )
    print(
        f"  peak    {peak / 1024:9.1f} KiB while summarizing"
        f" (the room itself: {room_bytes / 2**20:.1f} MiB)"
    )
    print(f"  redact  {redact_ms:7.1f} ms for all {n} texts; prompt formatting {format_ms:.1f} ms")


def _llm(n: int, budget_tokens: int, update: int) -> None:
    room = war_room(n + update)
    first, later = room[:n], room
    meta = incident()
    with FakeAnthropic.running() as server:
        llm = LLM(anthropic.Anthropic(api_key="bench", base_url=server.url, max_retries=0), "m")
        budget = Budget(input_tokens=budget_tokens)

        def run(label: str, **kw: object) -> object:
            before = llm.usage.snapshot()
            start = time.perf_counter()
            out = summarize(meta, kw.pop("lines"), t=t, llm=llm, **kw)  # type: ignore[arg-type]
            took = time.perf_counter() - start
            calls = llm.usage.calls - before.calls
            tokens = llm.usage.input_tokens - before.input_tokens
            print(f"  {label:<44} {calls:5d} calls {tokens:9,d} input tokens  {took:6.2f} s")
            return out

        print(f"LLM mode against the fake server (budget {budget_tokens:,} input tokens/request)")
        base = run(f"budgeted: first summary, {n} msgs (map-reduce)", lines=first, budget=budget)
        run(
            f"budgeted: update, +{update} msgs (incremental)",
            lines=later,
            previous=base,
            budget=budget,
        )
        big = Budget(input_tokens=10**9)
        run(f"naive: whole channel, {n} msgs, one request", lines=first, budget=big)
        run(f"naive: whole channel again, {n + update} msgs", lines=later, budget=big)
        largest = max(
            len(str(r["system"])) + len(r["messages"][-1]["content"])
            for r in server.message_requests
        )
        print(f"  largest request ≈ {(largest + 3) // 4:,} tokens (the naive one)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--budget", type=int, default=12_000)
    parser.add_argument("--update", type=int, default=200)
    args = parser.parse_args()
    _extractive(args.messages)
    print()
    _llm(args.messages, args.budget, args.update)


if __name__ == "__main__":
    main()
