"""Runs, their events, the error ledger and artifacts. Caller owns the transaction."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.orm import Session

from crmhub.core.clock import utcnow
from crmhub.core.errors import NotFoundError
from crmhub.core.ids import new_hub_id
from crmhub.store.models import Artifact, Run, RunError, RunEvent

ACTIVE_STATUSES = ("queued", "running")
FINAL_STATUSES = ("succeeded", "succeeded_with_errors", "failed", "cancelled")


def create_run(
    session: Session,
    *,
    job_id: int,
    job_version: int,
    trigger: str,
    mode: str,
    dry_run: bool = False,
    status: str = "queued",
    idempotency_key: str | None = None,
    created_at: datetime | None = None,
) -> Run:
    """A new run row; ``created_at`` defaults to now (give the time the caller stamps ``started_at``
    with, so a run never starts before it was created)."""
    run = Run(
        id=new_hub_id(),
        created_at=created_at or utcnow(),
        job_id=job_id,
        job_version=job_version,
        trigger=trigger,
        mode=mode,
        status=status,
        dry_run=dry_run,
        counts={},
        usage={},
        checkpoint={},
        idempotency_key=idempotency_key,
    )
    session.add(run)
    session.flush()
    add_event(session, run.id, "created", f"{trigger} {mode} run{' (dry run)' if dry_run else ''}")
    return run


def get_run(session: Session, run_id: str) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise NotFoundError(f"run {run_id!r} does not exist", hint="list runs with `crmhub runs list`")
    return run


def active_runs(session: Session, job_id: int) -> list[Run]:
    return list(
        session.scalars(
            select(Run).where(Run.job_id == job_id, Run.status.in_(ACTIVE_STATUSES)).order_by(Run.created_at)
        )
    )


def list_runs(
    session: Session,
    *,
    job_id: int | None = None,
    status: str | None = None,
    limit: int = 50,
    since: datetime | None = None,
) -> list[Run]:
    stmt = select(Run)
    if job_id is not None:
        stmt = stmt.where(Run.job_id == job_id)
    if status is not None:
        stmt = stmt.where(Run.status == status)
    if since is not None:
        stmt = stmt.where(Run.created_at >= since)
    return list(session.scalars(stmt.order_by(Run.created_at.desc(), Run.id.desc()).limit(limit)))


def last_run(session: Session, job_id: int) -> Run | None:
    return session.scalar(
        select(Run).where(Run.job_id == job_id).order_by(Run.created_at.desc(), Run.id.desc()).limit(1)
    )


def run_by_idempotency_key(session: Session, job_id: int, key: str) -> Run | None:
    return session.scalar(select(Run).where(Run.idempotency_key == key, Run.job_id == job_id))


def run_job_id(session: Session, run_id: str) -> int | None:
    """The job of a run, or None when the run does not exist."""
    return session.scalar(select(Run.job_id).where(Run.id == run_id))


def lock_run(session: Session, run_id: str) -> None:
    """Lock the run's row until the transaction ends (PostgreSQL; a no-op on SQLite, whose write
    transactions are exclusive already)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Run.id).where(Run.id == run_id).with_for_update())


def run_progress(
    session: Session, run_id: str
) -> tuple[str, int, int | None, dict[str, Any], str, bool] | None:
    """(status, done, total, counts, message, cancel_requested) of a run: one small query."""
    row = session.execute(
        select(
            Run.status,
            Run.progress_done,
            Run.progress_total,
            Run.counts,
            Run.message,
            Run.cancel_requested,
        ).where(Run.id == run_id)
    ).first()
    return None if row is None else tuple(row)


def add_event(
    session: Session, run_id: str, kind: str, message: str = "", data: dict[str, Any] | None = None
) -> None:
    session.add(RunEvent(run_id=run_id, kind=kind, message=message, data=data or {}))


def events(session: Session, run_id: str) -> list[RunEvent]:
    return list(session.scalars(select(RunEvent).where(RunEvent.run_id == run_id).order_by(RunEvent.id)))


