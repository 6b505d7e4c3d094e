"""Benchmark: upsert 100,000 accounts with 20 attributes through the hub API, against raw baselines.

Cases, on SQLite and on PostgreSQL (when reachable):
* ``hub_first_load``  — HubService.upsert of all records into an empty hub;
* ``hub_second_load`` — the same records again with 10% changed (90% must be detected unchanged);
* ``raw_baseline``    — SQLite: stdlib sqlite3 executemany INSERT … ON CONFLICT into a plain table;
                        PostgreSQL: psycopg COPY into a staging table + INSERT … ON CONFLICT.

Prints one JSON object. Usage: ``python bench/hub_upsert.py [--records N] [--only sqlite|postgresql]``.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _util import case, emit, peak_rss_mb, timed
from crmhub.config import Settings
from crmhub.services.hub import HubService
from crmhub.store.database import Database
from crmhub.store.models import AttributeType as T
from crmhub.store.records import Stamp
from crmhub.store.schema import AttributeSpec

PG_URL = os.environ.get("CRMHUB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

ATTRS: list[tuple[str, str]] = [
    ("account_id", T.TEXT),
    ("name", T.TEXT),
    ("website", T.TEXT),
    ("domain", T.TEXT),
    ("industry", T.TEXT),
    ("billing_country", T.TEXT),
    ("billing_city", T.TEXT),
    ("phone", T.TEXT),
    ("type", T.TEXT),
    ("partner_status", T.TEXT),
    ("owner_email", T.TEXT),
    ("description", T.TEXT),
    ("employees", T.NUMBER),
    ("rating", T.NUMBER),
    ("annual_revenue", T.CURRENCY),
    ("is_customer", T.BOOLEAN),
    ("founded", T.DATE),
    ("renewal_date", T.DATE),
    ("last_activity", T.DATETIME),
    ("products", T.MULTI_TEXT),
]


def make_records(n: int, seed: int = 7) -> list[dict[str, object]]:
    rnd = random.Random(seed)
    industries = ["Banking", "Retail", "Software", "Energy", "Health", "Media", "Telecom", "Logistics"]
    countries = ["US", "DE", "FR", "GB", "NL", "ES", "IT", "CA", "AU", "JP"]
    products = ["Analytics", "CRM", "Billing", "Support", "Marketing", "Ads"]
    base = datetime(2024, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(n):
        rows.append(
            {
                "account_id": f"001{i:015d}",
                "name": f"Company {i}",
                "website": f"https://www.company{i}.com",
                "domain": f"company{i}.com",
                "industry": rnd.choice(industries),
                "billing_country": rnd.choice(countries),
                "billing_city": f"City {rnd.randrange(500)}",
                "phone": f"+1 555 {i % 10000:04d}",
                "type": rnd.choice(["Customer", "Prospect", "Partner"]),
                "partner_status": rnd.choice(["Active", "Inactive", "Pending", None]),
                "owner_email": f"owner{rnd.randrange(50)}@example.com",
                "description": "Lorem ipsum dolor sit amet " * 2,
                "employees": rnd.randrange(1, 100000),
                "rating": rnd.randrange(1, 6),
                "annual_revenue": round(rnd.uniform(1e4, 1e9), 2),
                "is_customer": rnd.random() < 0.5,
                "founded": (date(1950, 1, 1) + timedelta(days=rnd.randrange(25000))).isoformat(),
                "renewal_date": (date(2025, 1, 1) + timedelta(days=rnd.randrange(700))).isoformat(),
                "last_activity": (base + timedelta(seconds=rnd.randrange(10**7))).strftime(
                    "%Y-%m-%dT%H:%M:%S.%fZ"
                ),
                "products": rnd.sample(products, rnd.randrange(1, 4)),
            }
        )
    return rows


def change_some(rows: list[dict[str, object]], fraction: float, seed: int = 11) -> list[dict[str, object]]:
    rnd = random.Random(seed)
    changed = [dict(r) for r in rows]
    for idx in rnd.sample(range(len(rows)), int(len(rows) * fraction)):
        changed[idx]["employees"] = int(changed[idx]["employees"]) + 1  # type: ignore[call-overload]
        changed[idx]["name"] = f"{changed[idx]['name']} (renamed)"
    return changed


def bench_hub(url: str, home: Path, rows: list[dict[str, object]]) -> dict[str, object]:
    settings = Settings(home=home, database_url=url)
    hub = HubService(Database(url), settings=settings)
    hub.init()
    hub.define_object_type(
        "bench_account",
        attributes=[AttributeSpec(n, t, is_key=(n == "account_id")) for n, t in ATTRS],
    )
    stamp = Stamp(job="bench", run="first")
    first_s, first = timed(lambda: hub.upsert("bench_account", rows, stamp=stamp))
    assert first.counts()["created"] == len(rows), first.counts()
    second_rows = change_some(rows, 0.10)
    second_s, second = timed(lambda: hub.upsert("bench_account", second_rows, stamp=Stamp("bench", "second")))
    counts = second.counts()
    assert counts["updated"] == len(rows) // 10, counts
    hub.close()
    return {
        "hub_first_load": case(len(rows), first_s),
        "hub_second_load": case(
            len(rows), second_s, updated=counts["updated"], unchanged=counts["unchanged"]
        ),
    }


def raw_sqlite(path: Path, rows: list[dict[str, object]]) -> dict[str, object]:
    import orjson

    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    cols = [n for n, _ in ATTRS]
    con.execute(
        f"CREATE TABLE raw ({', '.join(c + (' PRIMARY KEY' if c == 'account_id' else '') for c in cols)})"
    )
    sql = (
        f"INSERT INTO raw ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) ON CONFLICT(account_id) DO UPDATE SET "
        + ", ".join(f"{c}=excluded.{c}" for c in cols[1:])
    )

    def load() -> None:
        con.execute("BEGIN")
        for start in range(0, len(rows), 5000):
            con.executemany(
                sql,
                [
                    tuple(
                        orjson.dumps(v).decode() if isinstance(v, list) else v for v in (r[c] for c in cols)
                    )
                    for r in rows[start : start + 5000]
                ],
            )
        con.execute("COMMIT")

    seconds, _ = timed(load)
    con.close()
    return case(len(rows), seconds)


def raw_postgres(rows: list[dict[str, object]]) -> dict[str, object]:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    cols = [n for n, _ in ATTRS]
    pg_types = {
        T.TEXT: "text",
        T.NUMBER: "double precision",
        T.CURRENCY: "numeric",
        T.BOOLEAN: "boolean",
        T.DATE: "date",
        T.DATETIME: "timestamptz",
        T.MULTI_TEXT: "jsonb",
    }
    ddl = ", ".join(f"{n} {pg_types[t]}" + (" PRIMARY KEY" if n == "account_id" else "") for n, t in ATTRS)
    import orjson

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"SET search_path TO {schema}")
        conn.execute(f"CREATE TABLE raw ({ddl})")
        try:

            def load() -> None:
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute(f"CREATE TEMP TABLE stage (LIKE {schema}.raw) ON COMMIT DROP")
                    with cur.copy(f"COPY stage ({', '.join(cols)}) FROM STDIN") as copy:
                        for r in rows:
                            copy.write_row(
                                tuple(orjson.dumps(r[c]).decode() if c == "products" else r[c] for c in cols)
                            )
                    cur.execute(
                        "INSERT INTO raw SELECT * FROM stage ON CONFLICT (account_id) DO UPDATE SET "
                        + ", ".join(f"{c}=excluded.{c}" for c in cols[1:])
                    )

            seconds, _ = timed(load)
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    return case(len(rows), seconds)


def _ratios(res: dict[str, Any]) -> None:
    """How many times faster the raw baseline is than each hub load (the target is ≤ 2.5)."""
    raw = res["raw_baseline"]["records_per_s"]
    for load in ("first_load", "second_load"):
        res[f"ratio_raw_to_hub_{load}"] = round(raw / res[f"hub_{load}"]["records_per_s"], 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    rows = make_records(args.records)
    report: dict[str, object] = {"benchmark": "hub_upsert", "records": args.records, "attributes": len(ATTRS)}
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "sqlite"):
            res = bench_hub(f"sqlite:///{tmp}/hub.db", Path(tmp) / "home-sqlite", rows)
            res["raw_baseline"] = raw_sqlite(Path(tmp) / "raw.db", rows)
            _ratios(res)
            report["sqlite"] = res
        if args.only in (None, "postgresql"):
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            import psycopg

            dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
            try:
                with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f"CREATE SCHEMA {schema}")
            except psycopg.Error as exc:
                report["postgresql"] = {"skipped": f"PostgreSQL unreachable: {exc}"}
            else:
                try:
                    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
                    res = bench_hub(url, Path(tmp) / "home-pg", rows)
                    res["raw_baseline"] = raw_postgres(rows)
                    _ratios(res)
                    report["postgresql"] = res
                finally:
                    with psycopg.connect(dsn, autocommit=True) as conn:
                        conn.execute(f"DROP SCHEMA {schema} CASCADE")
    report["peak_rss_mb"] = peak_rss_mb()
    emit(report)


if __name__ == "__main__":
    main()
