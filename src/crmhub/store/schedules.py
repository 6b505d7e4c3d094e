"""The scheduler's queries: due jobs, bulk run creation, sweeps, and the leader's lock (a PostgreSQL
advisory lock, or a SQLite lease). Caller owns the transaction (the advisory lock: the connection).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import String, cast, exists, func, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased

from crmhub.store.models import Job, Run, RunEvent, SchedulerLease
from crmhub.store.runs import worker_is_gone
from crmhub.store.types import sqlite_timestamp


@dataclass(frozen=True, slots=True)
class DueJob:
    id: int
    version: int
    direction: str
    #: The schedule's JSON text exactly as the database returns it (a cache key within a tick).
    schedule: str | None
    slot: datetime
    #: The parts of ``job.state`` that decide a run's mode (see ``crmhub.sync.runner.mode_for``),
    #: read in SQL so that a large cursor (thousands of ids at one modstamp) is never loaded here.
    cursor_modstamp: str | None
    full_sync: str | None
    last_full_sync_at: str | None
    outbound_version: str | None
    #: ``spec.settings.full_sync_every`` in its JSON form (ISO 8601 duration), or None.
    full_sync_every: str | None

    def mode_state(self) -> dict[str, Any]:
        """The job state as far as choosing the run's mode needs it."""
        state: dict[str, Any] = {"cursor": {"modstamp": self.cursor_modstamp}}
        if self.full_sync not in (None, "", "{}", "null"):
            state["full_sync"] = True
        if self.last_full_sync_at is not None:
            state["last_full_sync_at"] = self.last_full_sync_at
        if self.outbound_version is not None:
            state["outbound_since"] = {"version": int(self.outbound_version)}
        return state


