"""API throughput under load from ``wrk``: req/s, p50/p99 and server CPU per request.

Seeds a hub (a CSV connection, 200 jobs, 3,981 finished runs, 20,000 account records) on SQLite
and on PostgreSQL, starts ``crmhub serve`` in a subprocess for each, and drives it with Debian's
``wrk`` (a C load generator: it costs little CPU beside the server's) on keep-alive connections:

- ``jobs_page_of_50``: ``GET /jobs?limit=50`` (each job with its newest run);
- ``records_page_of_50``: ``GET /hub/object-types/account/records?limit=50``;
- ``run_progress_sse``: a finished run's progress stream (its last state, then the end event);
- ``login``: ``POST /auth/login`` with the right password (argon2id: bounded by the hash);
- ``jobs_during_login_flood``: the jobs page at 16 clients while 8 other clients send wrong
  passwords to ``/auth/login`` as fast as they are answered, beside the same page without them.

Each series is run at 1, 16 and 64 clients. ``cpu_ms_per_request`` is the server processes' user
and system CPU time over the series divided by its requests: on a shared, noisy machine it moves
less than the rate does. The target (issue 12): the jobs page ≥ 1,000 req/s with p99 ≤ 50 ms at 16
clients, and ≥ 50 % of that while the login flood runs.

Usage: ``python bench/api.py [--seconds 5] [--clients 1 16 64] [--databases sqlite postgresql]
[--processes 1]``. Needs ``wrk`` (``apt-get install wrk``); PostgreSQL is skipped with the reason
when it cannot be reached (``CRMHUB_BENCH_POSTGRES_URL``, default the local server's ``postgres``
database, where a database ``crmhub_bench_api`` is made afresh).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
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
RECORDS = 20_000
PASSWORD = "bench password 1"
EMAIL = "bench@example.com"
FLOOD_EMAIL = "victim@example.com"
PG_ADMIN_URL = os.environ.get(
    "CRMHUB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PG_DATABASE = "crmhub_bench_api"


def seed(home: Path, database_url: str | None) -> tuple[str, str]:
    """A hub with jobs, finished runs and records; returns (admin token, a finished run id)."""
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

    settings = Settings(home=home, database_url=database_url)
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
    hub.upsert(
        "account",
        ({"account_id": f"B{i:06d}", "name": f"Bench {i}", "employees": i % 5000} for i in range(RECORDS)),
        stamp=Stamp(job="bench", run="seed"),
    )
    users = UserService(hub)
    users.create(EMAIL, password=PASSWORD, role="admin")
    users.create(FLOOD_EMAIL, password=PASSWORD, role="viewer")
    token = TokenService(hub).create_personal(EMAIL, "bench").text
    hub.close()
    return token, run.id


def postgres_url() -> tuple[str | None, str]:
    """A fresh benchmark database on the local PostgreSQL server, or None and why not."""
    try:
        import psycopg

        dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_DATABASE}")
    except Exception as exc:  # any reason PostgreSQL is not usable here is reported, not raised
        return None, f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}"
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + PG_DATABASE, ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its descendants (the API's worker processes)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        pending.extend(int(c) for c in children)
    return total


_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"socket_errors\\":%d,\\"non_2xx\\":%d," ..
    "\\"p50_us\\":%d,\\"p99_us\\":%d,\\"mean_us\\":%.1f}\\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


def lua_script(folder: Path, name: str, *, token: str | None, body: dict[str, str] | None) -> Path:
    lines = []
    if token:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {token}"')
    if body is not None:
        lines.append('wrk.method = "POST"')
        lines.append('wrk.headers["Content-Type"] = "application/json"')
        lines.append(f"wrk.body = [[{orjson.dumps(body).decode()}]]")
    path = folder / f"{name}.lua"
    path.write_text("\n".join(lines) + "\n" + _REPORT, encoding="utf-8")
    return path


def start_wrk(url: str, script: Path, clients: int, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(script), url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wrk_result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=600)
    match = re.search(r"WRKJSON (\{.*\})", out)
    if match is None:
        raise SystemExit(f"wrk gave no result:\n{out}")
    raw = orjson.loads(match.group(1))
    seconds = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "requests_per_s": round(raw["requests"] / seconds, 1),
        # Answers other than 2xx (a login refused with 401/429/503) are requests too; these are not.
        "ok_per_s": round((raw["requests"] - raw["non_2xx"]) / seconds, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "mean_ms": round(raw["mean_us"] / 1000, 2),
        "non_2xx": raw["non_2xx"],
        "socket_errors": raw["socket_errors"],
    }


def series(server_pid: int, url: str, script: Path, clients: int, seconds: float) -> dict[str, Any]:
    before = cpu_seconds(server_pid)
    result = wrk_result(start_wrk(url, script, clients, seconds))
    used = cpu_seconds(server_pid) - before
    result["cpu_ms_per_request"] = round(1000 * used / max(1, result["requests"]), 3)
    result["clients"] = clients
    return result


def bench_database(
    label: str, database_url: str | None, args: argparse.Namespace, tmp: Path
) -> dict[str, Any]:
    home = tmp / label
    t0 = time.perf_counter()
    token, run_id = seed(home, database_url)
    seeded = time.perf_counter() - t0
    port = free_port()
    env = {**os.environ, "CRMHUB_HOME": str(home)}
    env.pop("CRMHUB_DATABASE_URL", None)
    if database_url:
        env["CRMHUB_DATABASE_URL"] = database_url
    log = tmp / f"serve-{label}.log"
    command = [
        sys.executable,
        "-m",
        "crmhub.cli.main",
        "serve",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    if args.processes > 1:
        command += ["--processes", str(args.processes)]
    with log.open("wb") as sink:
        server = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/api/v1"
    results: dict[str, Any] = {
        "setup": {
            "database": label,
            "jobs": JOBS,
            "runs": (JOBS - 1) * RUNS_PER_JOB + 1,
            "records": RECORDS,
            "seed_seconds": round(seeded, 1),
            "server": f"crmhub serve, {args.processes} process(es)",
        }
    }
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"crmhub serve did not start:\n{log.read_text()}") from None
                time.sleep(0.2)
        auth = {"Authorization": f"Bearer {token}"}
        page = httpx.get(f"{base}/jobs?limit=50", headers=auth).json()
        assert len(page["items"]) == 50 and page["items"][0]["last_run"] is not None, page
        records = httpx.get(f"{base}/hub/object-types/account/records?limit=50", headers=auth).json()
        assert len(records["items"]) == 50, records
        scripts = tmp / f"lua-{label}"
        scripts.mkdir()
        reader = lua_script(scripts, "reader", token=token, body=None)
        login = lua_script(scripts, "login", token=None, body={"email": EMAIL, "password": PASSWORD})
        flood = lua_script(
            scripts, "flood", token=None, body={"email": FLOOD_EMAIL, "password": "wrong " * 3}
        )
        endpoints = {
            "jobs_page_of_50": (f"{base}/jobs?limit=50", reader),
            "records_page_of_50": (f"{base}/hub/object-types/account/records?limit=50", reader),
            "run_progress_sse": (f"{base}/runs/{run_id}/progress", reader),
            "login": (f"{base}/auth/login", login),
        }
        for name, (url, script) in endpoints.items():
            if args.endpoints and name not in args.endpoints:
                continue
            results[name] = {
                f"clients_{n}": series(server.pid, url, script, n, args.seconds) for n in args.clients
            }
        if args.endpoints and "jobs_during_login_flood" not in args.endpoints:
            return results
        # The jobs page at 16 clients, alone and beside 8 clients flooding the login with wrong passwords
        # (after the logins queued by the series above are done: they would still be hashing).
        time.sleep(5)
        alone = series(server.pid, f"{base}/jobs?limit=50", reader, 16, args.seconds)
        flooder = start_wrk(f"{base}/auth/login", flood, 8, args.seconds + 2)
        time.sleep(1)
        during = series(server.pid, f"{base}/jobs?limit=50", reader, 16, args.seconds)
        flooded = wrk_result(flooder)
        results["jobs_during_login_flood"] = {
            "alone": alone,
            "during_flood": during,
            "flood": flooded,
            "kept_percent": round(100 * during["requests_per_s"] / alone["requests_per_s"], 1),
        }
    finally:
        server.terminate()
        server.wait(30)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument(
        "--databases", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="API server processes (crmhub serve --processes)."
    )
    parser.add_argument(
        "--endpoints",
        nargs="+",
        choices=[
            "jobs_page_of_50",
            "records_page_of_50",
            "run_progress_sse",
            "login",
            "jobs_during_login_flood",
        ],
        help="Only these series (default: all).",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/api.py needs wrk: apt-get install -y wrk")
    report: dict[str, Any] = {"load": "wrk -t1 (one thread), keep-alive, from another process"}
    with tempfile.TemporaryDirectory(prefix="crmhub-bench-api-") as name:
        tmp = Path(name)
        for label in args.databases:
            if label == "sqlite":
                report["sqlite"] = bench_database("sqlite", None, args, tmp)
            else:
                url, why = postgres_url()
                report["postgresql"] = (
                    {"skipped": why} if url is None else bench_database("postgresql", url, args, tmp)
                )
    emit(report)


if __name__ == "__main__":
    main()
