"""Benchmark: expression filters and source-format conversions with Python closures.

Prints one JSON object. ``--records N`` (default 1,000,000). Inputs are generated deterministically
before timing; the garbage collector is frozen around the timed loops (as the hub does for pages).

* ``filter``: a 10-term filter over records shaped like CRM rows (each term passes ~90% of
  records, so AND short-circuits like it does on real data); ``filter_all_terms`` evaluates the
  same filter on records that pass every term (all 10 terms always run).
* ``conversions``: 20 fields per record converted from raw source text — two dates with a
  pattern, an ISO datetime, numbers (US and EU separators), currency with symbols and codes,
  booleans, multi-value text, text and foreign keys.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import sys
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crmhub.expr import ValueType, compile_converter, compile_python, parse

FILTER = (
    'AccountType = "customer" AND Status IN ("Active", "Disabled", "Trial") AND Revenue > 1000 '
    'AND Employees >= 10 AND Country != "US" AND Name LIKE "a%" '
    "AND CreatedDate >= 2020-01-01T00:00:00Z AND IsActive = TRUE "
    'AND Tags INCLUDES ("vip", "partner") AND Region IS NOT NULL'
)

CONVERSIONS: list[tuple[str, ValueType, str | None]] = [
    ("close_date", ValueType.date, "MM/DD/YYYY"),
    ("start_date", ValueType.date, "DD.MM.YYYY"),
    ("modified", ValueType.datetime, None),
    ("revenue", ValueType.number, "1,234.56"),
    ("employees", ValueType.number, None),
    ("score", ValueType.number, "1.234,56"),
    ("amount", ValueType.currency, None),
    ("budget", ValueType.currency, "1.234,56"),
    ("is_active", ValueType.boolean, None),
    ("is_partner", ValueType.boolean, "yes/no"),
    ("tags", ValueType.multi_text, None),
    ("regions", ValueType.multi_text, ","),
    ("name", ValueType.text, None),
    ("email", ValueType.text, None),
    ("city", ValueType.text, None),
    ("industry", ValueType.text, None),
    ("website", ValueType.text, None),
    ("phone", ValueType.text, None),
    ("owner_id", ValueType.foreign_key, None),
    ("parent_id", ValueType.foreign_key, None),
]


def _filter_record(rng: random.Random, i: int, all_pass: bool) -> dict[str, Any]:
    def p() -> bool:
        return all_pass or rng.random() < 0.9

    return {
        "Id": f"001{i:015d}",
        "AccountType": "Customer" if p() else "Prospect",
        "Status": rng.choice(["Active", "Disabled", "Trial"]) if p() else "Churned",
        "Revenue": rng.randint(1001, 10_000_000) if p() else rng.randint(0, 1000),
        "Employees": rng.randint(10, 50_000) if p() else rng.randint(0, 9),
        "Country": rng.choice(["DE", "FR", "GB", "JP"]) if p() else "US",
        "Name": rng.choice(["Acme", "alpha", "Apex", "Atlas"]) + f" {i}" if p() else f"Zeta {i}",
        "CreatedDate": datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 10**8))
        if p()
        else datetime(2019, 6, 1, tzinfo=UTC),
        "IsActive": p(),
        "Tags": ["vip", rng.choice(["smb", "emea"])]
        if all_pass
        else (rng.sample(["vip", "partner", "smb", "emea"], 2) if p() else ["smb"]),
        "Region": rng.choice(["EMEA", "AMER", "APAC"]) if p() else None,
    }


def _raw_record(rng: random.Random, i: int) -> dict[str, Any]:
    d = date(2015, 1, 1) + timedelta(days=rng.randint(0, 4000))
    moment = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 10**8))
    return {
        "close_date": d.strftime("%m/%d/%Y"),
        "start_date": d.strftime("%d.%m.%Y"),
        "modified": moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "revenue": f"{rng.randint(0, 10**7):,}.{rng.randint(0, 99):02d}",
        "employees": str(rng.randint(1, 50_000)),
        "score": f"{rng.randint(1, 9)}.{rng.randint(100, 999)},{rng.randint(0, 99):02d}",
        "amount": f"${rng.randint(0, 99_999):,}.{rng.randint(0, 99):02d}",
        "budget": f"EUR {rng.randint(1, 999)}.{rng.randint(100, 999)},00",
        "is_active": rng.choice(["true", "false"]),
        "is_partner": rng.choice(["Yes", "No"]),
        "tags": ";".join(rng.sample(["vip", "partner", "smb", "emea", "apac"], 3)),
        "regions": ", ".join(rng.sample(["EMEA", "AMER", "APAC"], 2)),
        "name": f"Account {i}",
        "email": f"contact{i}@example.com",
        "city": rng.choice(["Berlin", "Paris", "Tokyo", "Austin"]),
        "industry": rng.choice(["Banking", "Retail", "Software"]),
        "website": f"https://www.example{i % 1000}.com",
        "phone": f"+49 30 {rng.randint(1000000, 9999999)}",
        "owner_id": f"005{rng.randint(0, 999):015d}",
        "parent_id": "" if i % 3 else f"001{i:015d}",
    }


def _time_filter(records: list[dict[str, Any]]) -> tuple[float, int]:
    keep = compile_python(parse(FILTER))
    gc.freeze()
    start = time.perf_counter()
    matched = 0
    for record in records:
        if keep(record) is True:
            matched += 1
    elapsed = time.perf_counter() - start
    gc.unfreeze()
    return elapsed, matched


def _time_conversions(records: list[dict[str, Any]]) -> float:
    converters = [(name, compile_converter(t, fmt, field=name)) for name, t, fmt in CONVERSIONS]
    gc.freeze()
    start = time.perf_counter()
    for record in records:
        row = {name: convert(record[name]) for name, convert in converters}
        del row
    elapsed = time.perf_counter() - start
    gc.unfreeze()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    n = args.records
    rng = random.Random(20240131)
    report: dict[str, Any] = {"benchmark": "expressions", "records": n, "python": sys.version.split()[0]}

    records = [_filter_record(rng, i, all_pass=False) for i in range(n)]
    seconds, matched = _time_filter(records)
    report["filter"] = {
        "terms": 10,
        "records_per_s": round(n / seconds),
        "seconds": round(seconds, 3),
        "matched": matched,
    }
    records = [_filter_record(rng, i, all_pass=True) for i in range(n)]
    seconds, matched = _time_filter(records)
    report["filter_all_terms"] = {
        "terms": 10,
        "records_per_s": round(n / seconds),
        "seconds": round(seconds, 3),
        "matched": matched,
    }
    del records

    raw = [_raw_record(rng, i) for i in range(n)]
    seconds = _time_conversions(raw)
    report["conversions"] = {
        "records_per_s": round(n / seconds),
        "fields": len(CONVERSIONS),
        "values_per_s": round(n * len(CONVERSIONS) / seconds),
        "seconds": round(seconds, 3),
    }
    del raw
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
