"""APScheduler for every periodic job, fired only by the replica holding the leader lease.

A domain registers jobs in `register_jobs(scheduler)`:
    scheduler.add_job(JobId.EXPIRE, expire_approvals, every=timedelta(minutes=1))
    scheduler.add_job(JobId.REFRESH, refresh_costs, cron="0 6 * * *", tz="Europe/Moscow")
    scheduler.add_source(subscription_jobs)     # jobs read from the database, re-synced
A job is a sync function `(ctx: JobContext) -> None`; it runs in a worker thread. Each slot (a
scheduled time) runs at most once across replicas: the run row (job_id, slot) is inserted first,
and the job's writes (ctx.session(), ctx.post()) commit together with the run's `done` mark, so a
leader killed mid-run leaves nothing behind and the next leader runs the slot again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import BasePoolExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel import Session

from bot import crontab, inbox, outbox
from bot.events import Platform
from bot.messages import Message
from storage import scheduler as runs
from storage.db import unit_of_work

if TYPE_CHECKING:
    from bot.context import Runtime, Services

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
DEFAULT_GRACE = timedelta(minutes=30)
EPOCH = runs.EPOCH  # interval jobs are aligned to it, so every replica computes the same slots


class CoreJob(StrEnum):
    PRUNE_RUNS = "core:prune-job-runs"
    PRUNE_EVENTS = "core:prune-events"


JobFunc = Callable[["JobContext"], None]


@dataclass
class JobSpec:
    """One job: an id (unique; the slot key's first half), a trigger and a function."""

    id: str
    func: JobFunc
    trigger: BaseTrigger
    grace: timedelta = DEFAULT_GRACE
    not_before: datetime = EPOCH  # no slot at or before this time (e.g. a subscription's start)
    fingerprint: str = ""  # dynamic jobs: a change re-creates the APScheduler job


JobSource = Callable[[Session], list[JobSpec]]


@dataclass
class JobContext:
    """What a job receives: its slot, the clock, storage and the outbox (one unit of work)."""

    runtime: Runtime
    job_id: str
    slot: datetime
    _session: Session
    posted: list[str] = field(default_factory=list)

    @property
    def services(self) -> Services:
        return self.runtime.services

    def now(self) -> datetime:
        return self.runtime.clock()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """The run's unit of work: it commits with the run's `done` mark, or not at all."""
        yield self._session

    def post(
        self,
        *,
        platform: Platform | str,
        channel_id: str,
        message: Message,
        key: str | None = None,
        thread_id: str | None = None,
    ) -> str:
        """Queue a message in the outbox (delivered once the run commits)."""
        k = outbox.enqueue(
            self._session,
            platform=platform,
            op="post",
            channel_id=channel_id,
            message=message,
            thread_id=thread_id,
            key=key,
        )
        self.posted.append(k)
        return k


def interval(every: timedelta) -> IntervalTrigger:
    """An interval trigger aligned to a fixed epoch (same slots on every replica)."""
    return IntervalTrigger(seconds=int(every.total_seconds()), start_date=EPOCH, timezone=UTC)


class _SlotExecutor(BasePoolExecutor):
    """Runs APScheduler jobs in a thread pool, passing each job its scheduled run time."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(ThreadPoolExecutor(max_workers, thread_name_prefix="job"))

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def run() -> None:
            for slot in run_times:
                job.func(*job.args, slot=slot, **job.kwargs)

        def done(f: Any) -> None:
            exc = f.exception()
            if exc is not None:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, [])

        self._pool.submit(run).add_done_callback(done)


class Scheduler:
    """Leader lease + APScheduler + once-per-slot runs. One per process (`CopilotApp`)."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        lease_ttl: timedelta = timedelta(seconds=15),
        renew_every: timedelta = timedelta(seconds=5),
        holder: str | None = None,
        enabled: bool = True,
        workers: int = 4,
        default_grace: timedelta = DEFAULT_GRACE,
    ) -> None:
        if renew_every * 2 > lease_ttl:
            raise ValueError("the lease must be renewed at least twice per TTL")
        self.runtime = runtime
        self.lease_ttl = lease_ttl
        self.renew_every = renew_every
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.enabled = enabled
        self.workers = workers
        self.default_grace = default_grace
        self.token: int | None = None
        self._leader_until = 0.0
        self._static: dict[str, JobSpec] = {}
        self._sources: list[JobSource] = []
        self._specs: dict[str, JobSpec] = {}
        self._lock = threading.Lock()
        self._aps: AsyncIOScheduler | None = None
        self._task: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="catch-up")
        self.add_job(CoreJob.PRUNE_RUNS, prune_job_runs, cron="17 3 * * *")
        self.add_job(CoreJob.PRUNE_EVENTS, prune_events, cron="27 3 * * *")

    # -- registration --------------------------------------------------------------------
    def add_job(
        self,
        job_id: str,
        func: JobFunc,
        *,
        every: timedelta | None = None,
        cron: str | None = None,
        tz: str = "UTC",
        grace: timedelta | None = None,
    ) -> JobSpec:
        """Register a static job: `every=` (aligned interval) or `cron=` (crontab, in `tz`)."""
        if (every is None) == (cron is None):
            raise ValueError("give exactly one of every= or cron=")
        if every is not None:
            trigger: BaseTrigger = interval(every)
        else:
            trigger = crontab.parse_schedule(cron or "", tz).trigger
        spec = JobSpec(
            id=str(job_id), func=func, trigger=trigger, grace=grace or self.default_grace
        )
        if spec.id in self._static:
            raise ValueError(f"job {spec.id} is registered twice")
        self._static[spec.id] = spec
        return spec

    def add_source(self, source: JobSource) -> None:
        """Register a function that reads dynamic jobs (e.g. subscriptions) from the database."""
        self._sources.append(source)

    # -- leadership ----------------------------------------------------------------------
    @property
    def is_leader(self) -> bool:
        return self.token is not None and time.monotonic() < self._leader_until

    def renew(self) -> int | None:
        """Take or renew the lease (one short transaction); returns our token or None."""
        started = time.monotonic()
        with unit_of_work(self.runtime.engine) as s:
            token = runs.acquire_lease(
                s,
                name=LEASE_NAME,
                holder=self.holder,
                token=self.token,
                now=self.runtime.clock(),
                ttl=self.lease_ttl,
            )
        if token is not None:
            # stop believing a little before the lease could expire for the others
            self._leader_until = started + (self.lease_ttl - self.renew_every / 2).total_seconds()
        return token

    def release(self) -> None:
        if self.token is None:
            return
        with unit_of_work(self.runtime.engine) as s:
            runs.release_lease(
                s, name=LEASE_NAME, holder=self.holder, token=self.token, now=self.runtime.clock()
            )
        self.token = None

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        if not self.enabled or self._task is not None:
            return
        self._aps = AsyncIOScheduler(
            timezone=UTC,
            executors={"default": _SlotExecutor(self.workers)},
            job_defaults={"coalesce": True, "max_instances": 3},
        )
        self._aps.start()
        self._task = asyncio.create_task(self._loop(), name="scheduler-lease")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            done, _ = await asyncio.wait({self._task}, timeout=10)
            if not done:
                log.error("scheduler loop did not stop within 10 s; abandoning it")
            self._task = None
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        try:
            # bounded: a stuck database must not hang shutdown (the lease then just expires)
            await asyncio.wait_for(asyncio.to_thread(self.release), 5)
        except Exception:
            log.exception("could not release the scheduler lease")
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database outage: keep trying; leadership lapses on its own
                log.exception("scheduler tick failed")
                if not self.is_leader:
                    self._step_down()
            await asyncio.sleep(self.renew_every.total_seconds())

    async def tick(self) -> None:
        """Renew or take the lease; as leader, sync jobs, catch up misfires, adopt orphans."""
        before = self.token
        token = await asyncio.to_thread(self.renew)
        if token is None:
            if before is not None:
                log.warning("scheduler leadership lost", extra={"holder": self.holder})
                self._step_down()
            return
        self.token = token
        specs = await asyncio.to_thread(self.load_specs)
        self._sync(specs)
        if token != before:
            log.info("scheduler leader", extra={"holder": self.holder, "token": token})
            for spec in specs.values():
                self._pool.submit(self._guard, self.catch_up, spec)
        for job_id, slot in await asyncio.to_thread(self.adopt_interrupted):
            adopted = specs.get(job_id)
            if adopted is not None:
                self._pool.submit(self._guard, self.fire, adopted, slot, adopted=True)

    def _step_down(self) -> None:
        self.token = None
        if self._aps is not None:
            for job in self._aps.get_jobs():
                job.remove()

    @staticmethod
    def _guard(fn: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except Exception:
            log.exception("scheduled job failed")

    # -- jobs ----------------------------------------------------------------------------
    def load_specs(self) -> dict[str, JobSpec]:
        """Static jobs plus every source's current jobs."""
        specs = dict(self._static)
        if self._sources:
            with unit_of_work(self.runtime.engine) as s:
                for source in self._sources:
                    for spec in source(s):
                        specs[spec.id] = spec
        with self._lock:
            self._specs = specs
        return specs

    def _sync(self, specs: dict[str, JobSpec]) -> None:
        """Make APScheduler's jobs match `specs` (add new, replace changed, drop removed)."""
        if self._aps is None:
            return
        current = {job.id: job for job in self._aps.get_jobs()}
        for job_id, job in current.items():
            if job_id not in specs:
                job.remove()
        for spec in specs.values():
            name = spec.fingerprint or spec.id
            job = current.get(spec.id)
            if job is not None and job.name == name:
                continue
            try:
                self._aps.add_job(
                    self._fire_slot,
                    trigger=spec.trigger,
                    id=spec.id,
                    name=name,
                    kwargs={"job_id": spec.id},
                    misfire_grace_time=max(1, int(spec.grace.total_seconds())),
                    replace_existing=True,
                )
            except Exception:  # one bad job must not keep the others from running
                log.exception("could not schedule a job", extra={"job": spec.id})

    def _fire_slot(self, job_id: str, slot: datetime | None = None) -> None:
        with self._lock:
            spec = self._specs.get(job_id)
        if spec is not None and slot is not None:
            self.fire(spec, slot)

    def fire(self, spec: JobSpec, slot: datetime, *, adopted: bool = False) -> str:
        """Run one slot of a job if we lead and nobody ran it; returns the outcome."""
        token = self.token
        if token is None or not self.is_leader:
            return "not-leader"
        engine, clock = self.runtime.engine, self.runtime.clock
        if not adopted:
            with unit_of_work(engine) as s:
                won = runs.claim_run(
                    s, job_id=spec.id, slot=slot, holder=self.holder, token=token, now=clock()
                )
            if not won:
                return "duplicate"
        try:
            with unit_of_work(engine) as s:
                ctx = JobContext(self.runtime, spec.id, slot, s)
                spec.func(ctx)
                if not runs.finish_run(s, job_id=spec.id, slot=slot, token=token, now=clock()):
                    raise _Superseded
        except _Superseded:
            log.warning("job run taken over by another leader", extra={"job": spec.id})
            return "superseded"
        except Exception as exc:
            log.exception("job failed", extra={"job": spec.id, "slot": runs.slot_key(slot)})
            with unit_of_work(engine) as s:
                runs.finish_run(
                    s,
                    job_id=spec.id,
                    slot=slot,
                    token=token,
                    now=clock(),
                    status="failed",
                    error=f"{type(exc).__name__}: {exc}"[:2000],
                )
            return "failed"
        self.runtime.wake_outbox()
        return "done"

    def catch_up(self, spec: JobSpec) -> str | None:
        """Misfire policy: the latest missed slot runs once if within grace, else is skipped."""
        now = self.runtime.clock()
        lookback = max(spec.grace * 2, timedelta(hours=1))
        not_before = max(spec.not_before, now - lookback)
        slot = crontab.previous_fire(spec.trigger, now, not_before=not_before)
        if slot is None or self.token is None:
            return None
        with unit_of_work(self.runtime.engine) as s:
            if runs.recorded_slots(s, job_id=spec.id, slots=[slot]):
                return None
            if now - slot <= spec.grace:
                late = None
            else:
                runs.claim_run(
                    s,
                    job_id=spec.id,
                    slot=slot,
                    holder=self.holder,
                    token=self.token,
                    now=now,
                    status="skipped",
                )
                late = now - slot
        if late is not None:
            log.warning(
                "missed slot skipped: older than the grace period",
                extra={
                    "job": spec.id,
                    "slot": runs.slot_key(slot),
                    "late_s": int(late.total_seconds()),
                },
            )
            return "skipped"
        log.info("running a missed slot", extra={"job": spec.id, "slot": runs.slot_key(slot)})
        return self.fire(spec, slot)

    def adopt_interrupted(self) -> list[tuple[str, datetime]]:
        """Take over runs a previous leader left `running`; return the ones to run again."""
        token = self.token
        if token is None:
            return []
        now = self.runtime.clock()
        adopted: list[tuple[str, datetime]] = []
        with unit_of_work(self.runtime.engine) as s:
            for run in runs.interrupted_runs(s, token=token):
                spec = self._specs.get(run.job_id)
                if spec is None or now - run.scheduled_at > spec.grace:
                    runs.finish_run(
                        s,
                        job_id=run.job_id,
                        slot=run.scheduled_at,
                        token=run.token,
                        now=now,
                        status="failed",
                        error="interrupted (the leader stopped mid-run)",
                    )
                    continue
                if runs.take_over_run(
                    s,
                    run_id=run.id or 0,
                    from_token=run.token,
                    holder=self.holder,
                    token=token,
                    now=now,
                ):
                    adopted.append((run.job_id, run.scheduled_at))
        for job_id, slot in adopted:
            log.warning("re-running an interrupted slot", extra={"job": job_id, "slot": str(slot)})
        return adopted


class _Superseded(Exception):
    """The run's row belongs to a newer leader now: roll our writes back."""


def prune_events(ctx: JobContext) -> None:
    """Housekeeping: the inbox and the outbox grow with every command; forget handled events
    after COPILOT_KEEP_EVENTS_DAYS (400: past the compliance stats' 366-day window) and
    delivered private answers after COPILOT_KEEP_ANSWERS_DAYS (30), in batches."""
    settings, engine, now = ctx.runtime.settings, ctx.runtime.engine, ctx.now()
    keep_answers = timedelta(days=settings.copilot_keep_answers_days)
    answers = outbox.prune_answers(engine, before=now - keep_answers)
    events = inbox.prune(engine, before=now - timedelta(days=settings.copilot_keep_events_days))
    if answers or events:
        log.info(
            "pruned delivered answers and handled events",
            extra={"answers": answers, "events": events},
        )


def prune_job_runs(ctx: JobContext) -> None:
    """Housekeeping: forget job runs older than 30 days."""
    with ctx.session() as s:
        n = runs.prune_runs(s, before=ctx.now() - timedelta(days=30))
    if n:
        log.info("pruned job runs", extra={"count": n})