def due_jobs(session: Session, now: datetime, *, limit: int | None = None) -> list[DueJob]:
    """Enabled jobs whose next run is due, oldest slot first."""
    state = Job.state
    stmt = (
        select(
            Job.id,
            Job.version,
            Job.direction,
            cast(Job.schedule, String),
            Job.next_run_at,
            state[("cursor", "modstamp")].as_string(),
            state["full_sync"].as_string(),
            state["last_full_sync_at"].as_string(),
            state[("outbound_since", "version")].as_string(),
            Job.spec[("settings", "full_sync_every")].as_string(),
        )
        # A draft (saved problems) is never run, even if it somehow is enabled.
        .where(Job.enabled.is_(True), Job.next_run_at <= now, cast(Job.problems, String) == "[]")
        .order_by(Job.next_run_at, Job.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [DueJob(*row) for row in session.execute(stmt)]


def active_run_by_job(session: Session) -> dict[int, str]:
    """Job id → its oldest queued or running run (active runs are few; the status index finds them)."""
    stmt = (
        select(Run.job_id, func.min(Run.id)).where(Run.status.in_(("queued", "running"))).group_by(Run.job_id)
    )
    return {job_id: run_id for job_id, run_id in session.execute(stmt)}


# Bulk writes: thousands of rows per tick go through the driver directly (SQLAlchemy's per-parameter
# processing would cost more than the database). Every NOT NULL column of ``run`` without a value
# here is written as a constant; a new NOT NULL column needs adding here (the tests would fail).


@dataclass(frozen=True, slots=True)
class NewRun:
    id: str
    job_id: int
    job_version: int
    trigger: str
    mode: str
    idempotency_key: str


_SQLITE_RUN_ROW = "(?, ?, ?, ?, ?, 'queued', 0, '{}', 0, '{}', '', '{}', ?, 0, ?)"
_RUN_COLUMNS = (
    "id, job_id, job_version, trigger, mode, status, dry_run, counts, progress_done, usage, message, "
    "checkpoint, idempotency_key, cancel_requested, created_at"
)
_SQLITE_CHUNK = 500  # rows per statement: 7 parameters each, far below SQLite's limit


def insert_runs(session: Session, runs: Sequence[NewRun], *, now: datetime) -> set[str]:
    """Insert queued runs created at ``now``, each with its "created" event; a run whose idempotency
    key exists already is skipped. Returns the ids of the runs inserted.
    """
    if not runs:
        return set()
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        # Each column travels as one comma-joined text (split by the server): the values are ours —
        # ULIDs, integers, fixed words, ISO timestamps — and never contain a comma.
        sql = (  # built from the constants above only; every value is a parameter
            f"WITH ins AS (INSERT INTO run ({_RUN_COLUMNS}) "  # noqa: S608
            "SELECT u.id, u.job_id::int, u.job_version::int, u.trigger, u.mode, 'queued', false, "
            "'{}'::jsonb, 0, '{}'::jsonb, '', '{}'::jsonb, u.key, false, %(now)s "
            "FROM unnest(string_to_array(%(ids)s, ','), string_to_array(%(jobs)s, ','), "
            "string_to_array(%(versions)s, ','), string_to_array(%(triggers)s, ','), "
            "string_to_array(%(modes)s, ','), string_to_array(%(keys)s, ',')) "
            "AS u(id, job_id, job_version, trigger, mode, key) "
            "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, trigger, mode), "
            "ev AS (INSERT INTO run_event (run_id, at, kind, message, data) "
            "SELECT id, %(now)s, 'created', trigger || ' ' || mode || ' run', '{}'::jsonb FROM ins) "
            "SELECT id FROM ins"
        )
        params = {
            "now": now,
            "ids": ",".join(r.id for r in runs),
            "jobs": ",".join(str(r.job_id) for r in runs),
            "versions": ",".join(str(r.job_version) for r in runs),
            "triggers": ",".join(r.trigger for r in runs),
            "modes": ",".join(r.mode for r in runs),
            "keys": ",".join(r.idempotency_key for r in runs),
        }
        return {row[0] for row in conn.exec_driver_sql(sql, params)}
    created = sqlite_timestamp(now)
    inserted: set[str] = set()
    for start in range(0, len(runs), _SQLITE_CHUNK):
        chunk = runs[start : start + _SQLITE_CHUNK]
        sql = (  # built from the constants above only; every value is a parameter
            f"INSERT INTO run ({_RUN_COLUMNS}) VALUES {', '.join([_SQLITE_RUN_ROW] * len(chunk))} "  # noqa: S608
            "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
        )
        values = tuple(
            value
            for r in chunk
            for value in (r.id, r.job_id, r.job_version, r.trigger, r.mode, r.idempotency_key, created)
        )
        inserted.update(row[0] for row in conn.exec_driver_sql(sql, values))
    if inserted:
        conn.exec_driver_sql(
            "INSERT INTO run_event (run_id, at, kind, message, data) "
            "SELECT id, created_at, 'created', trigger || ' ' || mode || ' run', '{}' FROM run "
            "WHERE id IN (SELECT value FROM json_each(?))",
            (orjson.dumps(sorted(inserted)).decode(),),
        )
    return inserted


def insert_events(session: Session, events: Sequence[tuple[str, str, str]], *, now: datetime) -> None:
    """Append (run id, kind, message) events at ``now`` (a few per tick: skipped slots)."""
    if events:
        session.execute(
            insert(RunEvent),
            [{"run_id": r, "at": now, "kind": k, "message": m, "data": {}} for r, k, m in events],
        )


def move_next_runs(session: Session, moves: Sequence[tuple[int, datetime, datetime | None]]) -> None:
    """Set ``next_run_at`` of each (job id, due slot, next slot) unless the job was changed meanwhile."""
    if not moves:
        return
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "UPDATE job SET next_run_at = NULLIF(u.next_slot, '')::timestamptz "
            "FROM unnest(string_to_array(%s, ','), string_to_array(%s, ','), string_to_array(%s, ',')) "
            "AS u(id, slot, next_slot) WHERE job.id = u.id::int AND job.next_run_at = u.slot::timestamptz",
            (
                ",".join(str(m[0]) for m in moves),
                ",".join(m[1].isoformat() for m in moves),
                ",".join(m[2].isoformat() if m[2] is not None else "" for m in moves),
            ),
        )
        return
    conn.exec_driver_sql(
        "UPDATE job SET next_run_at = ? WHERE id = ? AND next_run_at = ?",
        [
            (sqlite_timestamp(nxt) if nxt is not None else None, job_id, sqlite_timestamp(slot))
            for job_id, slot, nxt in moves
        ],
    )


def stale_running(session: Session, *, older_than: timedelta, now: datetime) -> list[Run]:
    """Running runs of any job whose worker died: heartbeat too old, or its process is gone (same host)."""
    limit = now - older_than
    last_sign = func.coalesce(Run.heartbeat_at, Run.started_at, Run.created_at)
    running = list(session.scalars(select(Run).where(Run.status == "running").order_by(Run.id)))
    old = set(session.scalars(select(Run.id).where(Run.status == "running", last_sign < limit)))
    return [r for r in running if r.id in old or worker_is_gone(r.worker)]


def lost_queued(session: Session, *, older_than: timedelta, now: datetime) -> list[Run]:
    """Queued runs not handed to an executor for ``older_than`` whose job has nothing running.

    A queued run's ``heartbeat_at`` is when it was last handed over (None: at its creation).
    """
    other = aliased(Run)
    blocked = exists().where(other.job_id == Run.job_id, other.status == "running")
    last = func.coalesce(Run.heartbeat_at, Run.created_at)
    stmt = select(Run).where(Run.status == "queued", last < now - older_than, ~blocked).order_by(Run.id)
    return list(session.scalars(stmt))


def queued_runs(session: Session) -> list[Run]:
    return list(session.scalars(select(Run).where(Run.status == "queued").order_by(Run.id)))


def mark_handed_over(session: Session, run_ids: Sequence[str], now: datetime) -> None:
    if run_ids:
        session.execute(
            update(Run).where(Run.id.in_(list(run_ids)), Run.status == "queued").values(heartbeat_at=now)
        )


# The SQLite lease ---------------------------------------------------------------------------


def hold_lease(session: Session, name: str, holder: str, *, ttl: timedelta, now: datetime) -> bool:
    """Take or renew the lease ``name`` for ``holder`` unless someone else holds an unexpired one."""
    lease = session.get(SchedulerLease, name, populate_existing=True)
    if lease is None:
        session.add(SchedulerLease(name=name, holder=holder, expires_at=now + ttl))
        session.flush()
        return True
    if lease.holder != holder and lease.expires_at > now:
        return False
    lease.holder = holder
    lease.expires_at = now + ttl
    return True


def release_lease(session: Session, name: str, holder: str) -> None:
    """Let the lease expire now (another scheduler takes over on its next tick)."""
    session.execute(
        update(SchedulerLease)
        .where(SchedulerLease.name == name, SchedulerLease.holder == holder)
        .values(expires_at=datetime(1970, 1, 1, tzinfo=UTC))
    )


# The PostgreSQL advisory lock -----------------------------------------------------------------
# These take a Connection, not a Session: the lock belongs to one database session, kept open (in
# autocommit mode) for as long as the scheduler leads.


def ping(conn: Connection) -> None:
    """Raise when the connection (and with it a session lock it holds) is gone."""
    conn.execute(text("SELECT 1"))


def _lock_key(conn: Connection, name: str) -> int:
    where = conn.execute(text("SELECT current_database() || '.' || current_schema()")).scalar_one()
    digest = hashlib.blake2b(f"crmhub scheduler {where} {name}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def try_advisory_lock(conn: Connection, name: str) -> bool:
    """Take the session advisory lock of scheduler ``name`` in this database and schema, if free."""
    key = _lock_key(conn, name)
    return bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one())


def advisory_unlock(conn: Connection, name: str) -> bool:
    """Give the lock back at once; closing the connection frees it only when the server notices."""
    key = _lock_key(conn, name)
    return bool(conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key}).scalar_one())
