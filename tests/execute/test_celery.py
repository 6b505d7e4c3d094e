"""The Celery path for real: two `crmhub worker` processes on Redis and on RabbitMQ, a PostgreSQL hub.

One test per broker walks the scenarios in order (the workers start once per broker):
runs of different jobs proceed in parallel; two requests for one job never run together; a running
run is cancelled at a batch boundary; a worker killed with SIGKILL mid-run leads to a completed run
whose hub state equals an uninterrupted run's.

Brokers: ``CRMHUB_TEST_REDIS_URL`` (default redis://127.0.0.1:6379/15) and ``CRMHUB_TEST_AMQP_URL``
(default amqp://guest:guest@127.0.0.1:5672//); each test run uses its own queue, deleted afterwards.
With ``CI=true`` an unreachable broker or PostgreSQL fails the test; elsewhere it is skipped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from crmhub.core.clock import utcnow
from crmhub.core.errors import ConfigError
from crmhub.emulators import salesforce as sf
from crmhub.emulators._common.faults import FaultConfig
from crmhub.emulators.serve import serve_in_thread
from crmhub.execute.settings import ExecutionSettings
from crmhub.schedule import Scheduler
from crmhub.services.hub import HubService
from crmhub.services.jobs import JobService
from crmhub.store.jobs import get_job
from crmhub.store.models import Link, Record

from .conftest import (
    add_sf_connection,
    drop_queue,
    event_kinds,
    get_run,
    hub_state,
    open_hub,
    sf_job,
    wait_final,
    wait_for,
)

pytestmark = pytest.mark.slow

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POSTGRES_URL = os.environ.get("CRMHUB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BROKERS = {
    "redis": os.environ.get("CRMHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
    "rabbitmq": os.environ.get("CRMHUB_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"),
}
ACCOUNTS = 3000
HEARTBEAT_S = 0.5
STALE_AFTER_S = 4.0


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for this module (the workers are separate processes on it)."""
    import psycopg

    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.Error as exc:
        unavailable(f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}")
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[sf.SalesforceEmulator, str]]:
    emu = sf.SalesforceEmulator(accounts=ACCOUNTS, contacts=1500, seed=3)
    with serve_in_thread(emu.app) as base_url:
        yield emu, base_url


