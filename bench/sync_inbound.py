"""Benchmark: the sync engine against the Salesforce emulator running in another process.

For SQLite and PostgreSQL (each in a fresh process of its own, so peak RSS is per database):
1. a full inbound sync of N accounts (20 fields: text, two dates, a datetime, a currency, a number,
   a multi-picklist, a relationship field);
2. an incremental run after 1% of them changed in the emulator;
3. an outbound run after 1% of hub records changed (after a priming outbound run that sends all).

Prints one JSON object: records/s, seconds and peak RSS per step, and the incremental and outbound
runs' time as a share of the full run. Usage: ``python bench/sync_inbound.py [--records N] [--only …]``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).parent))

from _emulator import ACCOUNT_FIELDS, emulator_process
from _util import emit, peak_rss_mb

PG_URL = os.environ.get("CRMHUB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
FIELDS = ["Id", *ACCOUNT_FIELDS]  # the job maps Id too (to the account key)


def one_database(url: str, emulator_url: str, records: int) -> dict[str, object]:
    """Runs in its own process: the three steps on one database."""
    from crmhub.config import Settings
    from crmhub.emulators import salesforce as sf
    from crmhub.services.hub import HubService
    from crmhub.services.jobs import JobService
    from crmhub.store.database import Database
    from crmhub.store.records import Stamp
    from crmhub.store.schema import AttributeSpec
    from crmhub.sync.spec import JobSpec

    home = Path(tempfile.mkdtemp(prefix="crmhub-bench-"))
    settings = Settings(home=home, database_url=url)
    hub = HubService(Database(url), settings=settings)
    hub.init()
    jobs = JobService(hub)
    jobs.connections.add(
        "sf",
        "salesforce",
        {"login_url": emulator_url, "username": sf.DEFAULT_USERNAME},
        sf.default_credentials(),
    )
    draft = JobSpec.model_validate(
        {
            "name": "accounts",
            "direction": "inbound",
            "connection": "sf",
            "remote_object": "Account",
            "object_type": "account",
            "fields": FIELDS,
            "settings": {"full_sync_every": None},
        }
    )
    jobs.create(draft.model_copy(update={"mapping": [p.row for p in jobs.automap(draft)]}))
    out: dict[str, object] = {}

    def step(name: str, job: str, **kw: object) -> float:
        started = time.perf_counter()
        _, outcome = jobs.run(job, **kw)  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        if outcome.status != "succeeded":
            raise RuntimeError(f"{name}: {outcome.status}: {outcome.message}")
        counts = outcome.counts.as_dict()
        moved = counts["read"]
        out[name] = {
            "records": moved,
            "seconds": round(seconds, 2),
            "records_per_s": round(moved / seconds),
            "counts": {k: v for k, v in counts.items() if v},
            "peak_rss_mb": peak_rss_mb(),
        }
        return seconds

    full = step("full_inbound", "accounts")
    httpx.post(f"{emulator_url}/__emulator/records/Account/touch", json={"fraction": 0.01}, timeout=60)
    incremental = step("incremental_after_1pct_changed", "accounts")

    hub.add_attribute("account", AttributeSpec("tier", "text", category="segment"))
    jobs.create(
        JobSpec.model_validate(
            {
                "name": "tier-out",
                "direction": "outbound",
                "connection": "sf",
                "remote_object": "Account",
                "object_type": "account",
                "mapping": [{"source": "tier", "target": "Description"}],
                "settings": {"create_records": False},
            }
        )
    )
    rnd = random.Random(5)
    changed: list[str] = []

    def tiers():  # type: ignore[no-untyped-def]  # streamed: the bench must not hold a million rows itself
        for record in _all(hub):
            if rnd.random() < 0.01:
                changed.append(record.hub_id)
            yield {"hub_id": record.hub_id, "tier": rnd.choice(["A", "B", "C"])}

    # In calls of 50,000 rows: an upsert returns one result per row, and the bench must not hold a
    # million of them (its peak RSS is meant to be the runs').
    rows = tiers()
    while chunk := list(itertools.islice(rows, 50_000)):
        hub.upsert("account", chunk, match="hub_id", stamp=Stamp(job="bench"))
    # An outbound run re-examines what was written up to 5 s before the previous run started (writes
    # still committing then); the setup's writes age past that, as real edits would have.
    time.sleep(6)
    step("outbound_priming_all", "tier-out")
    time.sleep(6)
    hub.upsert(
        "account", ({"hub_id": h, "tier": "Z"} for h in changed), match="hub_id", stamp=Stamp(job="bench")
    )
    outbound = step("outbound_after_1pct_changed", "tier-out")
    out["incremental_share_of_full"] = round(incremental / full, 4)
    out["outbound_share_of_full"] = round(outbound / full, 4)
    out["peak_rss_mb"] = peak_rss_mb()
    hub.close()
    return out


def _all(hub):  # type: ignore[no-untyped-def]
    after = None
    while batch := hub.list_records("account", limit=5000, after=after):
        yield from batch
        after = batch[-1].hub_id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--child", nargs=2, metavar=("DATABASE_URL", "EMULATOR_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.stdout.write(orjson.dumps(one_database(args.child[0], args.child[1], args.records)).decode())
        return
    report: dict[str, object] = {"benchmark": "sync_inbound", "records": args.records, "fields": len(FIELDS)}
    targets = []
    tmp = tempfile.mkdtemp(prefix="crmhub-bench-db-")
    if args.only in (None, "sqlite"):
        targets.append(("sqlite", f"sqlite:///{tmp}/hub.db", None))
    if args.only in (None, "postgresql"):
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        targets.append(("postgresql", f"{PG_URL}?options=-csearch_path%3D{schema}", schema))
    for name, url, schema in targets:
        if schema:
            import psycopg

            dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
            try:
                with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f"CREATE SCHEMA {schema}")
            except psycopg.Error as exc:
                report[name] = {"skipped": f"PostgreSQL unreachable: {exc}"}
                continue
        # A fresh emulator (its own process) per database, so one's writes do not show in the other's reads.
        try:
            with emulator_process(
                "salesforce", "--accounts", str(args.records), "--contacts", "0"
            ) as emulator_url:
                proc = subprocess.run(
                    [sys.executable, __file__, "--records", str(args.records), "--child", url, emulator_url],
                    capture_output=True,
                    text=True,
                    check=False,
                )
            if proc.returncode != 0:
                report[name] = {"error": proc.stderr.strip().splitlines()[-3:]}
            else:
                report[name] = orjson.loads(proc.stdout)
        finally:
            if schema:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA {schema} CASCADE")
    report["reference"] = {
        "dlt_merge_into_postgresql_records_per_s": 8000,
        "dlt_into_duckdb_records_per_s": 14000,
    }
    emit(report)


if __name__ == "__main__":
    main()