_ERROR_COLUMNS = ("phase", "row", "remote_id", "hub_id", "field", "raw_value", "message", "error_class")


def add_errors(session: Session, run_id: str, rows: Sequence[dict[str, Any]]) -> None:
    """Append ledger rows (every row gets every column, so one executemany covers them all)."""
    if rows:
        now = utcnow()
        session.execute(
            cast(Table, RunError.__table__).insert(),
            [{"run_id": run_id, "created_at": now, **{c: r.get(c) for c in _ERROR_COLUMNS}} for r in rows],
        )


def errors(session: Session, run_id: str, *, limit: int = 100, offset: int = 0) -> list[RunError]:
    return list(
        session.scalars(
            select(RunError)
            .where(RunError.run_id == run_id)
            .order_by(RunError.id)
            .limit(limit)
            .offset(offset)
        )
    )


def count_errors(session: Session, run_id: str) -> int:
    return int(
        session.scalar(select(func.count()).select_from(RunError).where(RunError.run_id == run_id)) or 0
    )


def heartbeat(session: Session, run_id: str, *, now: datetime | None = None) -> bool:
    """Touch the run's heartbeat; returns True when a cancel was requested."""
    session.execute(update(Run).where(Run.id == run_id).values(heartbeat_at=now or utcnow()))
    return bool(session.scalar(select(Run.cancel_requested).where(Run.id == run_id)))


def worker_is_gone(worker: str | None) -> bool:
    """True when ``worker`` ("host:pid") names a process on this host that no longer exists."""
    if not worker or ":" not in worker:
        return False
    host, _, pid_text = worker.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def stale_runs(
    session: Session, job_id: int, *, older_than: timedelta, now: datetime | None = None
) -> list[Run]:
    """Running runs of a job whose worker died: its process is gone, or its heartbeat is too old."""
    limit = (now or utcnow()) - older_than
    return [
        r
        for r in active_runs(session, job_id)
        if r.status == "running"
        and ((r.heartbeat_at or r.started_at or r.created_at) < limit or worker_is_gone(r.worker))
    ]


def add_artifact(
    session: Session, run_id: str, *, kind: str, path: str, records: int, size_bytes: int
) -> Artifact:
    artifact = Artifact(run_id=run_id, kind=kind, path=path, records=records, size_bytes=size_bytes)
    session.add(artifact)
    session.flush()
    return artifact


def artifacts(session: Session, run_id: str) -> list[Artifact]:
    return list(session.scalars(select(Artifact).where(Artifact.run_id == run_id).order_by(Artifact.id)))


def artifacts_beyond_retention(session: Session, job_id: int, keep: int, kind: str) -> list[Artifact]:
    """Artifacts of a job's runs older than its newest ``keep`` ones of that kind."""
    stmt = (
        select(Artifact)
        .join(Run, Run.id == Artifact.run_id)
        .where(Run.job_id == job_id, Artifact.kind == kind)
        .order_by(Artifact.created_at.desc(), Artifact.id.desc())
    )
    return list(session.scalars(stmt))[keep:]


def latest_artifact(session: Session, run_id: str, kind: str) -> Artifact | None:
    """The run's newest artifact of ``kind`` (e.g. its source snapshot), or None."""
    return session.scalar(
        select(Artifact)
        .where(Artifact.run_id == run_id, Artifact.kind == kind)
        .order_by(Artifact.id.desc())
        .limit(1)
    )


def delete_artifact(session: Session, artifact: Artifact) -> None:
    """Forget an artifact; one a concurrent run's retention removed first is no error."""
    session.execute(delete(Artifact).where(Artifact.id == artifact.id))


def failed_hub_ids(session: Session, run_id: str, *, phases: Sequence[str]) -> list[str]:
    """The hub records with a ledger row of one of ``phases`` in a run (an outbound run's failures)."""
    stmt = (
        select(RunError.hub_id)
        .where(RunError.run_id == run_id, RunError.phase.in_(list(phases)), RunError.hub_id.is_not(None))
        .distinct()
    )
    return [str(hub_id) for (hub_id,) in session.execute(stmt)]
