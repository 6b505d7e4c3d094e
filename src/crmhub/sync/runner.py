"""Starting and executing runs: one run per job at a time, mode choice, outcome and history."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from crmhub.connectors.base import Connector
from crmhub.core.clock import utcnow
from crmhub.core.cursor import Cursor
from crmhub.core.errors import CrmHubError, FatalError, JobInvalidError, SyncError
from crmhub.store import jobs as job_repo
from crmhub.store import runs as run_repo
from crmhub.store.database import Database
from crmhub.store.models import Job, Run
from crmhub.sync.common import COUNT_NAMES, Counts, Progress, RunOutcome
from crmhub.sync.context import Cancelled, RunContext
from crmhub.sync.readahead import ReadProcess
from crmhub.sync.spec import JobSpec

log = logging.getLogger("crmhub.sync")

#: A running run whose heartbeat is older than this is taken for dead (its worker was killed).
STALE_AFTER = timedelta(minutes=2)


class RunInProgressError(SyncError, FatalError):
    """Another run of the same job is still going."""


def choose_mode(job: Job, spec: JobSpec, *, full: bool, now: datetime) -> str:
    return mode_for(spec.direction, job.state, job.version, spec.settings.full_sync_every, full=full, now=now)


def mode_for(
    direction: str,
    state: dict[str, Any] | None,
    version: int,
    full_sync_every: timedelta | None,
    *,
    full: bool,
    now: datetime,
) -> str:
    """``choose_mode`` on plain values (the scheduler decides for thousands of jobs per tick)."""
    state = state or {}
    if direction == "outbound":
        known = state.get("outbound_since") or {}
        return "incremental" if not full and known.get("version") == version else "full"
    if full or state.get("full_sync") or not Cursor.from_json(state.get("cursor")).modstamp:
        return "full"
    last = state.get("last_full_sync_at")
    if full_sync_every is not None and (
        last is None or datetime.fromisoformat(last) + full_sync_every <= now
    ):
        return "full"
    return "incremental"


def _source_notes(db: Database, run_id: str, connector: Connector, spec: JobSpec, mode: str) -> str:
    """What the source makes of the run, said on the run: a source that cannot read "since" (a file)
    is read whole, so the run is a full one; a CSV file without an id column links by row number."""
    from crmhub.connectors.base import Capability

    notes: list[tuple[str, str]] = []
    if mode != "full" and Capability.INCREMENTAL not in connector.capabilities:
        mode = "full"
        notes.append(("mode", f"{connector.kind} sources are read whole every time: this is a full run"))
    if connector.kind == "csv":
        try:
            id_field = connector.describe(spec.remote_object).id_field
        except CrmHubError:
            id_field = "?"  # the run itself reports what is wrong with the file
        if not id_field:
            notes.append(
                (
                    "warning",
                    f"{spec.remote_object} has no id column (and the connection names no id_column): its row "
                    "numbers are the record ids, so reordering the file relinks records",
                )
            )
    if notes:
        with db.begin() as session:
            run = run_repo.get_run(session, run_id)
            run.mode = mode
            for kind, message in notes:
                run_repo.add_event(session, run_id, kind, message)
    return mode


def refuse_draft(job: Job) -> None:
    """Raise JobInvalidError for a draft: its saved version did not validate, and a run would only
    fail on the same (called before anything of a run, or of a rebuild, happens)."""
    if not job.problems:
        return
    more = f" (and {len(job.problems) - 3} more)" if len(job.problems) > 3 else ""
    raise JobInvalidError(
        f"job {job.name!r} is a draft: its version {job.version} does not validate, so it is not run: "
        + "; ".join(job.problems[:3])
        + more,
        problems=[("job", p) for p in job.problems],
        hint="fix it and save it again (`crmhub jobs validate`, `crmhub jobs edit`)",
        headline=f"job {job.name!r} is a draft: its version {job.version} does not validate, so it is not run",
    )


def worker_name() -> str:
    """This process as a run's ``worker``: ``host:pid`` (see ``store.runs.worker_is_gone``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def start_run(
    db: Database,
    job_name: str,
    *,
    trigger: str,
    full: bool = False,
    dry_run: bool = False,
    queue: bool = False,
    idempotency_key: str | None = None,
    stale_after: timedelta = STALE_AFTER,
    for_executor: bool = False,
) -> Run:
    """Create a run for a job, refusing (or queueing) while another one is active.

    The run starts as ``running`` when the caller executes it right away, or ``queued`` when it is
    handed to an executor (``for_executor``), which marks it running when a worker picks it up.
    """
    from crmhub.store.jobs import get_job

    now = utcnow()
    with db.begin() as session:
        job = get_job(session, job_name, for_update=True)
        refuse_draft(job)
        spec = JobSpec.model_validate(job.spec)
        for stale in run_repo.stale_runs(session, job.id, older_than=stale_after, now=now):
            stale.status = "failed"
            stale.finished_at = now
            stale.message = "interrupted: its process stopped without finishing; the next run resumes from the last committed batch"
            run_repo.add_event(session, stale.id, "interrupted", stale.message)
        active = [r for r in run_repo.active_runs(session, job.id) if r.status == "running" or not queue]
        if active and not queue:
            other = active[0]
            raise RunInProgressError(
                f"job {job.name!r} is already running (run {other.id}, {other.status} since "
                f"{(other.started_at or other.created_at):%Y-%m-%d %H:%M:%S} UTC)",
                hint="wait for it to finish, cancel it, or ask to queue this run",
            )
        mode = choose_mode(job, spec, full=full, now=now)
        status = "queued" if active or for_executor else "running"
        run = run_repo.create_run(
            session,
            job_id=job.id,
            job_version=job.version,
            trigger=trigger,
            mode=mode,
            dry_run=dry_run,
            status=status,
            idempotency_key=idempotency_key,
            created_at=now,
        )
        if status == "running":
            run.started_at = now
            run.heartbeat_at = now
            run.worker = worker_name()
        return run


