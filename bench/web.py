"""Web console: server-side render time of every list page and the record page on a big hub.

Seeds a SQLite hub with 1,000 jobs, 100,000 finished runs and 1,000,000 account records (the
records through the hub's bulk upsert, the runs in one transaction of plain inserts), then renders
each page in-process (Starlette's TestClient on the ASGI app: no network, so the time is the
server's plus a thin transport) and reports p50 / p95 / max milliseconds per page against the
100 ms p95 target. Usage: ``python bench/web.py [--jobs 1000] [--runs 100000] [--records 1000000]
[--requests 30]``; smaller sizes run in seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _util import emit, peak_rss_mb

TARGET_P95_MS = 100.0


def seed(home: Path, jobs_n: int, runs_n: int, records_n: int) -> dict[str, Any]:
    from datetime import timedelta

    from crmhub.config import Settings
    from crmhub.core.clock import utcnow
    from crmhub.services.connections import ConnectionService
    from crmhub.services.hub import HubService
    from crmhub.services.jobs import JobService
    from crmhub.services.tokens import TokenService
    from crmhub.services.users import UserService
    from crmhub.store import runs as run_repo
    from crmhub.store.database import Database
    from crmhub.store.records import Stamp
    from crmhub.sync.spec import JobSpec

    timings: dict[str, float] = {}
    settings = Settings(home=home, database_url=None)
    hub = HubService(Database(settings.resolved_database_url), settings=settings)
    hub.init()
    files = home / "files"
    files.mkdir(exist_ok=True)
    (files / "accounts.csv").write_text("id,name,employees\nA1,Acme,5\n", encoding="utf-8")
    ConnectionService(hub).add("files", "csv", {"path": str(files)}, {})
    jobs = JobService(hub)
    spec = {
        "direction": "inbound",
        "connection": "files",
        "remote_object": "accounts",
        "object_type": "account",
        "mapping": [
            {"source": "id", "target": "account_id"},
            {"source": "name", "target": "name"},
            {"source": "employees", "target": "employees"},
        ],
    }
    start = time.perf_counter()
    job_ids = [
        jobs.create(JobSpec.model_validate({**spec, "name": f"job-{n:04d}"})).id for n in range(jobs_n)
    ]
    timings["jobs_seconds"] = time.perf_counter() - start

    start = time.perf_counter()
    now = utcnow()
    per_job = max(1, runs_n // len(job_ids))
    statuses = ("succeeded", "succeeded", "succeeded", "succeeded_with_errors", "failed")
    with hub.db.begin() as session:
        made = 0
        for k in range(per_job):
            for job_id in job_ids:
                if made >= runs_n:
                    break
                r = run_repo.create_run(
                    session,
                    job_id=job_id,
                    job_version=1,
                    trigger="schedule" if made % 3 else "api",
                    mode="incremental",
                    status=statuses[made % len(statuses)],
                )
                r.counts = {"read": 500, "updated": 3, "unchanged": 497, "failed": made % 4}
                r.progress_done, r.progress_total = 500, 500
                r.started_at = now - timedelta(minutes=per_job - k)
                r.finished_at = r.started_at + timedelta(seconds=3)
                made += 1
            if made % 10_000 < len(job_ids):
                session.flush()
    timings["runs_seconds"] = time.perf_counter() - start

    start = time.perf_counter()
    chunk = 50_000
    for first in range(0, records_n, chunk):
        rows = [
            {
                "account_id": f"A{i:07d}",
                "name": f"Company {i}",
                "employees": i % 5000,
                "billing_country": "DE",
            }
            for i in range(first, min(records_n, first + chunk))
        ]
        hub.upsert("account", rows, stamp=Stamp(job=str(job_ids[0]), run="seed"))
    timings["records_seconds"] = time.perf_counter() - start
    timings["records_in_hub"] = hub.count_records("account")
    record = hub.list_records("account", limit=1)[0]
    UserService(hub).create("bench@example.com", role="admin")
    user = UserService(hub).get("bench@example.com")
    session_token = TokenService(hub).create_session(user.id).text
    last_run = jobs.list()[0][1]
    hub.close()
    return {
        "session": session_token,
        "hub_id": record.hub_id,
        "run_id": last_run.id if last_run else "",
        "job": f"job-{jobs_n // 2:04d}",
        "timings": {k: round(v, 1) for k, v in timings.items()},
    }


def measure(home: Path, seeded: dict[str, Any], requests: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from crmhub.api import create_app
    from crmhub.config import Settings
    from crmhub.services.hub import HubService
    from crmhub.store.database import Database

    settings = Settings(home=home, database_url=None)
    hub = HubService(Database(settings.resolved_database_url), settings=settings)
    pages = {
        "home": "/",
        "jobs": "/jobs",
        "jobs_page_2": None,  # the next link of /jobs
        "jobs_search": "/jobs?q=job-09",
        "job": f"/jobs/{seeded['job']}",
        "history": "/runs",
        "history_by_job": f"/runs?job={seeded['job']}",
        "history_failed": "/runs?status=failed",
        "history_by_trigger": "/runs?trigger=api",
        "run": f"/runs/{seeded['run_id']}",
        "connections": "/connections",
        "hub_records": "/hub/account",
        "hub_records_filtered": "/hub/account?filter=employees%20%3E%204990",
        "record": f"/hub/records/{seeded['hub_id']}",
        "audit": "/admin/audit",
        "users": "/admin/users",
    }
    out: dict[str, Any] = {}
    with TestClient(create_app(hub), cookies={"crmhub_session": seeded["session"]}) as client:
        first = client.get("/jobs").text
        marker = 'rel="next"'
        href = first[: first.index(marker)].rsplit('href="', 1)[1].split('"')[0] if marker in first else ""
        pages["jobs_page_2"] = "/jobs" + href.replace("&amp;", "&")
        for name, path in pages.items():
            assert path is not None
            times = []
            for n in range(requests + 3):
                start = time.perf_counter()
                answer = client.get(path)
                elapsed = (time.perf_counter() - start) * 1000
                assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
                if n >= 3:  # warm-up
                    times.append(elapsed)
            times.sort()
            p95 = times[max(0, int(len(times) * 0.95) - 1)]
            out[name] = {
                "path": path,
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(p95, 1),
                "max_ms": round(times[-1], 1),
                "within_target": p95 <= TARGET_P95_MS,
            }
    hub.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        seeded = seed(home, args.jobs, args.runs, args.records)
        pages = measure(home, seeded, args.requests)
    emit(
        {
            "benchmark": "web console pages, server-side render time (SQLite, in-process)",
            "jobs": args.jobs,
            "runs": args.runs,
            "records": args.records,
            "requests_per_page": args.requests,
            "target_p95_ms": TARGET_P95_MS,
            "all_within_target": all(p["within_target"] for p in pages.values()),
            "seed": seeded["timings"],
            "pages": pages,
            "peak_rss_mb": peak_rss_mb(),
        }
    )


if __name__ == "__main__":
    main()
