"""`console-copilot serve --workers N`: this process acknowledges, N worker processes handle.

In one Python process the acks (verify, record in the inbox, answer 200) share the GIL with
the handler threads, so a burst of handling delays acks by the GIL's switch interval and more.
With workers, the serving process only records and acknowledges; each worker
(`console-copilot worker`) takes recorded events from the inbox (a compare-and-set, so workers
and replicas never double-handle), runs the handlers, delivers the outbox and runs the
scheduler. Workers run at a lower CPU priority (`nice`), so the acks win the CPU when both want
it; a worker that exits is started again (with backoff), and a worker whose parent dies stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from bot import metrics
from bot.app import tune_runtime

if TYPE_CHECKING:
    from bot.app import CopilotApp

log = logging.getLogger(__name__)

WORKER_NICE = 19  # CPU priority of spawned workers relative to the serving process
STOP_TIMEOUT = 15.0  # s a worker gets to finish its handlers after SIGTERM
MAX_RESTART_DELAY = 30.0
_PR_SET_PDEATHSIG = 1


def worker_argv() -> list[str]:
    return [sys.executable, "-m", "bot.cli", "worker"]


class WorkerPool:
    """Keeps `count` worker processes running until stopped."""

    def __init__(
        self,
        count: int,
        *,
        argv: Sequence[str] | None = None,
        nice: int = WORKER_NICE,
        on_change: Callable[[int], None] | None = None,
        on_exit: Callable[[int], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        self.count = count
        self.argv = list(argv or worker_argv())
        self.nice = nice
        self.on_change = on_change
        self.on_exit = on_exit  # run (in the background) with the pid of a worker that ended
        self._exits: set[asyncio.Task[None]] = set()
        self.restarts = 0
        self.stop_timeout = STOP_TIMEOUT
        self._procs: dict[int, asyncio.subprocess.Process] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    @property
    def alive(self) -> int:
        return sum(1 for p in self._procs.values() if p.returncode is None)

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs.values() if p.returncode is None]

    async def start(self) -> None:
        for index in range(self.count):
            self._tasks.append(asyncio.create_task(self._keep(index), name=f"worker-{index}"))

    async def _keep(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        delay = 1.0
        while not self._stopping:
            args = [*self.argv, "--nice", str(self.nice), "--parent", str(os.getpid())]
            proc = await asyncio.create_subprocess_exec(*args)
            self._procs[index] = proc
            self._changed()
            started = loop.time()
            code = await proc.wait()
            forget_process(proc.pid)
            self._changed()
            if self.on_exit is not None:  # not awaited: the restart must not wait for it
                task = asyncio.create_task(self.on_exit(proc.pid), name=f"worker-{index}-exit")
                self._exits.add(task)
                task.add_done_callback(self._exited)
            if self._stopping:
                return
            self.restarts += 1
            if loop.time() - started > 60:
                delay = 1.0  # it ran a while: not a crash loop
            log.error(
                "worker exited; starting it again",
                extra={"worker": index, "returncode": code, "delay": delay},
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RESTART_DELAY)

    def _exited(self, task: asyncio.Task[None]) -> None:
        self._exits.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("worker exit hook failed", exc_info=task.exception())

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.alive)

    async def stop(self) -> None:
        self._stopping = True
        running = [p for p in self._procs.values() if p.returncode is None]
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        waits = [asyncio.create_task(p.wait()) for p in running]
        if waits:
            _, late = await asyncio.wait(waits, timeout=self.stop_timeout)
            if late:
                log.error("workers did not stop in time; killing them", extra={"n": len(late)})
                for proc in running:
                    if proc.returncode is None:
                        with contextlib.suppress(ProcessLookupError):
                            proc.kill()
                await asyncio.gather(*late, return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._exits:  # the stopped workers' reports (bounded: the process is stopping)
            await asyncio.wait(set(self._exits), timeout=self.stop_timeout)
        self._changed()


def forget_process(pid: int) -> None:
    """Drop a dead worker's per-process gauges from the shared metrics (its counters stay)."""
    if metrics.multiprocess():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def die_with_parent(parent: int) -> None:
    """Ask Linux to send this worker SIGTERM when its serving process dies (even by SIGKILL);
    exit now if it is already gone."""
    libc_name = ctypes.util.find_library("c")
    if libc_name and sys.platform.startswith("linux"):
        libc = ctypes.CDLL(libc_name, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        raise SystemExit("the serving process is gone")


async def run_worker(app: CopilotApp) -> None:
    """Run a worker-role app until SIGTERM or SIGINT, then stop it (handlers finish)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await app.start()
    tune_runtime()
    log.info("worker started", extra={"pid": os.getpid()})
    try:
        await stop.wait()
    finally:
        await app.stop()
