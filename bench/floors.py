"""Benchmark: the floors under the sync and upsert targets — work no implementation can skip.

1. ``sqlite_inbound``: a full inbound read of N accounts from the Salesforce emulator (another
   process), where each page gets only what a sync must do to it, in plain code on one core:
   parse the body, serialize each record's values (snapshot line and hash input), hash them,
   gzip the page, insert the hub records and their links into crmhub's own SQLite schema (its
   indexes and foreign keys), commit. No mapping, no identity look-ups, no bookkeeping. Reported:
   µs per record for each step, the emulator's CPU per record it served, and the ceilings those
   give on this machine's two cores.
2. ``postgresql_record_copy``: COPY 100,000 finished hub rows (JSONB values and stamps) straight
   into crmhub's ``record`` table, measuring the server backend's CPU, against the raw baseline of
   ``hub_upsert.py`` (COPY into a staging table + INSERT … ON CONFLICT into a plain typed table).

Prints one JSON object. Usage: ``python bench/floors.py [--records N] [--only sqlite|postgresql]``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import sqlite3
import sys
import tempfile
import time
import uuid
import zlib
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).parent))

from _emulator import ACCOUNT_FIELDS, emulator_process
from _util import emit, peak_rss_mb

PG_URL = os.environ.get("CRMHUB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
STEPS = ("parse", "serialize", "hash", "gzip", "insert_record", "insert_link", "commit")


def _hub(url: str, home: Path):  # type: ignore[no-untyped-def]
    from crmhub.config import Settings
    from crmhub.services.hub import HubService
    from crmhub.store.database import Database

    hub = HubService(Database(url), settings=Settings(home=home, database_url=url))
    hub.init()
    return hub


def _emulator_token(url: str) -> tuple[str, str]:
    from crmhub.emulators import salesforce as sf

    answer = httpx.post(
        f"{url}/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": sf.DEFAULT_CLIENT_ID,
            "client_secret": sf.DEFAULT_CLIENT_SECRET,
            "username": sf.DEFAULT_USERNAME,
            "password": sf.DEFAULT_PASSWORD + sf.DEFAULT_SECURITY_TOKEN,
        },
        timeout=30,
    ).json()
    return answer["instance_url"], answer["access_token"]


def sqlite_inbound(records: int) -> dict[str, object]:
    home = Path(tempfile.mkdtemp(prefix="crmhub-floor-"))
    hub = _hub(f"sqlite:///{home}/hub.db", home)
    hub.close()
    con = sqlite3.connect(home / "hub.db", isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):  # as crmhub opens it
        con.execute(f"PRAGMA {pragma}")
    con.execute(
        "INSERT INTO connection (name, kind, settings, status, status_message, created_at, updated_at) "
        "VALUES ('sf', 'salesforce', '{}', 'ok', '', '2026-01-01', '2026-01-01')"
    )
    connection_id = con.execute("SELECT id FROM connection").fetchone()[0]
    type_id = con.execute("SELECT id FROM object_type WHERE name = 'account'").fetchone()[0]
    spent = dict.fromkeys(STEPS, 0.0)
    stamp = orjson.dumps({"_": [None, "1", "run"]}).decode()
    now = "2026-01-01 00:00:00.000000"
    salt = b"floor-salt"
    soql = (
        "SELECT Id, SystemModstamp, "
        + ", ".join(ACCOUNT_FIELDS)
        + " FROM Account ORDER BY SystemModstamp, Id"
    )
    read = 0
    with emulator_process("salesforce", "--accounts", str(records), "--contacts", "0") as url:
        emulator = next(p for p in psutil.Process().children() if "emulate" in " ".join(p.cmdline()))
        instance, token = _emulator_token(url)
        headers = {"Authorization": f"Bearer {token}", "Sforce-Query-Options": "batchSize=2000"}
        before = emulator.cpu_times()
        gc.disable()
        with httpx.Client(base_url=instance, headers=headers, timeout=120) as client:
            body = client.get("/services/data/v60.0/query", params={"q": soql}).content
            page = 0
            while True:
                page += 1
                t0 = time.perf_counter()
                doc = orjson.loads(body)
                rows = doc["records"]
                t1 = time.perf_counter()
                lines = [orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in rows]
                t2 = time.perf_counter()
                digests = [hashlib.blake2b(line, digest_size=16, salt=salt).hexdigest() for line in lines]
                t3 = time.perf_counter()
                zlib.compress(b"\n".join(lines), 1, wbits=31)
                t4 = time.perf_counter()
                con.execute("BEGIN IMMEDIATE")
                hub_rows = [
                    (f"01FLOOR{page:07d}{i:012d}", type_id, r["Id"], line.decode(), stamp, now, now)
                    for i, (r, line) in enumerate(zip(rows, lines, strict=True))
                ]
                con.executemany(
                    'INSERT INTO record (hub_id, object_type_id, key, "values", stamps, created_at, updated_at) '
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    hub_rows,
                )
                t5 = time.perf_counter()
                con.executemany(
                    "INSERT INTO link (hub_id, connection_id, remote_object, remote_id, last_received_hash, "
                    "last_received_at, created_at) VALUES (?, ?, 'Account', ?, ?, ?, ?)",
                    [
                        (h[0], connection_id, h[2], d, now, now)
                        for h, d in zip(hub_rows, digests, strict=True)
                    ],
                )
                t6 = time.perf_counter()
                con.execute("COMMIT")
                t7 = time.perf_counter()
                for step, seconds in zip(
                    STEPS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6), strict=True
                ):
                    spent[step] += seconds
                read += len(rows)
                if doc.get("done", True):
                    break
                body = client.get(doc["nextRecordsUrl"]).content
        gc.enable()
        after = emulator.cpu_times()
    con.close()
    per = {step: round(seconds / read * 1e6, 2) for step, seconds in spent.items()}
    floor = sum(spent.values()) / read * 1e6
    emulator_us = ((after.user - before.user) + (after.system - before.system)) / read * 1e6
    return {
        "records": read,
        "us_per_record": per,
        "floor_us_per_record": round(floor, 1),
        "emulator_cpu_us_per_record": round(emulator_us, 1),
        # One core doing only the floor; two cores shared by the floor and the emulator, perfectly split.
        "one_core_ceiling_records_per_s": round(1e6 / floor),
        "two_core_ceiling_records_per_s": round(2e6 / (floor + emulator_us)),
        "peak_rss_mb": peak_rss_mb(),
    }


def postgresql_record_copy(records: int) -> dict[str, object]:
    import psycopg

    from hub_upsert import make_records, raw_postgres

    schema = f"floor_{uuid.uuid4().hex[:8]}"
    dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.Error as exc:
        return {"skipped": f"PostgreSQL unreachable: {exc}"}
    try:
        hub = _hub(
            f"{PG_URL}?options=-csearch_path%3D{schema}", Path(tempfile.mkdtemp(prefix="crmhub-floor-"))
        )
        hub.close()
        source = make_records(records)
        now = datetime.now(UTC)
        stamp = orjson.dumps({"_": [None, "1", "run"]}).decode()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"SET search_path TO {schema}")
            type_id = conn.execute("SELECT id FROM object_type WHERE name = 'account'").fetchone()[0]
            rows = [
                (
                    f"01FLOOR{i:019d}",
                    type_id,
                    r["account_id"],
                    orjson.dumps({k: v for k, v in r.items() if v is not None}).decode(),
                    stamp,
                    now,
                    now,
                )
                for i, r in enumerate(source)
            ]
            backend = psutil.Process(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
            conn.execute("CHECKPOINT")
            cpu0, t0 = backend.cpu_times(), time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(
                    'COPY record (hub_id, object_type_id, key, "values", stamps, created_at, updated_at) FROM STDIN'
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
            seconds, cpu1 = time.perf_counter() - t0, backend.cpu_times()
        server = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        raw = raw_postgres(source)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    return {
        "records": records,
        "copy_seconds": round(seconds, 3),
        "copy_server_cpu_seconds": round(server, 3),
        "raw_baseline_seconds": raw["seconds"],
        # The target allows the hub 2.5× the raw baseline; this much of it goes to the server's own work.
        "server_cpu_share_of_raw": round(server / float(raw["seconds"]), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    report: dict[str, object] = {"benchmark": "floors"}
    if args.only in (None, "sqlite"):
        report["sqlite_inbound"] = sqlite_inbound(args.records)
    if args.only in (None, "postgresql"):
        report["postgresql_record_copy"] = postgresql_record_copy(100_000)
    emit(report)


if __name__ == "__main__":
    main()
