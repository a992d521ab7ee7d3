"""create_app(settings): the one place that wires storage, router, platforms and workers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from tenacity import AsyncRetrying, stop_after_attempt, wait_exponential

import handlers
from bot import inbox, outbox
from bot.admission import AdaptiveLimit, watch_lag
from bot.config import Settings
from bot.context import Runtime, Services
from bot.dispatch import Dispatcher, StorageUnavailable
from bot.events import Event, Platform
from bot.metrics import Metrics
from bot.outbox import OutboxWorker
from bot.platforms.base import scrubbed_json
from bot.router import Router
from bot.scheduler import Scheduler
from storage import migrate
from storage.db import make_engine, unit_of_work

if TYPE_CHECKING:
    from bot.platforms.base import PlatformAdapter
    from bot.workers import WorkerPool

log = logging.getLogger(__name__)
T = TypeVar("T")
HANDLER_THREADS = 16  # handlers mostly wait on I/O (LLM, Kubernetes, Prometheus, chat APIs)
STORAGE_RETRIES = 30  # ~4.5 minutes of backoff (0.5 s doubling, at most 10 s) per event
PULL_IDLE = 0.02  # s a worker waits before looking in an empty inbox again
PULL_MAX_BACKOFF = 5.0  # s between looks while the database is down
PULL_FALLBACK = 1.0  # s: an idle worker LISTENing on PostgreSQL still looks this often
# at start: events claimed longer ago than this and still `processing` belong to a dead process
INTERRUPTED_AFTER = timedelta(minutes=10)
WORKER_EXIT_TRIES = 6  # a dead worker's events: 1+2+4+8+16 s of retries through an outage


class Role(StrEnum):
    """What one process does. `serve` alone is ALL; `serve --workers N` is an INGRESS with N
    WORKER processes beside it (the acks never share a GIL with the handlers)."""

    ALL = "all"  # acks, handlers, outbox, scheduler
    INGRESS = "ingress"  # verify, record in the inbox, acknowledge; nothing else
    WORKER = "worker"  # take events from the inbox; handlers, outbox, scheduler; no HTTP


def telemetry_services(settings: Settings) -> Services:
    """Clients of outside systems from configuration: PROMETHEUS_URL, ALERTMANAGER_URL,
    KUBECONFIG (or the in-cluster service account); None where not configured."""
    from bot.clients.alertmanager import AlertmanagerClient
    from bot.clients.kubernetes import KubeClient
    from bot.clients.prometheus import PrometheusClient

    kube = None
    if settings.kubeconfig and settings.copilot_demo_cluster:
        kube = KubeClient.from_kubeconfig(settings.kubeconfig, demo=True)
    else:
        try:
            kube = KubeClient.from_env(settings.kubeconfig)
        except Exception as exc:  # a broken kubeconfig must not stop chat features
            log.warning("kubernetes client unavailable", extra={"error": str(exc)})
    return Services(
        prometheus=PrometheusClient(settings.prometheus_url) if settings.prometheus_url else None,
        alertmanager=(
            AlertmanagerClient(settings.alertmanager_url) if settings.alertmanager_url else None
        ),
        kubernetes=kube,
    )


class LoopThread:
    """An asyncio event loop on a thread of its own.

    The outbox delivers there: rendering, the HTTP posts to Slack/Mattermost and their
    bookkeeping never queue in front of the loop that verifies, records and acknowledges
    requests (that loop's wait for its next turn is the ack latency).
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on this thread's loop; await its result from another loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    async def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        await asyncio.to_thread(self._thread.join, 10.0)
        if not self._thread.is_alive():
            self.loop.close()


class NotMigrated(RuntimeError):
    """The database schema is behind the code: run `console-copilot migrate`."""


class CopilotApp:
    """One bot process: HTTP app, platforms, dispatcher, outbox worker, scheduler."""

    def __init__(self, settings: Settings, *, engine: Any = None, role: Role = Role.ALL) -> None:
        self.settings = settings
        self.role = role
        self._owns_engine = engine is None
        self.engine = engine or make_engine(settings.database_url)
        self.recorder: inbox.AsyncRecorder | None = None
        self.sqlite_recorder: inbox.SqliteRecorder | None = None
        self.metrics = Metrics()
        self.router = Router()
        handlers.register_all(self.router)
        self._routes: list[list[web.RouteDef]] = []
        self.adapters: dict[Platform, PlatformAdapter] = {}
        self.services = telemetry_services(settings)
        self.runtime = Runtime(
            settings=settings,
            engine=self.engine,
            router=self.router,
            apis={},
            services=self.services,
            wake_outbox=self._wake_outbox,
        )
        self.dispatcher = Dispatcher(self.runtime, self.metrics)
        self.scheduler = Scheduler(
            self.runtime,
            lease_ttl=timedelta(seconds=settings.copilot_scheduler_lease_ttl),
            renew_every=timedelta(seconds=settings.copilot_scheduler_renew),
            enabled=settings.copilot_scheduler_enabled,
            default_grace=timedelta(seconds=settings.copilot_scheduler_grace),
        )
        handlers.register_all_jobs(self.scheduler)
        self.outbox: OutboxWorker | None = None
        self._outbox_loop: LoopThread | None = None
        self._executor = ThreadPoolExecutor(
            max_workers=HANDLER_THREADS, thread_name_prefix="handler"
        )
        self._recorders = ThreadPoolExecutor(max_workers=2, thread_name_prefix="record")
        self.handler_limit = AdaptiveLimit(HANDLER_THREADS)
        self._submitting = 0
        # events queued for a handler thread or being handled (a worker: those it took). One
        # process: beyond the bound a recorded event waits in the inbox, and `_refill` takes it
        # when there is room again
        self.backlog_limit = settings.copilot_handler_backlog
        self._backlog = 0
        self._deferred = False
        self._refilling = False
        self._slot_free = asyncio.Event()
        self._recorded = asyncio.Event()  # worker: an ingress NOTIFYed a new event
        self._listening = False
        self.recover_every = 30.0  # seconds between looks for events a dead replica left
        self.stranded_after = timedelta(seconds=30)
        self._tasks: set[asyncio.Task[None]] = set()
        self.workers: WorkerPool | None = None
        self._started = False
        self._build_platforms()
        handlers.attach_all(self)
        self.web = self._build_web()

    # -- wiring --------------------------------------------------------------------------
    def _build_platforms(self) -> None:
        s = self.settings
        if s.local_enabled:
            from bot.platforms.local.adapter import LocalAdapter

            self.add_adapter(
                LocalAdapter(
                    self.engine,
                    demo_label="demo" if s.copilot_demo else "",
                    default_locale=s.copilot_default_locale,
                )
            )
        if s.slack_enabled:
            from bot.platforms.slack import SlackAdapter

            self.add_adapter(SlackAdapter(s, self.metrics))
        if s.mattermost_enabled:
            from bot.platforms.mattermost import MattermostAdapter

            self.add_adapter(MattermostAdapter(s, self.metrics))

    def add_adapter(self, adapter: PlatformAdapter) -> None:
        self.adapters[adapter.platform] = adapter
        self.runtime.apis[adapter.platform] = adapter.api
        adapter.sink = self.submit  # type: ignore[attr-defined]
        adapter.form_check = self.router.check_form  # type: ignore[attr-defined]

    def add_routes(self, routes: list[web.RouteDef]) -> None:
        """HTTP routes a handler module serves (e.g. a webhook receiver); call before serving."""
        self._routes.append(routes)

    def extra_routes(self) -> list[list[web.RouteDef]]:
        return [a.routes() for a in self.adapters.values()] + self._routes

    def add_worker_pool(self, count: int) -> None:
        """Start `count` worker processes with the HTTP app and stop them with it (ingress)."""
        from bot.workers import WorkerPool

        self.workers = WorkerPool(
            count, on_change=self.metrics.workers.set, on_exit=self._worker_exited
        )
        pool = self.workers
        self.web.on_startup.append(lambda _app: pool.start())
        self.web.on_cleanup.append(lambda _app: pool.stop())

    async def _worker_exited(self, pid: int) -> None:
        """A worker process ended: the events it was handling will never finish. Fail them and
        tell whoever asked; through a database outage, tried again for about a minute (after
        that, the start-up sweep of a later process catches them)."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(WORKER_EXIT_TRIES),
            wait=wait_exponential(multiplier=1, max=16),
            before_sleep=lambda state: log.warning(
                "could not fail a dead worker's events",
                extra={"pid": pid, "attempt": state.attempt_number, "error": str(state.outcome)},
            ),
            retry_error_callback=lambda _state: None,  # given up: the start-up sweep's turn
        )
        await retrying(
            asyncio.to_thread, self.dispatcher.report_interrupted, owner=inbox.owner(pid)
        )

    def _build_web(self) -> web.Application:
        from bot.http import build_web_app

        web_app = build_web_app(self)
        web_app.on_startup.append(lambda _app: self.start())
        web_app.on_cleanup.append(lambda _app: self.stop())
        return web_app

    # -- lifecycle -----------------------------------------------------------------------
    def check_schema(self) -> None:
        missing = migrate.pending(self.engine)
        if missing:
            raise NotMigrated(
                "the database is not migrated (missing "
                + ", ".join(sorted(missing))
                + "): run `console-copilot migrate` first"
            )

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        await asyncio.to_thread(self.check_schema)
        if self.engine.dialect.name == "postgresql" and self.role is not Role.WORKER:
            # an ingress tells the workers about each new event (they LISTEN instead of polling)
            self.recorder = inbox.AsyncRecorder(self.engine, notify=self.role is Role.INGRESS)
            await self.recorder.open()
        elif self.role is not Role.WORKER and inbox.SqliteRecorder.fits(self.engine):
            self.sqlite_recorder = inbox.SqliteRecorder(self.engine)
        for adapter in self.adapters.values():
            await adapter.start(inbound=self.role is not Role.WORKER)
        if self.role is Role.INGRESS:  # the workers handle, deliver and schedule
            self._spawn(watch_lag(self.handler_limit, self._lag_sample), "loop-lag")
            return
        self.outbox = OutboxWorker(
            self.engine, {str(p): a for p, a in self.adapters.items()}, on_result=self._delivered
        )
        self._outbox_loop = LoopThread("outbox")
        await self._outbox_loop.call(self.outbox.start())
        await self.scheduler.start()
        self._spawn(self._startup_checks(), "startup-checks")
        self._spawn(self._recover(), "inbox-recovery")
        if self.role is Role.WORKER:
            if self.engine.dialect.name == "postgresql":
                self._spawn(self._listen(), "inbox-listen")
            self._spawn(self._pull(), "inbox-pull")
        self._spawn(watch_lag(self.handler_limit, self._lag_sample), "loop-lag")

    async def stop(self) -> None:
        if not self._started:
            self._dispose()
            return
        self._started = False
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 10)
        await self.scheduler.stop()
        if self.outbox and self._outbox_loop:
            await self._outbox_loop.call(self.outbox.stop())
            await self._outbox_loop.close()
            self._outbox_loop = None
        for adapter in self.adapters.values():
            await adapter.stop()
        if self.recorder is not None:
            await self.recorder.close()
            self.recorder = None
        self._executor.shutdown(wait=False, cancel_futures=True)
        # an insert still running finishes (bounded by RECORD_TIMEOUT) before its connection goes
        await asyncio.to_thread(self._recorders.shutdown, wait=True)
        if self.sqlite_recorder is not None:
            self.sqlite_recorder.close()
            self.sqlite_recorder = None
        # let running handlers finish (bounded) before the pool goes away
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.to_thread(self._executor.shutdown, wait=True), 10)
        self._dispose()

    def _dispose(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _lag_sample(self, lag: float, limit: int) -> None:
        self.metrics.loop_lag.set(lag)
        self.metrics.handler_limit.set(limit)

    def _wake_outbox(self) -> None:
        if self.outbox is not None:
            self.outbox.wake()

    def _delivered(self, platform: str, result: str) -> None:
        self.metrics.deliveries.labels(platform=platform, result=result).inc()

    # -- events --------------------------------------------------------------------------
    async def submit(self, event: Event) -> bool:
        """Record the event durably (dedupe), then handle it in the background.

        Returns False for a duplicate. Adapters acknowledge after this returns: the event is
        in the database before the platform hears "ok".
        """
        # a NUL in a signed body must not become a 500 (PostgreSQL rejects it in text)
        event, payload = scrubbed_json(event)
        self._submitting += 1  # idle() must not slip between the insert and the spawn
        try:
            if self.recorder is not None:
                new = await self.recorder.record(event, payload)
            else:  # its own threads: never queued behind outbox work in the default executor
                record = (
                    self.sqlite_recorder.record
                    if self.sqlite_recorder is not None
                    else partial(inbox.record, self.engine)  # not started (tests submit directly)
                )
                loop = asyncio.get_running_loop()
                new = await loop.run_in_executor(self._recorders, record, event, payload)
            self.metrics.child(
                self.metrics.events,
                str(event.platform),
                str(event.kind),
                "new" if new else "duplicate",
            ).inc()
            if new and self.role is Role.ALL:  # an ingress leaves it to the workers
                if self._backlog < self.backlog_limit and not self._deferred:
                    self._queue(event, "claim")
                elif not self._deferred:
                    self._deferred = True
                    log.warning(
                        "handler backlog full: new events wait in the inbox",
                        extra={"backlog": self._backlog, "limit": self.backlog_limit},
                    )
            return new
        finally:
            self._submitting -= 1

    def _queue(self, event: Event, stage: str) -> None:
        """Handle an event in the background, counted in the bounded backlog."""
        self._backlog += 1
        self.metrics.handler_backlog.set(self._backlog)
        self._spawn(self._handle_queued(event, stage), f"event-{event.event_id[:16]}")

    async def _handle_queued(self, event: Event, stage: str) -> None:
        try:
            await self._handle(event, stage)
        finally:
            self._backlog -= 1
            self.metrics.handler_backlog.set(self._backlog)
            self._slot_free.set()  # a worker's pull loop waits for a free slot
            if self._deferred and not self._refilling and self._backlog <= self.backlog_limit // 2:
                self._refilling = True
                self._spawn(self._refill(), "inbox-refill")

    async def _refill(self) -> None:
        """After an overload: take the events left waiting in the inbox, oldest first, while
        the backlog has room (the take is a compare-and-set: another replica's are safe)."""
        try:
            while self._deferred:
                room = self.backlog_limit - self._backlog
                if room <= 0:
                    return  # the next handler to finish starts another refill
                events = await self._take(room)
                if events is None:
                    await asyncio.sleep(PULL_MAX_BACKOFF)
                    continue
                if len(events) < room:
                    self._deferred = False
                    log.info("handler backlog has room again", extra={"backlog": self._backlog})
        finally:
            self._refilling = False

    async def _handle(self, event: Event, stage: str = "claim") -> None:
        """Handle in a worker thread; while the database is down, retry from the stage reached
        (bounded: an event still not handled is picked up by the next start's recovery)."""
        loop = asyncio.get_running_loop()
        outcome = None  # handled, not stored yet: the answer and the verdict to store
        for attempt in range(STORAGE_RETRIES):
            try:
                async with self.handler_limit:  # fewer at once while the acks' loop lags
                    await loop.run_in_executor(
                        self._executor,
                        partial(self.dispatcher.handle, event, stage=stage, outcome=outcome),
                    )
                return
            except StorageUnavailable as exc:
                stage, outcome = exc.stage, exc.outcome
                await asyncio.sleep(min(0.5 * 2**attempt, 10.0))
            except Exception:  # a bug outside the handler (its own errors are answered)
                log.exception("event handling crashed", extra={"id": event.event_id})
                return
        log.error("database unavailable: event left for recovery", extra={"id": event.event_id})

    async def _pull(self) -> None:
        """Worker: take recorded events from the inbox while handler slots are free.

        The take is a compare-and-set on the inbox status, so several workers (and replicas
        running everything in one process) never handle an event twice.
        """
        backoff = PULL_IDLE
        while True:
            free = self.handler_limit.limit - self._backlog
            if free <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            events = await self._take(free)
            if events is None:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, PULL_MAX_BACKOFF)
                continue
            backoff = PULL_IDLE
            if not events and self._listening:
                # an empty inbox: sleep until the ingress NOTIFYs a new event (PostgreSQL), with
                # a slow look now and then in case a notification was lost with its connection
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._recorded.wait(), PULL_FALLBACK)
                self._recorded.clear()  # before the take: a NOTIFY during it wakes the next wait
            elif len(events) < free:
                await asyncio.sleep(PULL_IDLE)  # under load: take what gathered, in batches

    async def _listen(self) -> None:
        """Worker on PostgreSQL: LISTEN for newly recorded events; while the listening
        connection is down, `_pull` polls every PULL_IDLE instead."""

        def wake() -> None:
            self._listening = True
            self._recorded.set()

        delay = 1.0
        while True:
            try:
                await inbox.listen(self.engine, wake)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("inbox: LISTEN connection lost; polling", extra={"error": str(exc)})
            if self._listening:  # it had worked: try again soon
                delay = 1.0
            self._listening = False
            self._recorded.set()  # the pull loop goes back to polling now
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _take(self, limit: int) -> list[Event] | None:
        """Take up to `limit` recorded events from the inbox (a compare-and-set) and queue them
        for handling; None while the database is unavailable."""
        try:
            events = await asyncio.to_thread(inbox.take, self.engine, limit=limit)
        except Exception as exc:
            log.warning("inbox: database unavailable", extra={"error": str(exc)})
            return None
        for event in events:
            self._queue(event, "handle")  # already claimed by the take
        return events

    async def _startup_checks(self) -> None:
        from handlers import runbooks

        interrupted = await asyncio.to_thread(runbooks.on_startup, self.runtime)
        if interrupted:
            log.warning("runbook runs interrupted by a restart", extra={"runs": interrupted})

    async def _recover(self) -> None:
        """Handle events acknowledged by a process that died before handling them.

        At start (after marking events a dead process was in the middle of as failed), then
        every `recover_every` seconds: a replica that dies leaves its acknowledged events to
        the survivors, not to its own restart. The inbox claim is a compare-and-set, so an
        event still queued here or taken by another replica is never handled twice.
        """
        await asyncio.sleep(1)
        delay = 1.0
        while True:  # the database may be down at start: keep trying
            try:
                await asyncio.to_thread(
                    self.dispatcher.report_interrupted, older_than=INTERRUPTED_AFTER
                )
                break
            except Exception as exc:
                log.warning("inbox recovery: database unavailable", extra={"error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        if self.role is Role.WORKER:
            return  # the pull loop takes every recorded event, stranded ones included
        while True:
            try:
                stranded = await asyncio.to_thread(
                    inbox.stranded, self.engine, older_than=self.stranded_after
                )
            except Exception as exc:
                log.warning("inbox recovery: database unavailable", extra={"error": str(exc)})
                stranded = []
            for event in stranded[: max(0, self.backlog_limit - self._backlog)]:
                self._queue(event, "claim")
            await asyncio.sleep(self.recover_every)

    def refresh_gauges(self) -> None:
        now = datetime.now(UTC)
        with unit_of_work(self.engine) as s:
            self.metrics.outbox_depth.set(outbox.depth(s))
            self.metrics.outbox_lag.set(outbox.oldest_pending_age(s, now))
        waiting, age = inbox.waiting(self.engine, now)
        self.metrics.inbox_depth.set(waiting)
        self.metrics.inbox_lag.set(age)

    async def idle(self, limit: float = 10.0) -> None:
        """Wait until no event is being handled and the outbox is drained (tests, demo seed)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self._submitting:  # an event being recorded: its handler is not spawned yet
                await asyncio.sleep(0.01)
                continue
            busy = [t for t in self._tasks if t.get_name().startswith(("event-", "inbox-refill"))]
            if busy:
                await asyncio.gather(*busy, return_exceptions=True)
                continue
            with unit_of_work(self.engine) as s:
                pending = outbox.depth(s)
            if pending == 0:
                return
            if self.outbox and self._outbox_loop:
                await self._outbox_loop.call(self.outbox.drain_once())
            await asyncio.sleep(0.01)
        raise TimeoutError("the app did not become idle")


SWITCH_INTERVAL = 0.0005  # s; CPython's default is 0.005


def tune_runtime() -> None:
    """Settle the interpreter once everything is imported and started (serve, worker).

    `gc.freeze()`: the process holds ~350k objects once every module is imported
    (SQLAlchemy, the Kubernetes client, slack_sdk, pydantic models...); a full collection
    walks them all and took ~400 ms on our 2-core VM, every few seconds under load: that was the
    ack p99. Frozen objects are still freed by reference counting; only objects created later
    are scanned.

    `sys.setswitchinterval(0.5 ms)`: the event loop (acknowledgements) shares the GIL with the
    handler threads. A thread that wants the GIL waits up to the switch interval before it asks
    the holder to let go, and with handler threads busy the loop waits that long at every
    wake-up (socket read, database answer, write): at 200 commands/s on PostgreSQL the ack p99
    was 114 ms with CPython's 5 ms interval and 19 ms with 0.5 ms (bench/ack.py, two runs an
    hour apart on the same VM).
    """
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL)


def create_app(settings: Settings, **kwargs: Any) -> CopilotApp:
    return CopilotApp(settings, **kwargs)
