"""API throughput: ``GET /api/v1/jobs`` (a page of 50 with last runs) and the run-progress stream.

Seeds a SQLite hub (a CSV connection, 200 jobs, 4,000 finished runs), starts ``crmhub serve`` in a
subprocess, and drives each endpoint from a second process: an asyncio loop of httpx clients on
keep-alive connections, bounded in time and count. Reports requests/s and latency percentiles per
endpoint and number of clients in flight as one JSON object.
Usage: ``python bench/api.py [--seconds 5] [--concurrency 1 16]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).parent))
from _util import emit

JOBS = 200
RUNS_PER_JOB = 20


def seed(home: Path) -> tuple[str, str]:
    """A hub with jobs and finished runs; returns (admin token, a finished run id)."""
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
    from crmhub.sync.spec import JobSpec

    settings = Settings(home=home, database_url=None)
    hub = HubService(Database(settings.resolved_database_url), settings=settings)
    hub.init()
    files = home / "files"
    files.mkdir(exist_ok=True)  # crmhub init makes it (the default file root)
    (files / "accounts.csv").write_text(
        "id,name,employees\n" + "".join(f"A{i},Company {i},{i}\n" for i in range(500)), encoding="utf-8"
    )
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
    jobs.create(JobSpec.model_validate({**spec, "name": "job-0000"}))
    run, _ = jobs.run("job-0000")
    now = utcnow()
    job_ids = [
        jobs.create(JobSpec.model_validate({**spec, "name": f"job-{n:04d}"})).id for n in range(1, JOBS)
    ]
    with hub.db.begin() as session:
        for job_id in job_ids:
            for k in range(RUNS_PER_JOB):
                r = run_repo.create_run(
                    session,
                    job_id=job_id,
                    job_version=1,
                    trigger="schedule",
                    mode="incremental",
                    status="succeeded",
                )
                r.counts = {"read": 500, "unchanged": 500}
                r.progress_done, r.progress_total = 500, 500
                r.started_at = now - timedelta(minutes=k + 1)
                r.finished_at = r.started_at + timedelta(seconds=3)
    UserService(hub).create("bench@example.com", role="admin")
    token = TokenService(hub).create_personal("bench@example.com", "bench").text
    hub.close()
    return token, run.id


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _load(url: str, token: str, seconds: float, concurrency: int, max_requests: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:
        for _ in range(concurrency):  # warm the connections up
            await client.get(url)
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline and len(latencies) < max_requests:
                start = time.perf_counter()
                response = await client.get(url)
                await response.aread()
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()

    def pct(p: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2)

    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": round(1000 * statistics.fmean(latencies), 2),
        "errors": errors,
        "concurrency": concurrency,
    }


def load_main(argv: list[str]) -> None:
    url, token, seconds, concurrency, max_requests = argv
    result = asyncio.run(_load(url, token, float(seconds), int(concurrency), int(max_requests)))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 16], help="Clients in flight (one series each)."
    )
    parser.add_argument("--max-requests", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crmhub-bench-api-") as tmp:
        home = Path(tmp) / "home"
        t0 = time.perf_counter()
        token, run_id = seed(home)
        seeded = time.perf_counter() - t0
        port = free_port()
        env = {**os.environ, "CRMHUB_HOME": str(home)}
        env.pop("CRMHUB_DATABASE_URL", None)
        log = Path(tmp) / "serve.log"
        with log.open("wb") as sink:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "crmhub.cli.main",
                    "serve",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}/api/v1"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{base}/health", timeout=1)
                    break
                except httpx.TransportError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"crmhub serve did not start:\n{log.read_text()}") from None
                    time.sleep(0.2)
            endpoints = {
                "jobs_page_of_50": f"{base}/jobs?limit=50",
                "run_progress_sse": f"{base}/runs/{run_id}/progress",
                "run_get": f"{base}/runs/{run_id}",
            }
            page = httpx.get(
                endpoints["jobs_page_of_50"], headers={"Authorization": f"Bearer {token}"}
            ).json()
            assert len(page["items"]) == 50 and page["items"][0]["last_run"] is not None
            results: dict[str, Any] = {}
            for name, url in endpoints.items():
                results[name] = {}
                for concurrency in args.concurrency:
                    proc = subprocess.run(
                        [
                            sys.executable,
                            __file__,
                            "--load",
                            url,
                            token,
                            str(args.seconds),
                            str(concurrency),
                            str(args.max_requests),
                        ],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    results[name][f"clients_{concurrency}"] = orjson.loads(proc.stdout)
        finally:
            server.terminate()
            server.wait(20)
    emit(
        {
            "setup": {
                "database": "sqlite",
                "jobs": JOBS,
                "runs": (JOBS - 1) * RUNS_PER_JOB + 1,
                "seed_seconds": round(seeded, 1),
                "server": "crmhub serve (uvicorn, 1 process)",
                "load": "httpx.AsyncClient in a separate process, keep-alive",
            },
            **results,
        }
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--load":
        load_main(sys.argv[2:])
    else:
        main()
