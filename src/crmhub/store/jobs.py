"""Jobs and their versions. Caller owns the transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmhub.core.errors import NotFoundError, ValidationError
from crmhub.store.models import Job, JobVersion


def create_job(
    session: Session,
    *,
    name: str,
    direction: str,
    connection_id: int,
    remote_object: str,
    object_type: str,
    spec: dict[str, Any],
    enabled: bool = False,
) -> Job:
    if session.scalar(select(Job.id).where(Job.name == name)) is not None:
        raise ValidationError(f"job {name!r} already exists", hint="choose another name or update the job")
    job = Job(
        name=name,
        direction=direction,
        connection_id=connection_id,
        remote_object=remote_object,
        object_type=object_type,
        spec=spec,
        version=1,
        enabled=enabled,
        state={},
    )
    session.add(job)
    session.flush()
    session.add(JobVersion(job_id=job.id, version=1, spec=spec))
    session.flush()
    return job


def update_job_spec(session: Session, job: Job, spec: dict[str, Any], **columns: Any) -> Job:
    """Save a new version of the job's spec (earlier versions are kept)."""
    if spec == job.spec and not columns:
        return job
    job.version += 1
    job.spec = spec
    for key, value in columns.items():
        setattr(job, key, value)
    session.add(JobVersion(job_id=job.id, version=job.version, spec=spec))
    session.flush()
    return job


def get_job(session: Session, name_or_id: str | int, *, for_update: bool = False) -> Job:
    stmt = select(Job)
    if isinstance(name_or_id, int) or (
        isinstance(name_or_id, str)
        and name_or_id.isascii()
        and name_or_id.isdigit()
        and int(name_or_id) < 2**31
    ):
        stmt = stmt.where(Job.id == int(name_or_id))
    else:
        stmt = stmt.where(Job.name == name_or_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    job = session.scalar(stmt)
    if job is None:
        raise NotFoundError(f"job {name_or_id!r} does not exist", hint="list jobs with `crmhub jobs list`")
    return job


def list_jobs(session: Session) -> list[Job]:
    return list(session.scalars(select(Job).order_by(Job.name)))


def job_versions(session: Session, job_id: int) -> list[JobVersion]:
    return list(
        session.scalars(select(JobVersion).where(JobVersion.job_id == job_id).order_by(JobVersion.version))
    )


def delete_job(session: Session, job: Job) -> None:
    session.delete(job)
    session.flush()


def job_names(session: Session, job_ids: set[int]) -> dict[int, str]:
    """The names of the given jobs by id (missing ids are left out)."""
    if not job_ids:
        return {}
    return dict(session.execute(select(Job.id, Job.name).where(Job.id.in_(job_ids))).tuples().all())


def jobs_of_connection(session: Session, connection_id: int) -> list[str]:
    """The names of the jobs that use a connection."""
    return list(session.scalars(select(Job.name).where(Job.connection_id == connection_id)))


def lock_job(session: Session, job_id: int) -> None:
    """Lock the job's row until the transaction ends (PostgreSQL; a no-op on SQLite, whose write
    transactions are exclusive already)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Job.id).where(Job.id == job_id).with_for_update())


def find_job(session: Session, job_id: int) -> Job | None:
    return session.get(Job, job_id)


def job_version(session: Session, job_id: int, version: int) -> JobVersion:
    """One saved version of a job's spec (NoResultFound when it is missing)."""
    return session.scalars(
        select(JobVersion).where(JobVersion.job_id == job_id, JobVersion.version == version)
    ).one()


def inbound_job_ids(session: Session, connection_id: int) -> list[int]:
    """The ids of the inbound jobs reading from a connection."""
    return list(
        session.scalars(select(Job.id).where(Job.connection_id == connection_id, Job.direction == "inbound"))
    )


def connections_of_jobs(session: Session, job_ids: set[int]) -> dict[int, int]:
    """job id → the id of the connection it reads or writes (missing jobs are left out)."""
    if not job_ids:
        return {}
    stmt = select(Job.id, Job.connection_id).where(Job.id.in_(job_ids))
    return {int(job_id): int(connection_id) for job_id, connection_id in session.execute(stmt)}