#: What :func:`claim_run` found: the caller executes the run only on "claimed" or "resumed".
Claim = Literal["claimed", "resumed", "busy", "alive", "finished", "cancelled", "missing"]


def claim_run(
    db: Database,
    run_id: str,
    *,
    worker: str | None = None,
    stale_after: timedelta = STALE_AFTER,
    now: datetime | None = None,
) -> Claim:
    """Make ``worker`` the one that executes a run, if it may; idempotent (executors call it per delivery).

    * ``claimed``: the run was queued and no other run of its job is running; it is now running here.
    * ``resumed``: the run was running but its worker is dead (stale heartbeat or vanished process);
      it continues here from the job's last committed batch.
    * ``busy``: another run of the same job is running; this one stays queued (it is dispatched when
      that one ends, or by the scheduler's sweep).
    * ``alive``: the run is running on a live worker (a duplicate delivery); nothing to do.
    * ``finished`` / ``cancelled`` / ``missing``: nothing to do (a cancel asked while it waited or
      was orphaned is carried out here).
    """
    worker = worker or worker_name()
    now = now or utcnow()
    with db.begin() as session:
        job_id = run_repo.run_job_id(session, run_id)
        if job_id is None:
            return "missing"
        # Lock the job row (PostgreSQL; SQLite's write transaction is exclusive already): claims of
        # runs of one job are serialised, so two of them never both see "nothing running".
        job_repo.lock_job(session, job_id)
        run = run_repo.get_run(session, run_id)
        if run.status not in run_repo.ACTIVE_STATUSES:
            return "finished"
        stale = {r.id for r in run_repo.stale_runs(session, job_id, older_than=stale_after, now=now)}
        if run.status == "running" and run.id not in stale:
            return "alive"
        if run.cancel_requested:
            run.status = "cancelled"
            run.finished_at = now
            run.message = (
                "cancelled before it could continue" if run.started_at else "cancelled before it started"
            )
            run_repo.add_event(session, run.id, "cancelled", run.message)
            return "cancelled"
        for other in run_repo.active_runs(session, job_id):
            if other.id == run.id or other.status != "running":
                continue
            if other.id not in stale:
                run_repo.add_event(
                    session,
                    run.id,
                    "waiting",
                    f"run {other.id} of this job is running; this one starts after it",
                )
                return "busy"
            # A dead run of the same job goes back to the queue: this run continues from the job's
            # committed cursor, and the requeued one finds little or nothing left when its turn comes.
            requeue_dead(session, other, now=now)
        resumed = run.status == "running"
        if resumed:
            run_repo.add_event(
                session,
                run.id,
                "resumed",
                f"worker {run.worker} stopped (no heartbeat since {_when(run)}); {worker} continues "
                "from the last committed batch",
            )
        else:
            run.status = "running"
            run.started_at = run.started_at or now
            run_repo.add_event(session, run.id, "claimed", f"picked up by worker {worker}")
        run.worker = worker
        run.heartbeat_at = now
        return "resumed" if resumed else "claimed"


