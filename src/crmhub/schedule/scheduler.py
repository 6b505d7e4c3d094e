"""The scheduler: one leader turns due slots into queued runs and hands them to an executor.

Each :meth:`Scheduler.tick`:

1. **Leads or steps aside.** Only one scheduler acts at a time: on PostgreSQL it holds a session
   advisory lock (``pg_try_advisory_lock``, keyed by database, schema and scheduler name) on a
   connection it keeps open — if its process dies the lock goes with the connection; on SQLite it
   holds a ``scheduler_lease`` row with an expiry, renewed every tick and taken over once expired.
2. **Sweeps.** A running run whose worker died (no heartbeat for ``stale_after``, or its process on
   this host is gone) is put back in the queue and handed out again: it resumes from its last
   committed batch. A queued run not handed out for ``requeue_after`` whose job has nothing running
   (its message was lost: a broker restart, a crash between commit and hand-over) is handed out
   again. When a scheduler becomes the leader it hands out every queued run once.
3. **Schedules.** For each enabled job with ``next_run_at <= now`` it creates a queued run with the
   idempotency key ``scheduled {job_id} {slot}`` (unique in the database: a slot never runs twice,
   even with two schedulers), trigger ``schedule`` — or ``full_sync`` when the job's "full sync
   every" is due — and moves ``next_run_at`` to the first slot after *now*: slots missed while
   nothing was ticking coalesce into this one run.
   **A job that still has a queued or running run skips the slot**: no second run is created; the
   skip is recorded as a ``slot_skipped`` event on the active run, and ``next_run_at`` moves on.
4. **Commits, then hands the new and requeued run ids to the executor** (never before the commit).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import orjson
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.engine import Connection

from crmhub.core.cadence import Schedule, next_run, parse_schedule
from crmhub.core.clock import utcnow
from crmhub.core.ids import new_hub_ids
from crmhub.core.perf import gc_paused
from crmhub.store import schedules as _store
from crmhub.store.database import Database
from crmhub.sync.runner import STALE_AFTER, mode_for, requeue_dead

__all__ = ["MAX_DUE", "RunSubmitter", "Scheduler", "TickReport", "scheduled_key"]

log = logging.getLogger("crmhub.schedule")

#: A queued run not picked up for this long, with nothing else of its job running, is handed out again.
REQUEUE_AFTER = timedelta(minutes=5)

#: Due jobs one tick takes at most (see :class:`Scheduler`): about 15 ms of work on SQLite, 25 ms on
#: PostgreSQL on the 2-core machine the benchmarks run on.
MAX_DUE = 250

_TIMEDELTA: TypeAdapter[timedelta] = TypeAdapter(timedelta)
_PARSED_CACHE = 100_000


class RunSubmitter(Protocol):
    """What the scheduler hands runs to (any ``crmhub.execute`` executor)."""

    def submit(self, run_id: str) -> None: ...


def scheduled_key(job_id: int, slot: datetime) -> str:
    """The idempotency key of a job's scheduled slot."""
    return f"scheduled {job_id} {slot.isoformat()}"


@dataclass
class TickReport:
    """What one tick did."""

    at: datetime
    leader: bool
    due: int = 0
    created: list[str] = field(default_factory=list)
    #: Due jobs whose slot was skipped because a run of theirs was still queued or running.
    skipped_active: int = 0
    #: Slots whose run another scheduler had created already (idempotency key taken).
    taken: int = 0
    #: Runs of dead workers put back in the queue, and lost queued runs handed out again.
    requeued: list[str] = field(default_factory=list)
    resubmitted: list[str] = field(default_factory=list)
    #: Jobs whose stored schedule is not valid (their next_run_at is cleared).
    invalid: list[int] = field(default_factory=list)
    submit_failures: int = 0
    seconds: float = 0.0


class _Leadership(Protocol):
    def hold(self, now: datetime) -> bool: ...

    def release(self) -> None: ...


class _AdvisoryLock:
    """PostgreSQL: a session advisory lock on a connection kept open while leading."""

    def __init__(self, db: Database, name: str) -> None:
        self.db = db
        self.name = name
        self._conn: Connection | None = None

    def hold(self, now: datetime) -> bool:
        if self._conn is not None:
            try:
                _store.ping(self._conn)
                return True
            except Exception:
                log.warning("the scheduler lost its database connection and with it the leader lock")
                self._close()
        conn = self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = _store.try_advisory_lock(conn, self.name)
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()  # never back to the pool with the lock held
                self._conn.close()
            except Exception:  # the connection is gone already
                pass
            self._conn = None

    def release(self) -> None:
        # Unlock before closing: a closed socket frees the lock only once the server's backend
        # notices and exits, so a successor asking right after could still find it taken.
        if self._conn is not None:
            try:
                _store.advisory_unlock(self._conn, self.name)
            except Exception:  # the connection is gone, and the lock with it
                log.debug("could not unlock the scheduler lock; closing its connection", exc_info=True)
        self._close()


