"""Reads and small use cases the API needs that ``crmhub.store`` / ``crmhub.services`` do not offer yet.

Keyset-paged lists (jobs with their last run in two queries, runs filtered by status and time,
records filtered by an expression, events, ledger rows, audit events), connection updates, job
schedules and an asynchronous "rebuild mapping". Each function opens its own transaction, like a
service method. They belong in ``store/`` and ``services/``; they live here until they move there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from crmhub.connectors import registry
from crmhub.core.clock import utcnow
from crmhub.expr import ValueType, parse
from crmhub.services.connections import ConnectionService, ConnectionView
from crmhub.services.hub import SYSTEM_ACTOR, HubService
from crmhub.services.jobs import JobService, RunSubmitter
from crmhub.store import audit
from crmhub.store import connections as connection_repo
from crmhub.store import jobs as job_repo
from crmhub.store import runs as run_repo
from crmhub.store import schema as schema_repo
from crmhub.store.database import Database
from crmhub.store.expr_sql import compile_sql
from crmhub.store.links import clear_links, links_of_record
from crmhub.store.models import (
    Artifact,
    AuditEvent,
    Job,
    Link,
    ObjectType,
    Record,
    Run,
    RunError,
    RunEvent,
)
from crmhub.store.records import get_record

# Jobs ---------------------------------------------------------------------------------------------


#: The columns a listing shows of a job and of its last run (plain rows: no ORM objects, no JSON
#: documents beyond the schedule), read in two queries for a whole page.
_JOB_COLUMNS = (
    Job.id,
    Job.name,
    Job.direction,
    Job.connection_id,
    Job.remote_object,
    Job.object_type,
    Job.version,
    Job.enabled,
    Job.schedule,
    Job.next_run_at,
    Job.updated_at,
)
_RUN_COLUMNS = (Run.id, Run.job_id, Run.status, Run.trigger, Run.mode, Run.created_at, Run.finished_at)


def _newest_run_ids(job_ids: list[int]) -> Any:
    # Run ids are ULIDs: the greatest id of a job is its newest run.
    return select(func.max(Run.id)).where(Run.job_id.in_(job_ids)).group_by(Run.job_id)


def _last_runs(session: Any, job_ids: list[int]) -> dict[int, Run]:
    if not job_ids:
        return {}
    return {r.job_id: r for r in session.scalars(select(Run).where(Run.id.in_(_newest_run_ids(job_ids))))}


def jobs_page(db: Database, *, after: str | None, limit: int) -> list[tuple[Any, Any | None]]:
    """Jobs in name order after ``after``, each with its newest run: rows with the listed columns."""
    with db.read() as session:
        stmt = select(*_JOB_COLUMNS).order_by(Job.name).limit(limit)
        if after is not None:
            stmt = stmt.where(Job.name > after)
        jobs = session.execute(stmt).all()
        ids = [j.id for j in jobs]
        last = (
            {
                r.job_id: r
                for r in session.execute(select(*_RUN_COLUMNS).where(Run.id.in_(_newest_run_ids(ids))))
            }
            if ids
            else {}
        )
        return [(j, last.get(j.id)) for j in jobs]


def job_with_last_run(db: Database, job: str | int) -> tuple[Job, Run | None]:
    with db.read() as session:
        row = job_repo.get_job(session, job)
        return row, _last_runs(session, [row.id]).get(row.id)


def job_names(db: Database, job_ids: set[int]) -> dict[int, str]:
    if not job_ids:
        return {}
    with db.read() as session:
        return dict(session.execute(select(Job.id, Job.name).where(Job.id.in_(job_ids))).tuples().all())


def rebuild_mapping(
    jobs: JobService, job: str | int, *, executor: RunSubmitter, actor: str = SYSTEM_ACTOR
) -> Run:
    """Clear the job's links and queue a full sync that matches everything again."""
    with jobs.db.begin() as session:
        row = job_repo.get_job(session, job)
        name = row.name
        removed = clear_links(session, connection_id=row.connection_id, remote_object=row.remote_object)
        row.state = {}
        audit.record_event(
            session,
            actor=actor,
            action="rebuild_mapping",
            object_kind="job",
            object_name=name,
            details={"links_removed": removed},
        )
    return jobs.submit(name, executor=executor, trigger="rebuild", full=True)


# Connections --------------------------------------------------------------------------------------


def update_connection(
    service: ConnectionService,
    name: str,
    *,
    settings: Mapping[str, Any] | None,
    credentials: Mapping[str, Any] | None,
    actor: str = SYSTEM_ACTOR,
) -> ConnectionView:
    """Change settings and/or credentials (merged; a null value removes one). Credentials stay sealed."""
    vault = service.vault()
    with service.db.begin() as session:
        connection = connection_repo.get_connection(session, name)
        new_settings = dict(connection.settings)
        for key, value in (settings or {}).items():
            if value is None:
                new_settings.pop(key, None)
            else:
                new_settings[key] = value
        new_credentials = connection_repo.read_credentials(vault, connection)
        for key, value in (credentials or {}).items():
            if value in (None, ""):
                new_credentials.pop(key, None)
            else:
                new_credentials[key] = value
        parsed, _ = registry.get(connection.kind).validate(new_settings, new_credentials)
        connection.settings = parsed.model_dump(mode="json", exclude_none=True)
        if credentials:
            connection_repo.update_credentials(session, vault, connection, new_credentials)
        connection.status, connection.status_message = "untested", ""
        audit.record_event(
            session,
            actor=actor,
            action="update",
            object_kind="connection",
            object_name=connection.name,
            details={
                "settings": sorted((settings or {}).keys()),
                "credential_fields": sorted((credentials or {}).keys()),
            },
        )
    return service.get(name)


