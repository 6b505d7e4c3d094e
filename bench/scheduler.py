"""Benchmark: the scheduler's tick over 10,000 enabled jobs with mixed cadences.

Each timed tick finds the due jobs, creates their queued runs (with idempotency keys and "created"
events), moves their ``next_run_at`` and hands the run ids to an executor that only records them —
on SQLite and on PostgreSQL (when reachable). Cases: nothing due; 1% due; a burst of half the jobs
(5,000) due at once, which the scheduler as served takes ``MAX_DUE`` (250) per tick, ticking again at
once while more are due (each tick and the whole drain timed); and, for comparison, the same burst
in one unbounded tick. Between rounds the runs are marked finished and the jobs made due again at
new slots. Target: a tick ≤ 50 ms.

Prints one JSON object. Usage: ``python bench/scheduler.py [--jobs N] [--ticks N] [--only sqlite|postgresql]``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from sqlalchemy import update

from _util import emit, peak_rss_mb
from crmhub.config import Settings
from crmhub.schedule import Scheduler, next_run, parse_schedule
from crmhub.schedule.scheduler import MAX_DUE
from crmhub.services.connections import ConnectionService
from crmhub.services.hub import HubService
from crmhub.store.database import Database
from crmhub.store.models import Job, Run

PG_URL = os.environ.get("CRMHUB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/Los_Angeles",
]


class Recorder:
    def __init__(self) -> None:
        self.submitted = 0

    def submit(self, run_id: str) -> None:
        self.submitted += 1


def random_schedule(rng: random.Random) -> dict[str, Any]:
    tz = rng.choice(ZONES)
    at = f"{rng.randrange(24):02d}:{rng.choice((0, 15, 30, 45)):02d}"
    kind = rng.choice(["every_minutes", "hourly", "daily", "workdays", "weekly", "monthly"])
    if kind == "every_minutes":
        return {"kind": kind, "minutes": rng.choice((5, 10, 15, 30, 60, 120)), "timezone": tz}
    if kind == "hourly":
        return {"kind": kind, "minute": rng.randrange(60), "timezone": tz}
    if kind == "weekly":
        days = rng.sample(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], rng.randint(1, 3))
        return {"kind": kind, "days": days, "at": at, "timezone": tz}
    if kind == "monthly":
        return {"kind": kind, "day": rng.choice((1, 15, 28, 31)), "at": at, "timezone": tz}
    return {"kind": kind, "at": at, "timezone": tz}


def make_jobs(hub: HubService, count: int, now: datetime) -> list[int]:
    """Insert ``count`` enabled CSV jobs directly through the store; returns the ids of the due half."""
    rng = random.Random(7)
    with hub.db.read() as session:
        from crmhub.store.connections import get_connection

        connection_id = get_connection(session, "files").id
    rows = []
    for i in range(count):
        schedule = parse_schedule(random_schedule(rng))
        spec = {
            "name": f"job-{i:05d}",
            "direction": "inbound",
            "connection": "files",
            "remote_object": "accounts",
            "object_type": "account",
            "mapping": [{"source": "id", "target": "account_id"}, {"source": "name", "target": "name"}],
            "settings": {"full_sync_every": "P1D"},
            "schedule": schedule.model_dump(mode="json"),
        }
        state: dict[str, Any] = {}
        if i % 3:
            state = {
                "cursor": {"modstamp": "2024-06-01T00:00:00.000Z", "ids_at": ["A1"]},
                "last_full_sync_at": (now - timedelta(hours=rng.randrange(1, 40))).isoformat(),
            }
        rows.append(
            {
                "name": spec["name"],
                "direction": "inbound",
                "connection_id": connection_id,
                "remote_object": "accounts",
                "object_type": "account",
                "version": 1,
                "spec": spec,
                "enabled": True,
                "state": state,
                "schedule": spec["schedule"],
                "next_run_at": next_run(schedule, now),
                "created_at": now,
                "updated_at": now,
            }
        )
    with hub.db.begin() as session:
        session.execute(Job.__table__.insert(), rows)
        ids = [row[0] for row in session.execute(Job.__table__.select().with_only_columns(Job.id))]
    return sorted(ids)[::2]


def make_due(hub: HubService, due_ids: list[int], now: datetime, round_no: int) -> None:
    """Finish the runs of the previous tick and make ``due_ids`` due again at a slot not used before."""
    slot = now - timedelta(minutes=1 + round_no)
    with hub.db.begin() as session:
        session.execute(update(Run).where(Run.status == "queued").values(status="succeeded"))
        session.execute(update(Job).where(Job.id.in_(due_ids)).values(next_run_at=slot))


def bench_tick(url: str, home: Path, jobs: int, ticks: int) -> dict[str, Any]:
    settings = Settings(home=home, database_url=url)
    hub = HubService(Database(url), settings=settings)
    hub.init()
    (home / "files").mkdir(parents=True, exist_ok=True)
    ConnectionService(hub).add("files", "csv", {"path": str(home / "files")}, {})
    now = datetime.now(UTC).replace(microsecond=0)
    start = time.perf_counter()
    due_ids = make_jobs(hub, jobs, now)
    setup_s = time.perf_counter() - start
    recorder = Recorder()
    scheduler = Scheduler(hub.db, recorder)  # as served: at most MAX_DUE due jobs per tick
    try:
        scheduler.tick(now=now)  # become the leader (its first tick also hands out queued runs)
        idle = [scheduler.tick(now=now).seconds for _ in range(ticks)]
        few_ids = due_ids[: jobs // 100]
        few = []
        for round_no in range(ticks):
            make_due(hub, few_ids, now, round_no)
            few.append(scheduler.tick(now=now).seconds)
        # A burst: half the jobs due at once. The scheduler takes MAX_DUE per tick and ticks again
        # at once while more are due (as its loop does); every tick and the whole drain are timed.
        burst_ticks: list[float] = []
        drains: list[float] = []
        drained = 0
        for round_no in range(ticks, 2 * ticks):
            make_due(hub, due_ids, now, round_no)
            started = time.perf_counter()
            while True:
                report = scheduler.tick(now=now)
                burst_ticks.append(report.seconds)
                drained += len(report.created)
                if report.due < MAX_DUE:
                    break
            drains.append(time.perf_counter() - started)
        scheduler.stop()  # hand the lead to a scheduler without a bound, for comparison
        unbounded = Scheduler(hub.db, recorder, max_due=None)
        whole: list[float] = []
        try:
            unbounded.tick(now=now)
            for round_no in range(2 * ticks, 3 * ticks):
                make_due(hub, due_ids, now, round_no)
                whole.append(unbounded.tick(now=now).seconds)
        finally:
            unbounded.stop()
    finally:
        scheduler.stop()
        hub.close()

    def ms(values: list[float]) -> dict[str, float]:
        return {
            "median_ms": round(statistics.median(values) * 1000, 1),
            "p95_ms": round(sorted(values)[int(0.95 * (len(values) - 1))] * 1000, 1),
            "max_ms": round(max(values) * 1000, 1),
        }

    return {
        "jobs": jobs,
        "setup_seconds": round(setup_s, 2),
        "tick_nothing_due": ms(idle),
        "tick_1pct_due": {"due": len(few_ids), **ms(few)},
        "tick_in_a_burst": {"due_at_once": len(due_ids), "max_due_per_tick": MAX_DUE, **ms(burst_ticks)},
        "burst_drain": {
            "due_at_once": len(due_ids),
            "runs_created": drained // ticks,
            "ticks": len(burst_ticks) // ticks,
            **ms(drains),
        },
        "burst_in_one_unbounded_tick": {"due_at_once": len(due_ids), **ms(whole)},
        "target_ms": 50,
        "within_target": max(statistics.median(few), statistics.median(burst_ticks)) <= 0.050,
        "handed_over": recorder.submitted,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--ticks", type=int, default=7)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    report: dict[str, Any] = {"benchmark": "scheduler", "jobs": args.jobs, "ticks": args.ticks}
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "sqlite"):
            report["sqlite"] = bench_tick(
                f"sqlite:///{tmp}/hub.db", Path(tmp) / "home-sqlite", args.jobs, args.ticks
            )
        if args.only in (None, "postgresql"):
            import psycopg

            schema = f"bench_{uuid.uuid4().hex[:8]}"
            dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
            try:
                with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f"CREATE SCHEMA {schema}")
            except psycopg.Error as exc:
                report["postgresql"] = {"skipped": f"PostgreSQL unreachable: {exc}"}
            else:
                try:
                    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
                    report["postgresql"] = bench_tick(url, Path(tmp) / "home-pg", args.jobs, args.ticks)
                finally:
                    with psycopg.connect(dsn, autocommit=True) as conn:
                        conn.execute(f"DROP SCHEMA {schema} CASCADE")
    report["peak_rss_mb"] = peak_rss_mb()
    emit(report)


if __name__ == "__main__":
    main()
