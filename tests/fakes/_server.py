"""Shared machinery of the fake SaaS servers: aiohttp lifecycle, recording, fault injection."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

from aiohttp import web

T = TypeVar("T")


@dataclass
class Call:
    """One request the fake received."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    time: float
    path: str = ""
    http_method: str = "POST"


@dataclass
class Fault:
    """A scripted response: an HTTP status, an API error, and/or added latency."""

    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    delay: float = 0.0


@dataclass
class _Script:
    fault: Fault
    method: str | None
    remaining: int


@dataclass
class Violation:
    """A contract violation found in a request or response."""

    method: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.method}: {self.message}"


class FakeServer:
    """Base: an aiohttp server on 127.0.0.1, port 0, usable in-loop or from a background thread."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.ssl_context = ssl_context
        self.scheme = "https" if ssl_context else "http"
        self.requests: list[Call] = []
        self.violations: list[Violation] = []
        self._scripts: list[_Script] = []
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # lifecycle -----------------------------------------------------------------------------
    async def start(self) -> str:
        """Start serving on a free port of 127.0.0.1; returns the base URL."""
        self._loop = asyncio.get_running_loop()
        self._runner = web.AppRunner(self.app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self.base_url

    async def stop(self) -> None:
        """Stop serving and close open websockets."""
        await self._close_websockets()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _close_websockets(self) -> None:
        """Subclasses close their websockets here."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_in_thread(self) -> str:
        """Run the server in a background thread with its own event loop; returns the base URL."""
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name=type(self).__name__, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake server did not start")
        return self.base_url

    def stop_thread(self) -> None:
        """Stop a server started with start_in_thread()."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    @property
    def base_url(self) -> str:
        """Root URL of the server (subclasses give the API's base URL)."""
        return f"{self.scheme}://127.0.0.1:{self.port}/"

    # cross-thread helpers ------------------------------------------------------------------
    async def on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await a coroutine on the server's loop, from the same or another loop."""
        assert self._loop is not None, "server not started"
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is self._loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    def sync(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        """Run a coroutine on the server's loop from a thread without a running loop."""
        assert self._loop is not None, "server not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # recording -----------------------------------------------------------------------------
    def record(self, call: Call) -> None:
        """Keep a received request."""
        with self._lock:
            self.requests.append(call)

    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded requests, optionally only those of one method."""
        with self._lock:
            return [c for c in self.requests if method is None or c.method == method]

    def reset_calls(self) -> None:
        """Forget recorded requests (state is kept)."""
        with self._lock:
            self.requests.clear()

    def violate(self, method: str, message: str, params: dict[str, Any] | None = None) -> None:
        """Record a contract violation."""
        with self._lock:
            self.violations.append(Violation(method, message, dict(params or {})))

    def assert_no_violations(self) -> None:
        """Fail with the list of contract violations, if any."""
        assert not self.violations, "contract violations:\n" + "\n".join(
            str(v) for v in self.violations
        )

    # fault injection -----------------------------------------------------------------------
    def inject(self, fault: Fault, method: str | None = None, times: int = 1) -> None:
        """Script the next `times` responses of `method` (None: any method)."""
        with self._lock:
            self._scripts.append(_Script(fault, method, times))

    def fail(self, method: str | None = None, status: int = 503, times: int = 1) -> None:
        """Answer the next calls with an HTTP error status."""
        self.inject(Fault(status=status), method, times)

    def rate_limit(self, method: str | None = None, retry_after: int = 1, times: int = 1) -> None:
        """Answer the next calls with HTTP 429 and a Retry-After header."""
        self.inject(Fault(status=429, retry_after=retry_after), method, times)

    def error(self, method: str | None, error: str, times: int = 1) -> None:
        """Answer the next calls with an API-level error."""
        self.inject(Fault(error=error), method, times)

    def slow(self, method: str | None = None, seconds: float = 0.5, times: int = 1) -> None:
        """Delay the next calls by `seconds` before answering normally."""
        self.inject(Fault(delay=seconds), method, times)

    def clear_faults(self) -> None:
        """Drop all scripted faults."""
        with self._lock:
            self._scripts.clear()

    def next_fault(self, method: str) -> Fault | None:
        """Pop the scripted fault that applies to this call, if any."""
        with self._lock:
            for script in self._scripts:
                if script.method in (None, method) and script.remaining > 0:
                    script.remaining -= 1
                    if script.remaining == 0:
                        self._scripts.remove(script)
                    return script.fault
        return None


async def wait_until(
    predicate: Callable[[], bool], within: float = 5.0, interval: float = 0.01
) -> None:
    """Poll until predicate() is true (`within` is a safety limit, not a timing assertion)."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(interval)


def wait_until_sync(
    predicate: Callable[[], bool], within: float = 5.0, interval: float = 0.01
) -> None:
    """Blocking variant of wait_until for sync tests."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(interval)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