class _Lease:
    """SQLite: a ``scheduler_lease`` row with an expiry, renewed every tick."""

    def __init__(self, db: Database, name: str, holder: str, ttl: timedelta) -> None:
        self.db, self.name, self.holder, self.ttl = db, name, holder, ttl

    def hold(self, now: datetime) -> bool:
        with self.db.begin() as session:
            return _store.hold_lease(session, self.name, self.holder, ttl=self.ttl, now=now)

    def release(self) -> None:
        with self.db.begin() as session:
            _store.release_lease(session, self.name, self.holder)


class Scheduler:
    """Creates the runs of due slots and hands them to ``executor``; see the module docstring.

    ``start()`` ticks every ``interval`` seconds in a background thread (``crmhub serve``);
    ``run_forever()`` does the same in the calling thread (``crmhub scheduler``); ``tick()`` once.
    ``max_due`` (default :data:`MAX_DUE`; ``None`` for no bound) bounds the due jobs one tick takes,
    oldest slots first; while a tick takes that many, the loop ticks again at once. A burst of
    thousands of due jobs (every hourly job at the top of the hour) is then created in a few short
    transactions — each tick holds the database's write lock for tens of milliseconds, not for the
    whole burst — at the same overall throughput.
    """

    def __init__(
        self,
        db: Database,
        executor: RunSubmitter,
        *,
        interval: float = 5.0,
        stale_after: timedelta = STALE_AFTER,
        requeue_after: timedelta = REQUEUE_AFTER,
        lease_ttl: timedelta | None = None,
        max_due: int | None = MAX_DUE,
        name: str = "default",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.executor = executor
        self.interval = interval
        self.stale_after = stale_after
        self.requeue_after = requeue_after
        self.max_due = max_due
        self.name = name
        self.clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        ttl = lease_ttl or max(timedelta(seconds=30), timedelta(seconds=3 * interval))
        self._leadership: _Leadership = (
            _AdvisoryLock(db, name) if db.dialect == "postgresql" else _Lease(db, name, self.holder, ttl)
        )
        self._leading = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._foreground = False
        self._lock = threading.Lock()  # one tick at a time
        self.last_report: TickReport | None = None
        #: Stored schedule text → parsed schedule (the same texts come due tick after tick).
        self._parsed: dict[str, Schedule] = {}

    @property
    def is_leader(self) -> bool:
        return self._leading

    # The loop ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Tick every ``interval`` seconds in a daemon thread until :meth:`stop`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="crmhub-scheduler", daemon=True)
        self._thread.start()

    def run_forever(self) -> None:
        """Tick every ``interval`` seconds in this thread until :meth:`stop` (from a signal handler)."""
        self._stop.clear()
        self._foreground = True
        try:
            self._loop()
        finally:
            self._foreground = False
            self._resign()

    def wake(self) -> None:
        """Tick now instead of at the end of the current interval (e.g. after a job was saved)."""
        self._wake.set()

    def stop(self, *, wait: bool = True, timeout: float | None = 10.0) -> None:
        """Stop ticking, and give up leadership so another scheduler can take over at once.

        With ``wait`` a tick in progress may finish first (up to ``timeout`` seconds).
        """
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout if wait else 0)
        if self._foreground:
            return  # called from a signal handler inside run_forever(), which resigns as it returns
        if thread is None or not thread.is_alive():
            self._resign()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                report = self.tick()
                if report.created or report.requeued or report.resubmitted:
                    log.info(
                        "scheduler tick: %d run(s) created, %d requeued, %d handed out again",
                        len(report.created),
                        len(report.requeued),
                        len(report.resubmitted),
                    )
                if self.max_due is not None and report.due >= self.max_due:
                    continue  # more are due than one tick takes: go on at once
            except Exception:  # a database hiccup must not end the loop
                log.exception("scheduler tick failed; retrying in %.1f s", self.interval)
                self._leading = False
            self._wake.wait(self.interval)
            self._wake.clear()

    def _resign(self) -> None:
        with self._lock:
            if self._leading:
                try:
                    self._leadership.release()
                except Exception:
                    log.warning("could not release the scheduler's leadership", exc_info=True)
            self._leading = False

    # One tick ---------------------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> TickReport:
        """Lead (or not), sweep, create due runs, commit, hand them out. Returns what it did."""
        with self._lock:
            started = time.perf_counter()
            now = now or self.clock()
            report = TickReport(at=now, leader=self._leadership.hold(now))
            if not report.leader:
                self._leading = False
                report.seconds = time.perf_counter() - started
                self.last_report = report
                return report
            became_leader = not self._leading
            self._leading = True
            with self.db.begin() as session:
                self._sweep(session, now, report, all_queued=became_leader)
                self._schedule(session, now, report)
            for run_id in [*report.requeued, *report.resubmitted, *report.created]:
                try:
                    self.executor.submit(run_id)
                except Exception:
                    # The run stays queued; the sweep hands it out again after requeue_after.
                    report.submit_failures += 1
                    log.exception("could not hand run %s to the executor; it stays queued", run_id)
            report.seconds = time.perf_counter() - started
            self.last_report = report
            return report

    def _sweep(self, session: Any, now: datetime, report: TickReport, *, all_queued: bool) -> None:
        for run in _store.stale_running(session, older_than=self.stale_after, now=now):
            requeue_dead(session, run, now=now)
            report.requeued.append(run.id)
        if all_queued:
            lost = [r for r in _store.queued_runs(session) if r.id not in report.requeued]
        else:
            lost = _store.lost_queued(session, older_than=self.requeue_after, now=now)
        report.resubmitted = [r.id for r in lost if r.id not in report.requeued]
        _store.mark_handed_over(session, report.resubmitted, now)

    def _schedule(self, session: Any, now: datetime, report: TickReport) -> None:
        due = _store.due_jobs(session, now, limit=self.max_due)
        report.due = len(due)
        if not due:
            return
        with gc_paused():  # thousands of small objects, no cycles: keep the collector out of it
            runs, moves, events = self._plan(session, due, now, report)
            report.created = sorted(_store.insert_runs(session, runs, now=now))
            report.taken = len(runs) - len(report.created)
            _store.insert_events(session, events, now=now)
            _store.move_next_runs(session, moves)
        if report.invalid:
            log.warning("job(s) %s have an invalid stored schedule; they are not scheduled", report.invalid)

    def _plan(
        self, session: Any, due: list[_store.DueJob], now: datetime, report: TickReport
    ) -> tuple[list[_store.NewRun], list[tuple[int, datetime, datetime | None]], list[tuple[str, str, str]]]:
        """The runs to create, the next slots and the skip events of one tick's due jobs."""
        active = _store.active_run_by_job(session)
        slots: dict[str | None, tuple[Schedule | None, datetime | None]] = {}
        everies: dict[str | None, timedelta | None] = {None: None}
        ids = iter(new_hub_ids(len(due)))
        runs: list[_store.NewRun] = []
        moves: list[tuple[int, datetime, datetime | None]] = []
        events: list[tuple[str, str, str]] = []
        for job in due:
            if job.schedule not in slots:
                slots[job.schedule] = self._next_slot(job.schedule, now)
            schedule, next_slot = slots[job.schedule]
            moves.append((job.id, job.slot, next_slot))
            if schedule is None:
                report.invalid.append(job.id)
                continue
            blocking = active.get(job.id)
            if blocking is not None:
                report.skipped_active += 1
                events.append(
                    (
                        blocking,
                        "slot_skipped",
                        f"the scheduled slot {job.slot.isoformat()} was skipped: this run was still active",
                    )
                )
                continue
            if job.full_sync_every not in everies:
                everies[job.full_sync_every] = _TIMEDELTA.validate_python(job.full_sync_every)
            every = everies[job.full_sync_every]
            state = job.mode_state()
            mode = mode_for(job.direction, state, job.version, every, full=False, now=now)
            periodic = mode == "full" and _periodic_full_due(job, every, now)
            runs.append(
                _store.NewRun(
                    id=next(ids),
                    job_id=job.id,
                    job_version=job.version,
                    trigger="full_sync" if periodic else "schedule",
                    mode=mode,
                    idempotency_key=scheduled_key(job.id, job.slot),
                )
            )
        return runs, moves, events

    def _next_slot(self, schedule_json: str | None, now: datetime) -> tuple[Schedule | None, datetime | None]:
        """The parsed schedule (None if invalid) and its first slot after ``now``."""
        if schedule_json is None:
            return None, None
        schedule = self._parsed.get(schedule_json)
        if schedule is None:
            try:
                schedule = parse_schedule(orjson.loads(schedule_json))
            except (ValidationError, orjson.JSONDecodeError, TypeError):
                return None, None
            if len(self._parsed) >= _PARSED_CACHE:
                self._parsed.clear()
            self._parsed[schedule_json] = schedule
        return schedule, next_run(schedule, now)


def _periodic_full_due(job: _store.DueJob, every: timedelta | None, now: datetime) -> bool:
    """True when the full sync is due because of the job's "full sync every" (not a first or resumed one)."""
    if job.direction != "inbound" or every is None:
        return False
    last = job.last_full_sync_at
    return last is not None and datetime.fromisoformat(last) + every <= now
