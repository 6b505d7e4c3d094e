"""Benchmark: a connector reading accounts (20 fields) from its emulator in another process.

``--kind salesforce`` (default) reads Accounts through SOQL pages; ``--kind zoho`` reads Zoho
Accounts through COQL (2,000 rows a call; past 100,000 rows the read opens a second window).
Reads N accounts over loopback HTTP with the connector's ``read`` and reports records/s, pages
and the reading process's peak RSS, at two sizes (default 50,000 and 200,000) to show that memory
does not grow with the record count. Each read runs in a fresh process so peak RSS is its own; each
size is read ``--repeat`` times (default 3) and the median run is reported, with the best and worst.

Usage: ``python bench/connector_read.py [--kind salesforce|zoho] [--sizes 50000 200000]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))

from _emulator import ACCOUNT_FIELDS, emulator_process
from _util import emit, peak_rss_mb

FIELDS = ACCOUNT_FIELDS  # + Id and SystemModstamp, which every read selects: 21 columns, 20 data fields
#: Zoho Accounts fields read (+ id and Modified_Time, which every read returns: 20 fields).
ZOHO_FIELDS = [
    "Account_Name",
    "Website",
    "Phone",
    "Industry",
    "Account_Type",
    "Rating",
    "Employees",
    "Annual_Revenue",
    "Billing_City",
    "Billing_Country",
    "Description",
    "Products",
    "Customer_Since",
    "Partner_Status",
    "Partner_ID",
    "Hub_ID",
    "Owner",
    "Created_Time",
]


def _connector(kind: str, emulator_url: str) -> tuple[object, str, list[str]]:
    if kind == "zoho":
        from crmhub.connectors.zoho import ZohoConnector, ZohoCredentials, ZohoSettings
        from crmhub.emulators import zoho

        connector: object = ZohoConnector(
            ZohoSettings(accounts_url=emulator_url),
            ZohoCredentials(
                client_id=zoho.DEFAULT_CLIENT_ID,
                client_secret=zoho.DEFAULT_CLIENT_SECRET,
                refresh_token=zoho.DEFAULT_REFRESH_TOKEN,
            ),
        )
        return connector, "Accounts", ZOHO_FIELDS
    from crmhub.connectors.salesforce import SalesforceConnector, SalesforceCredentials, SalesforceSettings
    from crmhub.emulators import salesforce as sf

    connector = SalesforceConnector(
        SalesforceSettings(login_url=emulator_url, username=sf.DEFAULT_USERNAME),
        SalesforceCredentials(
            client_id=sf.DEFAULT_CLIENT_ID,
            client_secret=sf.DEFAULT_CLIENT_SECRET,
            password=sf.DEFAULT_PASSWORD,
            security_token=sf.DEFAULT_SECURITY_TOKEN,
        ),
    )
    return connector, "Account", FIELDS


def read_all(kind: str, emulator_url: str) -> dict[str, object]:
    connector, object_name, fields = _connector(kind, emulator_url)
    connector.describe(object_name)  # type: ignore[attr-defined]
    started = time.perf_counter()
    cpu_started = time.process_time()
    records = pages = 0
    for page in connector.read(object_name, fields):  # type: ignore[attr-defined]
        records += len(page.records)
        pages += 1
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    connector.close()  # type: ignore[attr-defined]
    usage = connector.usage.as_dict()  # type: ignore[attr-defined]
    return {
        "records": records,
        "pages": pages,
        "seconds": round(seconds, 2),
        "records_per_s": round(records / seconds),
        "reader_cpu_us_per_record": round(cpu / max(records, 1) * 1e6, 1),
        "api_calls": usage["calls"],
        **({"api_credits": usage["api_credits"]} if "api_credits" in usage else {}),
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=["salesforce", "zoho"], default="salesforce")
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--repeat", type=int, default=3, help="reads per size (fresh reader each time)")
    parser.add_argument("--child", metavar="EMULATOR_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.stdout.write(orjson.dumps(read_all(args.kind, args.child)).decode())
        return
    report: dict[str, object] = {"benchmark": "connector_read", "connector": args.kind, "fields": 20}
    # This machine's speed drifts by ±20 % from minute to minute (shared cores), so each size is
    # read several times, each by a fresh process: the median run is the figure, best and worst
    # are shown beside it.
    for size in args.sizes:
        runs: list[dict[str, object]] = []
        seeds = ["--accounts", str(size), "--contacts", "0"] + (
            ["--leads", "0"] if args.kind == "zoho" else []
        )
        with emulator_process(args.kind, *seeds) as url:
            for _ in range(max(args.repeat, 1)):
                proc = subprocess.run(
                    [sys.executable, __file__, "--kind", args.kind, "--child", url],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if proc.returncode != 0:
                    runs = []
                    report[str(size)] = {"error": proc.stderr.strip().splitlines()[-3:]}
                    break
                runs.append(orjson.loads(proc.stdout))
        if runs:
            runs.sort(key=lambda r: r["records_per_s"])  # type: ignore[arg-type,return-value]
            median = runs[len(runs) // 2]
            report[str(size)] = {
                **median,
                "records_per_s_best": runs[-1]["records_per_s"],
                "records_per_s_worst": runs[0]["records_per_s"],
                "runs": len(runs),
                "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),  # type: ignore[type-var]
            }
    emit(report)


if __name__ == "__main__":
    main()
