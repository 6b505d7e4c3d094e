"""What every executor does with a run id: claim it, keep its heartbeat, execute it, pass the baton.

Idempotent by construction: a run id delivered twice, late, or after the run ended is claimed at
most once (``crmhub.sync.runner.claim_run`` decides under a lock on the job row), so executors may
deliver at least once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from crmhub.services.connections import ConnectionService
from crmhub.services.hub import HubService
from crmhub.store import runs as run_repo
from crmhub.sync.common import RunOutcome
from crmhub.sync.runner import STALE_AFTER, Claim, claim_run, execute_run, worker_name

log = logging.getLogger("crmhub.execute")


@dataclass
class WorkResult:
    """What happened to one delivery of a run id."""

    run_id: str
    claim: Claim
    outcome: RunOutcome | None = None
    #: Queued runs of the same job, oldest first, to hand out now that this one has ended.
    next_runs: list[str] = field(default_factory=list)

    @property
    def executed(self) -> bool:
        return self.claim in ("claimed", "resumed")


class RunWorker:
    """Executes runs by id on one hub; safe to share between threads."""

    def __init__(
        self,
        hub: HubService,
        *,
        heartbeat_interval: float = 15.0,
        stale_after: timedelta = STALE_AFTER,
    ) -> None:
        self.hub = hub
        self.heartbeat_interval = heartbeat_interval
        self.stale_after = stale_after

    def work(self, run_id: str) -> WorkResult:
        db = self.hub.db
        claim = claim_run(db, run_id, worker=worker_name(), stale_after=self.stale_after)
        result = WorkResult(run_id, claim)
        if not result.executed:
            log.info("run %s not executed here: %s", run_id, claim)
            return result
        beating = threading.Event()
        beat = threading.Thread(
            target=self._beat, args=(run_id, beating), name=f"crmhub-heartbeat-{run_id}", daemon=True
        )
        beat.start()
        try:
            connections = ConnectionService(self.hub)
            result.outcome = execute_run(
                db,
                run_id,
                open_connector=connections.open,
                data_dir=self.hub.settings.resolved_home,
                read_process=connections.read_process(),
            )
        finally:
            beating.set()
            beat.join()
        with db.read() as session:
            job_id = run_repo.get_run(session, run_id).job_id
            result.next_runs = [r.id for r in run_repo.active_runs(session, job_id) if r.status == "queued"]
        return result

    def _beat(self, run_id: str, stop: threading.Event) -> None:
        """Touch the run's heartbeat between batches too, so a slow page does not look like a dead worker."""
        while not stop.wait(self.heartbeat_interval):
            try:
                with self.hub.db.begin() as session:
                    run_repo.heartbeat(session, run_id)
            except Exception:  # the next beat (or the next batch) tries again
                log.warning("heartbeat of run %s failed", run_id, exc_info=True)