def requeue_dead(session: Any, run: Run, *, now: datetime) -> None:
    """Put a running run whose worker died back in the queue (it resumes from the last committed batch)."""
    run_repo.add_event(
        session,
        run.id,
        "requeued",
        f"worker {run.worker} stopped sending heartbeats (last {_when(run)}); the run is queued again and "
        "resumes from its last committed batch",
    )
    run.status = "queued"
    run.worker = None
    run.heartbeat_at = now  # for a queued run: when it was last handed to an executor


def _when(run: Run) -> str:
    last = run.heartbeat_at or run.started_at or run.created_at
    return f"{last:%Y-%m-%d %H:%M:%S} UTC"


def execute_run(
    db: Database,
    run_id: str,
    *,
    open_connector: Callable[[int], Connector],
    data_dir: Path,
    on_progress: Callable[[Progress], None] | None = None,
    read_process: ReadProcess | None = None,
) -> RunOutcome:
    """Execute a created run to its end and record the outcome. Never raises for a run's failure.

    ``read_process`` lets a large inbound read continue in a reader process (see ``crmhub.sync.readahead``).
    """
    with db.begin() as session:
        run = run_repo.get_run(session, run_id)
        job = job_repo.find_job(session, run.job_id)
        assert job is not None
        version = job_repo.job_version(session, job.id, run.job_version)
        spec = JobSpec.model_validate(version.spec)
        if run.status == "queued":
            run.status = "running"
            run.started_at = utcnow()
            run.worker = worker_name()
        run.heartbeat_at = utcnow()
        what = "dry run (nothing is written)" if run.dry_run else "run"
        run_repo.add_event(
            session, run.id, "started", f"{run.mode} {spec.direction} {what} of job {job.name!r}"
        )
        echo_jobs = frozenset(str(j) for j in job_repo.inbound_job_ids(session, job.connection_id))
        state, connection_id, job_id, job_version = (
            dict(job.state),
            job.connection_id,
            job.id,
            run.job_version,
        )
        checkpoint = dict(run.checkpoint or {})
        mode, dry_run, started_at = run.mode, run.dry_run, run.started_at or utcnow()
    connector: Connector | None = None
    counts = Counts()
    errors = 0
    usage: dict[str, Any] = {}
    snapshot: Path | None = None
    try:
        connector = open_connector(connection_id)
        if spec.direction == "inbound":
            mode = _source_notes(db, run_id, connector, spec, mode)
        ctx = RunContext(
            db=db,
            run_id=run_id,
            job_id=job_id,
            job_version=job_version,
            spec=spec,
            connection_id=connection_id,
            state=state,
            connector=connector,
            snapshot_dir=data_dir / "snapshots" / str(job_id),
            mode=mode,
            started_at=started_at,
            dry_run=dry_run,
            on_progress=on_progress,
            echo_jobs=echo_jobs,
            checkpoint=checkpoint,
            read_process=read_process,
        )
        if spec.direction == "inbound":
            from crmhub.sync.inbound import InboundRun

            engine: Any = InboundRun(ctx)
        else:
            from crmhub.sync.outbound import OutboundRun

            engine = OutboundRun(ctx)
        snapshot = ctx.snapshot_dir / f"{run_id}.jsonl.gz"
        counts = engine.execute()
        errors = engine.errors
        status, message = _judge(counts, errors, spec)
    except Cancelled:
        status, message = "cancelled", "cancelled at a batch boundary; the next run continues from there"
        counts, errors = engine.counts, engine.errors
    except CrmHubError as exc:
        status, message = "failed", str(exc)
        if "engine" in locals():
            counts, errors = engine.counts, engine.errors
    except Exception as exc:
        log.exception("run %s crashed", run_id)
        status, message = "failed", f"internal error ({type(exc).__name__}: {exc}); the run can be retried"
        if "engine" in locals():
            counts, errors = engine.counts, engine.errors
    finally:
        if connector is not None:
            usage = connector.usage.as_dict()
            connector.close()
    if dry_run:  # every place the run is shown says so: its record, the API, the CLI line
        message = f"dry run, nothing was changed: {message}"
    with db.begin() as session:
        run = run_repo.get_run(session, run_id)
        run.status = status
        run.message = message
        run.counts = counts.as_dict()
        run.usage = usage
        run.finished_at = utcnow()
        if spec.direction == "outbound" and status in ("succeeded", "succeeded_with_errors") and not dry_run:
            job = job_repo.find_job(session, job_id)
            if job is not None:
                job.state = {k: v for k, v in job.state.items() if k not in ("outbound", "outbound_run")}
        run_repo.add_event(session, run_id, "finished", f"{status}: {message}", {"counts": counts.as_dict()})
        if not dry_run:
            _retention(session, job_id, spec)
    return RunOutcome(
        status, counts, message, snapshot if snapshot and snapshot.exists() else None, errors, usage
    )


