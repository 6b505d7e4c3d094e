"""Keyset-paged listings as the API shows them: jobs with their newest run, runs, run events, ledger
rows, records filtered by an expression, audit events. Caller owns the transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa
from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session, aliased

from crmhub.expr import ValueType, parse
from crmhub.store.expr_sql import compile_sql
from crmhub.store.models import AuditEvent, Job, ObjectType, Record, Run, RunError, RunEvent
from crmhub.store.records import of_type_in_hub_id_order
from crmhub.store.schema import TypeSchema

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
    Job.problems,
    Job.schedule,
    Job.next_run_at,
    Job.updated_at,
)
_RUN_COLUMNS = (Run.id, Run.job_id, Run.status, Run.trigger, Run.mode, Run.created_at, Run.finished_at)


def _newest_run_id(job_id: Any) -> Any:
    # Run ids are ULIDs: a job's newest run is its greatest id, one seek in ix_run_job_id_id.
    newest = aliased(Run)
    return (
        select(newest.id)
        .where(newest.job_id == job_id)
        .order_by(newest.id.desc())
        .limit(1)
        .correlate(Job)
        .scalar_subquery()
    )


def last_runs(session: Session, job_ids: list[int]) -> dict[int, Run]:
    """The newest run of each job (jobs without runs are left out)."""
    if not job_ids:
        return {}
    stmt = select(Run).join(Job, Run.id == _newest_run_id(Job.id)).where(Job.id.in_(job_ids))
    return {r.job_id: r for r in session.scalars(stmt)}


def _jobs_page_statement(*, after: bool) -> Any:
    stmt = (
        select(*_JOB_COLUMNS, *(c.label(f"run_{c.key}") for c in _RUN_COLUMNS))
        .outerjoin(Run, Run.id == _newest_run_id(Job.id))
        .order_by(Job.name)
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )
    return stmt.where(Job.name > sa.bindparam("after", type_=sa.String)) if after else stmt


#: Built once: the jobs page is the API's busiest query, and building a statement costs more than
#: running this one (values go in as bound parameters).
_JOBS_FIRST_PAGE = _jobs_page_statement(after=False)
_JOBS_NEXT_PAGE = _jobs_page_statement(after=True)


def jobs_page(session: Session, *, after: str | None, limit: int) -> list[tuple[Row[Any], LastRun | None]]:
    """Jobs in name order after ``after``, each with its newest run: rows with the listed columns.

    One query: each job joins its newest run through a correlated one-row subquery.
    """
    # On the session's connection: plain column rows need none of the ORM's result loading.
    conn = session.connection()
    if after is None:
        rows = conn.execute(_JOBS_FIRST_PAGE, {"limit": limit})
    else:
        rows = conn.execute(_JOBS_NEXT_PAGE, {"limit": limit, "after": after})
    width = len(_JOB_COLUMNS)
    return [(row, LastRun(*row[width:]) if row.run_id is not None else None) for row in rows]


class LastRun(NamedTuple):
    """The columns of a job's newest run that a listing shows."""

    id: str
    job_id: int
    status: str
    trigger: str
    mode: str
    created_at: datetime
    finished_at: datetime | None


def runs_page(
    session: Session,
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
    return list(session.scalars(stmt.order_by(Run.id.desc()).limit(limit)))


def events_page(session: Session, run_id: str, *, after: int | None, limit: int) -> list[RunEvent]:
    stmt = select(RunEvent).where(RunEvent.run_id == run_id)
    if after is not None:
        stmt = stmt.where(RunEvent.id > after)
    return list(session.scalars(stmt.order_by(RunEvent.id).limit(limit)))


def errors_page(session: Session, run_id: str, *, after: int | None, limit: int) -> list[RunError]:
    stmt = select(RunError).where(RunError.run_id == run_id)
    if after is not None:
        stmt = stmt.where(RunError.id > after)
    return list(session.scalars(stmt.order_by(RunError.id).limit(limit)))


def records_page(
    session: Session,
    schema: TypeSchema,
    *,
    filter: str | None,
    after: str | None,
    limit: int,
    include_deleted: bool = False,
) -> list[Record]:
    """Records of one type in hub id order, filtered by an expression over their attributes."""
    stmt = select(Record).where(of_type_in_hub_id_order(schema))
    if not include_deleted:
        stmt = stmt.where(Record.deleted_at.is_(None))
    if filter:
        types = {name: ValueType(t) for name, t in schema.types.items()}
        dialect = session.get_bind().dialect.name
        stmt = stmt.where(compile_sql(parse(filter), Record.values, dialect_name=dialect, schema=types))
    if after is not None:
        stmt = stmt.where(Record.hub_id > after)
    return list(session.scalars(stmt.order_by(Record.hub_id).limit(limit)))


def object_type_name(session: Session, object_type_id: int) -> str | None:
    return session.scalar(select(ObjectType.name).where(ObjectType.id == object_type_id))


def audit_page(session: Session, *, before: int | None, limit: int) -> list[AuditEvent]:
    stmt = select(AuditEvent)
    if before is not None:
        stmt = stmt.where(AuditEvent.id < before)
    return list(session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit)))


def distinct_values(session: Session, schema: TypeSchema, attribute: str, *, limit: int) -> list[Any]:
    """Up to ``limit`` distinct non-null values the live records of a type hold for one attribute.

    Values come back as stored (text, number, boolean; a multi-value attribute as its list), in no
    particular order; validation checks them against a CRM's picklist before a run sends them.
    """
    if session.get_bind().dialect.name == "postgresql":
        value: Any = Record.values.op("->")(sa.literal(attribute, sa.String))
    else:
        value = func.json_extract(Record.values, sa.literal(f'$."{attribute}"', sa.String))
    stmt = (
        select(value)
        .where(Record.object_type_id == schema.id, Record.deleted_at.is_(None), value.is_not(None))
        .distinct()
        .limit(limit)
    )
    out: list[Any] = []
    for (raw,) in session.execute(stmt):
        if isinstance(raw, str) and schema.types.get(attribute) == "multi_text" and raw.startswith("["):
            raw = orjson.loads(raw)  # SQLite's json_extract gives an array as JSON text
        if raw is not None and raw != "null":
            out.append(raw)
    return out
