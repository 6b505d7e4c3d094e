"""Reads and small use cases the API needs that ``crmhub.services`` does not offer yet.

Keyset-paged lists (jobs with their last run in two queries, runs filtered by status and time,
records filtered by an expression, events, ledger rows, audit events) and an asynchronous "rebuild
mapping". Each function opens its own transaction, like a service method; the queries themselves
are in ``crmhub.store`` (mostly :mod:`crmhub.store.views`). The use cases belong in ``services/``;
they live here until they move there (connection updates did: ``ConnectionService.update``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from crmhub.core.clock import utcnow
from crmhub.core.errors import ExpressionError
from crmhub.services.hub import SYSTEM_ACTOR, HubService
from crmhub.services.jobs import JobService, RunSubmitter
from crmhub.store import audit, views
from crmhub.store import connections as connection_repo
from crmhub.store import jobs as job_repo
from crmhub.store import runs as run_repo
from crmhub.store import schema as schema_repo
from crmhub.store.database import Database
from crmhub.store.links import clear_links, links_of_record
from crmhub.store.models import Artifact, AuditEvent, Job, Link, Record, Run, RunError, RunEvent
from crmhub.store.records import get_record
from crmhub.sync.runner import refuse_draft

# Jobs ---------------------------------------------------------------------------------------------


def jobs_page(db: Database, *, after: str | None, limit: int) -> list[tuple[Any, Any | None]]:
    """Jobs in name order after ``after``, each with its newest run: rows with the listed columns."""
    with db.read() as session:
        return list(views.jobs_page(session, after=after, limit=limit))


def job_with_last_run(db: Database, job: str | int) -> tuple[Job, Run | None]:
    with db.read() as session:
        row = job_repo.get_job(session, job)
        return row, views.last_runs(session, [row.id]).get(row.id)


def job_names(db: Database, job_ids: set[int]) -> dict[int, str]:
    if not job_ids:
        return {}
    with db.read() as session:
        return job_repo.job_names(session, job_ids)


def connection_names(db: Database, connection_ids: set[int]) -> dict[int, str]:
    if not connection_ids:
        return {}
    from crmhub.store import connections as connection_repo

    with db.read() as session:
        return {c.id: c.name for c in connection_repo.list_connections(session) if c.id in connection_ids}


def rebuild_mapping(
    jobs: JobService, job: str | int, *, executor: RunSubmitter, actor: str = SYSTEM_ACTOR
) -> Run:
    """Clear the job's links and queue a full sync that matches everything again."""
    with jobs.db.begin() as session:
        row = job_repo.get_job(session, job)
        refuse_draft(row)  # before its links go: a draft's full sync would not run
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


def jobs_using_connection(db: Database, name: str) -> list[str]:
    with db.read() as session:
        connection = connection_repo.get_connection(session, name)
        return job_repo.jobs_of_connection(session, connection.id)


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
    with db.read() as session:
        return views.runs_page(
            session, job_id=job_id, status=status, since=since, until=until, before=before, limit=limit
        )


def note_on_run(db: Database, run_id: str, kind: str, message: str, **data: Any) -> None:
    """Append an event to a run's history (who asked for it, who cancelled it)."""
    with db.begin() as session:
        run_repo.add_event(session, run_id, kind, message, data)


def run_by_idempotency_key(db: Database, job_id: int, key: str) -> Run | None:
    with db.read() as session:
        return run_repo.run_by_idempotency_key(session, job_id, key)


def events_page(db: Database, run_id: str, *, after: int | None, limit: int) -> list[RunEvent]:
    with db.read() as session:
        return views.events_page(session, run_id, after=after, limit=limit)


def errors_page(db: Database, run_id: str, *, after: int | None, limit: int) -> list[RunError]:
    with db.read() as session:
        return views.errors_page(session, run_id, after=after, limit=limit)


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
        return run_repo.latest_artifact(session, run_id, "source_snapshot")


def run_progress(db: Database, run_id: str) -> dict[str, Any] | None:
    """The run's live state (one small query; the SSE stream polls it)."""
    with db.read() as session:
        row = run_repo.run_progress(session, run_id)
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


#: The largest records filter the API takes, in expression nodes (values, names, operators).
MAX_FILTER_NODES = 300


def records_page(
    hub: HubService,
    object_type: str,
    *,
    filter: str | None,
    after: str | None,
    limit: int,
    include_deleted: bool = False,
) -> list[Record]:
    """Records of one type in hub id order, filtered by an expression over their attributes.

    A filter is at most :data:`MAX_FILTER_NODES` nodes (a 280-term OR took 7–37 s on SQLite over
    20,000 records); every statement is bounded in time by the request's statement timeout too.
    """
    if filter:
        from crmhub.expr import parse
        from crmhub.expr.ast import walk

        size = sum(1 for _ in walk(parse(filter)))
        if size > MAX_FILTER_NODES:
            raise ExpressionError(
                f"the filter has {size} parts; a records filter has at most {MAX_FILTER_NODES}",
                hint="use IN (…) for many values of one attribute, or narrow the filter",
            )
    with hub.db.read() as session:
        schema = schema_repo.load_schema(session, object_type)
        return views.records_page(
            session, schema, filter=filter, after=after, limit=limit, include_deleted=include_deleted
        )


def record_detail(hub: HubService, hub_id: str) -> tuple[Record, str, list[Link]]:
    with hub.db.read() as session:
        record = get_record(session, hub_id, include_deleted=True)
        type_name = views.object_type_name(session, record.object_type_id)
        return record, type_name or "", links_of_record(session, hub_id)


def audit_page(db: Database, *, before: int | None, limit: int) -> list[AuditEvent]:
    with db.read() as session:
        return views.audit_page(session, before=before, limit=limit)
