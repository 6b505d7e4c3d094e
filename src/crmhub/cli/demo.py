"""``crmhub demo``: a fresh data folder filled with realistic accounts and contacts, then a summary."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import typer
from faker import Faker
from rich.table import Table

from crmhub.cli._common import console, user_errors
from crmhub.config import Settings
from crmhub.services.hub import HubService
from crmhub.store.database import Database
from crmhub.store.records import Stamp

INDUSTRIES = [
    "Banking",
    "Retail",
    "Software",
    "Energy",
    "Healthcare",
    "Media",
    "Telecommunications",
    "Logistics",
]
PRODUCTS = ["Analytics", "CRM", "Billing", "Support", "Marketing", "Ads"]


def fake_accounts(count: int, seed: int) -> list[dict[str, object]]:
    fake = Faker()
    fake.seed_instance(seed)
    rnd = random.Random(seed)
    rows = []
    for i in range(count):
        company = fake.company()
        domain = f"{fake.domain_word()}{i}.{rnd.choice(['com', 'io', 'net', 'de', 'co.uk'])}"
        rows.append(
            {
                "account_id": f"ACC-{i + 1:06d}",
                "name": company,
                "website": f"https://www.{domain}",
                "domain": domain,
                "industry": rnd.choice(INDUSTRIES),
                "employees": rnd.choice([5, 12, 50, 120, 480, 1500, 12000]) + rnd.randrange(10),
                "annual_revenue": round(rnd.lognormvariate(15, 1.5), 2),
                "billing_country": fake.country_code(),
                "billing_city": fake.city(),
                "phone": fake.phone_number(),
                "type": rnd.choice(["Customer", "Prospect", "Partner"]),
                "partner_status": rnd.choice(["Active", "Inactive", "Pending", None, None]),
                "owner_email": f"{fake.user_name()}@crmhub-demo.example",
                "products": rnd.sample(PRODUCTS, rnd.randrange(0, 4)),
            }
        )
    return rows


def fake_contacts(
    accounts: list[dict[str, object]], hub_ids: dict[str, str], count: int, seed: int
) -> list[dict[str, object]]:
    fake = Faker()
    fake.seed_instance(seed + 1)
    rnd = random.Random(seed + 1)
    rows = []
    for i in range(count):
        account = accounts[rnd.randrange(len(accounts))]
        first, last = fake.first_name(), fake.last_name()
        rows.append(
            {
                "email": f"{first}.{last}.{i}@{account['domain']}".lower(),
                "first_name": first,
                "last_name": last,
                "title": fake.job()[:80],
                "phone": fake.phone_number(),
                "account": hub_ids[str(account["account_id"])],
                "lead_source": rnd.choice(["Web", "Event", "Partner", "Outbound"]),
            }
        )
    return rows


@user_errors
def demo(
    home: Path = typer.Option(Path(".crmhub/demo"), "--home", help="Data folder to (re)create for the demo."),
    accounts: int = typer.Option(3000, "--accounts", min=1),
    contacts: int = typer.Option(6000, "--contacts", min=0),
    seed: int = typer.Option(42, "--seed"),
) -> None:
    """Create a fresh demo hub, load realistic accounts and contacts, and print a summary."""
    if home.exists():
        shutil.rmtree(home)
    settings = Settings(home=home, database_url=None)
    hub = HubService(Database(settings.resolved_database_url), settings=settings)
    try:
        report = hub.init()
        console.print(f"[bold]crmhub demo[/] — data folder {report.home}")
        account_rows = fake_accounts(accounts, seed)
        started = time.perf_counter()
        result = hub.upsert("account", account_rows, stamp=Stamp(job="demo", run="accounts"))
        hub_ids = {r.key: r.hub_id for r in result.results if r.hub_id and r.key}
        contact_rows = fake_contacts(account_rows, hub_ids, contacts, seed)
        contact_result = hub.upsert("contact", contact_rows, stamp=Stamp(job="demo", run="contacts"))
        elapsed = time.perf_counter() - started
        again = hub.upsert("account", account_rows, stamp=Stamp(job="demo", run="again"))

        table = Table("object type", "created", "updated", "unchanged", "failed")
        for name, res in (("account", result), ("contact", contact_result), ("account (again)", again)):
            c = res.counts()
            table.add_row(name, str(c["created"]), str(c["updated"]), str(c["unchanged"]), str(c["failed"]))
        console.print(table)
        console.print(
            f"loaded {accounts + contacts:,} records in {elapsed:.2f} s; the second load of the same "
            "accounts changed nothing"
        )
        sample = Table(
            "hub_id", "name", "industry", "employees", "partner_status", "products", title="sample accounts"
        )
        for r in hub.list_records("account", limit=5):
            v = r.values
            sample.add_row(
                r.hub_id,
                str(v.get("name")),
                str(v.get("industry")),
                str(v.get("employees")),
                str(v.get("partner_status") or ""),
                "; ".join(v.get("products", [])),
            )
        console.print(sample)
        console.print(f"try: CRMHUB_HOME={home} .venv/bin/crmhub records list contact")
    finally:
        hub.close()
