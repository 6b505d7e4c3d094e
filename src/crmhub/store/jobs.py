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