class Workers:
    """`crmhub worker` processes, each in its own process group so a SIGKILL takes all of it."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int) -> None:
        for _ in range(count):
            log = self.logs / f"worker-{len(self.procs)}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "crmhub.cli.main",
                        "worker",
                        "-c",
                        "1",
                        "-P",
                        "threads",
                        "-l",
                        "info",
                    ],
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.procs.append(proc)
        for i, proc in enumerate(self.procs):
            log = self.logs / f"worker-{i}.log"
            wait_for(
                lambda p=proc, f=log: p.poll() is not None or b" ready." in f.read_bytes(),
                timeout=60,
                what=f"worker {i} to be ready",
                every=0.1,
            )
            assert proc.poll() is None, f"worker {i} exited: {log.read_text(errors='replace')[-2000:]}"

    def kill(self, pid: int) -> None:
        """SIGKILL the worker whose process runs ``pid`` (its whole process group)."""
        (proc,) = [p for p in self.procs if p.pid == pid]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)

    def output(self) -> str:
        return "\n".join(
            f"--- worker {i} ---\n{(self.logs / f'worker-{i}.log').read_text(errors='replace')[-3000:]}"
            for i in range(len(self.procs))
        )


@pytest.fixture(params=list(BROKERS), ids=lambda b: f"broker={b}")
def celery_hub(
    request: pytest.FixtureRequest, pg_url: str, emulator: tuple[sf.SalesforceEmulator, str], tmp_path: Path
) -> Iterator[dict[str, Any]]:
    """A PostgreSQL hub, a broker queue of its own and two worker processes on them."""
    from crmhub.execute.celery_app import CeleryExecutor, check_broker

    broker = BROKERS[request.param]
    settings = ExecutionSettings(
        broker_url=SecretStr(broker), celery_queue=f"crmhub-test-{uuid.uuid4().hex[:10]}"
    )
    try:
        check_broker(settings, timeout=3)
    except ConfigError as exc:
        unavailable(str(exc))
    home = tmp_path / "home"
    hub = open_hub(pg_url, home)
    with hub.db.begin() as session:  # each broker's scenarios start from an empty hub
        session.query(Link).delete()
        session.query(Record).delete()
    jobs = JobService(hub)
    connection = f"sf-{request.param}"
    add_sf_connection(jobs, emulator[1], connection)
    env = {
        **os.environ,
        "CRMHUB_HOME": str(home),
        "CRMHUB_DATABASE_URL": pg_url,
        "CRMHUB_BROKER_URL": broker,
        "CRMHUB_CELERY_QUEUE": settings.celery_queue,
        "CRMHUB_HEARTBEAT_SECONDS": str(HEARTBEAT_S),
        "CRMHUB_STALE_AFTER_SECONDS": str(STALE_AFTER_S),
    }
    workers = Workers(env, tmp_path)
    executor = CeleryExecutor(settings)
    try:
        workers.start(2)
        yield {
            "hub": hub,
            "jobs": jobs,
            "executor": executor,
            "workers": workers,
            "emulator": emulator[0],
            "connection": connection,
            "base_url": emulator[1],
            "settings": settings,
            "broker": request.param,
        }
    finally:
        workers.stop()
        executor.stop()
        drop_queue(broker, settings.celery_queue)
        hub.close()


def test_given_two_celery_workers_when_runs_are_submitted_then_jobs_run_in_parallel_one_run_per_job_and_a_killed_worker_is_survived(
    celery_hub: dict[str, Any], tmp_path: Path
) -> None:
    hub: HubService = celery_hub["hub"]
    jobs: JobService = celery_hub["jobs"]
    executor = celery_hub["executor"]
    workers: Workers = celery_hub["workers"]
    emulator: sf.SalesforceEmulator = celery_hub["emulator"]
    connection = celery_hub["connection"]
    suffix = celery_hub["broker"]  # both brokers' scenarios share the module's schema

    def name(job: str) -> str:
        return f"{job}-{suffix}"

    try:
        emulator.set_faults(FaultConfig(slow_rate=1.0, slow_seconds=0.1))

        # Given two jobs, when both are submitted, then they run at the same time on different workers.
        jobs.create(sf_job(name("par-accounts"), connection=connection))
        jobs.create(sf_job(name("par-contacts"), "Contact", connection=connection))
        a = jobs.submit(name("par-accounts"), executor=executor)
        c = jobs.submit(name("par-contacts"), executor=executor)
        a, c = wait_final(hub, a.id, timeout=120), wait_final(hub, c.id, timeout=120)
        assert a.status == c.status == "succeeded", (a.message, c.message)
        assert a.started_at < c.finished_at and c.started_at < a.finished_at, "the runs did not overlap"
        assert a.worker != c.worker

        # Given one job, when it is requested twice, then the second run starts after the first ended.
        jobs.create(sf_job(name("seq-accounts"), connection=connection))
        first = jobs.submit(name("seq-accounts"), executor=executor, queue=True)
        second = jobs.submit(name("seq-accounts"), executor=executor, queue=True)
        first, second = wait_final(hub, first.id, timeout=120), wait_final(hub, second.id, timeout=120)
        assert first.status == second.status == "succeeded", (first.message, second.message)
        earlier, later = sorted([first, second], key=lambda r: r.started_at)
        assert earlier.finished_at <= later.started_at, "two runs of one job overlapped"

        # Given a running run, when cancelled, then it stops at the next batch boundary and says so.
        jobs.create(sf_job(name("cancel-accounts"), connection=connection))
        run = jobs.submit(name("cancel-accounts"), executor=executor)
        wait_for(lambda: get_run(hub, run.id).progress_done > 0, timeout=60, what="the first batch")
        jobs.cancel(run.id)
        cancelled = wait_final(hub, run.id)
        assert cancelled.status == "cancelled" and "batch boundary" in cancelled.message

        # Given a scheduled run mid-way, when its worker is killed with SIGKILL, then the run resumes
        # on the other worker and the hub ends up as after an uninterrupted run.
        with hub.db.begin() as session:
            session.query(Link).delete()
            session.query(Record).delete()
        emulator.set_faults(FaultConfig(slow_rate=1.0, slow_seconds=0.15))
        jobs.create(
            sf_job(name("kill-accounts"), connection=connection, schedule={"kind": "hourly", "minute": 0}),
            enabled=True,
        )
        with hub.db.begin() as session:
            get_job(session, name("kill-accounts")).next_run_at = utcnow() - timedelta(seconds=1)
        scheduler = Scheduler(
            hub.db,
            executor,
            interval=0.3,
            stale_after=timedelta(seconds=STALE_AFTER_S),
            requeue_after=timedelta(seconds=10),
        )
        scheduler.start()
        try:

            def mid_way() -> Any:
                with hub.db.read() as session:
                    job = get_job(session, name("kill-accounts"))
                    from crmhub.store import runs as run_repo

                    runs = run_repo.list_runs(session, job_id=job.id, limit=1)
                return runs and runs[0].progress_done >= 600 and runs[0]

            victim = wait_for(mid_way, timeout=90, what="the scheduled run to pass 600 records")
            assert victim.trigger == "schedule" and victim.worker is not None
            workers.kill(int(victim.worker.rsplit(":", 1)[1]))
            emulator.clear_faults()
            partial = len(hub_state(hub)[0])
            assert 600 <= partial < ACCOUNTS
            done = wait_final(hub, victim.id, timeout=120)
        finally:
            scheduler.stop()
        assert done.status == "succeeded", done.message
        assert done.worker != victim.worker
        kinds = event_kinds(hub, victim.id)
        assert "requeued" in kinds or "resumed" in kinds, kinds
        assert done.counts["read"] <= ACCOUNTS + 400, "the run started over instead of resuming"
        resumed_records, resumed_links = hub_state(hub)

        clean = open_hub(f"sqlite:///{tmp_path / 'clean.db'}", tmp_path / "clean")
        try:
            clean_jobs = JobService(clean)
            add_sf_connection(clean_jobs, celery_hub["base_url"], connection)
            clean_jobs.create(sf_job(name("kill-accounts"), connection=connection))
            _, outcome = clean_jobs.run(name("kill-accounts"))
            assert outcome.counts.created == ACCOUNTS
            clean_records, clean_links = hub_state(clean)
        finally:
            clean.close()
        assert resumed_records == clean_records
        assert resumed_links == clean_links == ACCOUNTS
    except AssertionError:
        print(workers.output())
        raise
    finally:
        emulator.clear_faults()