def jobs_using_connection(db: Database, name: str) -> list[str]:
    with db.read() as session:
        connection = connection_repo.get_connection(session, name)
        return list(session.scalars(select(Job.name).where(Job.connection_id == connection.id)))


# Runs ---------------------------------------------------------------------------------------------


def runs_page(
    db: Database,
    *,
    job_id: int | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: str | None = None,
    limit: int = 50,
) -> list[Run]:
    """Runs newest first (by id: ULIDs sort by creation time), filtered by job, status and time."""
    stmt = select(Run)
    if job_id is not None:
        stmt = stmt.where(Run.job_id == job_id)
    if status is not None:
        stmt = stmt.where(Run.status == status)
    if since is not None:
        stmt = stmt.where(Run.created_at >= since)
    if until is not None:
        stmt = stmt.where(Run.created_at < until)
    if before is not None:
        stmt = stmt.where(Run.id < before)
    with db.read() as session:
        return list(session.scalars(stmt.order_by(Run.id.desc()).limit(limit)))


def note_on_run(db: Database, run_id: str, kind: str, message: str, **data: Any) -> None:
    """Append an event to a run's history (who asked for it, who cancelled it)."""
    with db.begin() as session:
        run_repo.add_event(session, run_id, kind, message, data)


def run_by_idempotency_key(db: Database, job_id: int, key: str) -> Run | None:
    with db.read() as session:
        return session.scalar(select(Run).where(Run.idempotency_key == key, Run.job_id == job_id))


def events_page(db: Database, run_id: str, *, after: int | None, limit: int) -> list[RunEvent]:
    stmt = select(RunEvent).where(RunEvent.run_id == run_id)
    if after is not None:
        stmt = stmt.where(RunEvent.id > after)
    with db.read() as session:
        return list(session.scalars(stmt.order_by(RunEvent.id).limit(limit)))


def errors_page(db: Database, run_id: str, *, after: int | None, limit: int) -> list[RunError]:
    stmt = select(RunError).where(RunError.run_id == run_id)
    if after is not None:
        stmt = stmt.where(RunError.id > after)
    with db.read() as session:
        return list(session.scalars(stmt.order_by(RunError.id).limit(limit)))


def iter_errors(db: Database, run_id: str, *, chunk: int = 5000) -> Iterator[RunError]:
    """Every ledger row of a run, read in chunks (a short transaction each)."""
    after: int | None = None
    while True:
        rows = errors_page(db, run_id, after=after, limit=chunk)
        yield from rows
        if len(rows) < chunk:
            return
        after = rows[-1].id


def snapshot_of(db: Database, run_id: str) -> Artifact | None:
    with db.read() as session:
        return session.scalar(
            select(Artifact)
            .where(Artifact.run_id == run_id, Artifact.kind == "source_snapshot")
            .order_by(Artifact.id.desc())
            .limit(1)
        )


def run_progress(db: Database, run_id: str) -> dict[str, Any] | None:
    """The run's live state (one small query; the SSE stream polls it)."""
    with db.read() as session:
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
    if row is None:
        return None
    status, done, total, counts, message, cancel_requested = row
    return {
        "run_id": run_id,
        "status": status,
        "done": done,
        "total": total,
        "percent": round(100.0 * done / total, 1) if total else None,
        "counts": counts,
        "message": message,
        "cancel_requested": cancel_requested,
        "at": utcnow().isoformat(),
    }


# Hub ----------------------------------------------------------------------------------------------


def records_page(
    hub: HubService,
    object_type: str,
    *,
    filter: str | None,
    after: str | None,
    limit: int,
    include_deleted: bool = False,
) -> list[Record]:
    """Records of one type in hub id order, filtered by an expression over their attributes."""
    with hub.db.read() as session:
        schema = schema_repo.load_schema(session, object_type)
        stmt = select(Record).where(Record.object_type_id == schema.id)
        if not include_deleted:
            stmt = stmt.where(Record.deleted_at.is_(None))
        if filter:
            types = {name: ValueType(t) for name, t in schema.types.items()}
            stmt = stmt.where(
                compile_sql(parse(filter), Record.values, dialect_name=hub.db.dialect, schema=types)
            )
        if after is not None:
            stmt = stmt.where(Record.hub_id > after)
        return list(session.scalars(stmt.order_by(Record.hub_id).limit(limit)))


def record_detail(hub: HubService, hub_id: str) -> tuple[Record, str, list[Link]]:
    with hub.db.read() as session:
        record = get_record(session, hub_id, include_deleted=True)
        type_name = session.scalar(select(ObjectType.name).where(ObjectType.id == record.object_type_id))
        return record, type_name or "", links_of_record(session, hub_id)


def audit_page(db: Database, *, before: int | None, limit: int) -> list[AuditEvent]:
    stmt = select(AuditEvent)
    if before is not None:
        stmt = stmt.where(AuditEvent.id < before)
    with db.read() as session:
        return list(session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit)))
