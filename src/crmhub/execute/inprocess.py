"""The default executor: a pool of threads in the serving process (SQLite, nothing to install).

``crmhub serve`` composes it with the scheduler::

    executor = InProcessExecutor(hub, workers=2)
    scheduler = Scheduler(hub.db, executor)
    executor.start(); scheduler.start()
    ...
    scheduler.stop(); executor.stop()

A submitted run id is claimed before it executes (``crmhub.sync.runner.claim_run``): a run of a job
that already has one running stays queued and is started by this executor when that one ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from crmhub.execute._worker import RunWorker, WorkResult
from crmhub.services.hub import HubService
from crmhub.store import runs as run_repo
from crmhub.store.models import Run
from crmhub.sync.common import RunOutcome
from crmhub.sync.runner import STALE_AFTER, cancel_run

log = logging.getLogger("crmhub.execute")

_KEEP_OUTCOMES = 1000


class InProcessExecutor:
    """Runs each submitted run on one of ``workers`` threads."""

    def __init__(
        self,
        hub: HubService,
        *,
        workers: int = 2,
        heartbeat_interval: float = 15.0,
        stale_after: timedelta = STALE_AFTER,
    ) -> None:
        self.hub = hub
        self.workers = workers
        self.worker = RunWorker(hub, heartbeat_interval=heartbeat_interval, stale_after=stale_after)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._done = threading.Condition()
        self._outcomes: OrderedDict[str, RunOutcome | None] = OrderedDict()

    def start(self) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="crmhub-run")

    def submit(self, run_id: str) -> None:
        """Queue a committed run for execution (returns at once)."""
        self.start()
        self._hand_over(run_id)

    def _hand_over(self, run_id: str) -> bool:
        with self._lock:
            if self._pool is None:  # stopped: the run stays queued in the database
                return False
            self._pool.submit(self._execute, run_id)
            return True

    def _execute(self, run_id: str) -> WorkResult:
        try:
            result = self.worker.work(run_id)
        except Exception:  # execute_run records a run's failure itself; this is a last resort
            log.exception("run %s could not be executed", run_id)
            raise
        if result.claim not in ("busy", "alive"):
            with self._done:
                self._outcomes[run_id] = result.outcome
                while len(self._outcomes) > _KEEP_OUTCOMES:
                    self._outcomes.popitem(last=False)
                self._done.notify_all()
        for next_id in result.next_runs:
            self._hand_over(next_id)
        return result

    def wait(self, run_id: str, timeout: float | None = None) -> RunOutcome | None:
        """Block until the run has ended (for tests, the CLI and notifications); its outcome when it
        ran in this executor, else None. Raises TimeoutError after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._done:
                if run_id in self._outcomes:
                    return self._outcomes[run_id]
            if self._finished(run_id):
                with self._done:
                    return self._outcomes.get(run_id)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"run {run_id} has not ended after {timeout} s")
            with self._done:
                self._done.wait(0.5 if left is None else min(0.5, left))

    def _finished(self, run_id: str) -> bool:
        with self.hub.db.read() as session:
            run = session.get(Run, run_id)
            return run is None or run.status in run_repo.FINAL_STATUSES

    def cancel(self, run_id: str) -> Run:
        """Cancel a queued run, or ask a running one to stop at its next batch boundary."""
        return cancel_run(self.hub.db, run_id)

    def stop(self, *, wait: bool = True) -> None:
        """Stop taking work; with ``wait`` let running runs reach their end (queued ones stay queued
        in the database and are handed out again by the next scheduler that leads)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)