def _judge(counts: Counts, errors: int, spec: JobSpec) -> tuple[str, str]:
    summary = ", ".join(f"{getattr(counts, k)} {k}" for k in COUNT_NAMES if getattr(counts, k))
    summary = summary or "nothing to do"
    if counts.by_key or counts.by_match:  # through links only is the usual case: not worth a word
        summary = f"{summary} ({counts.identified()})"
    considered = max(counts.read, 1)
    rate = 100.0 * counts.failed / considered
    threshold = spec.settings.error_threshold_percent
    if counts.failed and rate > threshold:
        return "failed", (
            f"{counts.failed} of {counts.read} records failed ({rate:.1f}%), above the job's error threshold of "
            f"{threshold:g}% — see `crmhub runs errors`; {summary}"
        )
    if errors:
        return "succeeded_with_errors", f"{summary}; {errors} error(s) in the ledger"
    return "succeeded", summary


def _retention(session: Any, job_id: int, spec: JobSpec) -> None:
    for artifact in run_repo.artifacts_beyond_retention(
        session, job_id, spec.settings.snapshot_retention, "source_snapshot"
    ):
        Path(artifact.path).unlink(missing_ok=True)
        run_repo.delete_artifact(session, artifact)


def cancel_run(db: Database, run_id: str) -> Run:
    with db.begin() as session:
        run_repo.lock_run(session, run_id)  # not between a worker's claim and its commit
        run = run_repo.get_run(session, run_id)
        if run.status == "queued":
            run.status = "cancelled"
            run.finished_at = utcnow()
            run.message = "cancelled before it started"
            run_repo.add_event(session, run_id, "cancelled", run.message)
        elif run.status == "running":
            run.cancel_requested = True
            run_repo.add_event(session, run_id, "cancel_requested", "stops at the next batch boundary")
        return run
