"""``crmhub demo``: the main job end to end against the bundled Salesforce emulator.

A fresh data folder; the emulator seeded with accounts and contacts; a connection; inbound jobs
for accounts and contacts built by automap, validated and run; some records changed in the
emulator and an incremental run that moves only those; an outbound job that writes a hub attribute
back to Salesforce; the counts of every run and where the source snapshots are.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from crmhub.cli._common import console, fail, user_errors
from crmhub.cli.jobs import print_outcome
from crmhub.config import Settings
from crmhub.services.hub import HubService
from crmhub.services.jobs import JobService
from crmhub.services.users import UserService
from crmhub.store.database import Database
from crmhub.store.records import Stamp
from crmhub.store.schema import AttributeSpec
from crmhub.sync.common import RunOutcome
from crmhub.sync.spec import JobSpec

ACCOUNT_FIELDS = [
    "Id",
    "Name",
    "Website",
    "Industry",
    "NumberOfEmployees",
    "AnnualRevenue",
    "BillingCountry",
    "BillingCity",
    "Type",
    "Phone",
    "Partner_Status__c",
    "Products__c",
    "Owner.Email",
    "Customer_Since__c",
]
CONTACT_FIELDS = ["Id", "Email", "FirstName", "LastName", "Title", "Phone", "AccountId"]


def _tier(employees: object) -> str:
    n = employees if isinstance(employees, int | float) else 0
    return "Enterprise" if n >= 1000 else "Mid-market" if n >= 100 else "SMB"


def _run(jobs: JobService, name: str, **kw: Any) -> RunOutcome:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("  [bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(name, total=None)
        run, outcome = jobs.run(
            name, on_progress=lambda p: bar.update(task, completed=p.done, total=p.total), **kw
        )
    print_outcome(run.id, outcome)
    if outcome.status not in ("succeeded", "succeeded_with_errors"):
        raise fail(f"demo run of {name} ended {outcome.status}")
    return outcome


#: The demo hub's admin, for the web console (a demo on a loopback address only).
DEMO_ADMIN = "admin@demo.example"
DEMO_PASSWORD = "crmhub demo admin"


@user_errors
def demo(
    home: Path = typer.Option(Path(".crmhub/demo"), "--home", help="Data folder to (re)create for the demo."),
    accounts: int = typer.Option(3000, "--accounts", min=10),
    contacts: int = typer.Option(6000, "--contacts", min=0),
    seed: int = typer.Option(42, "--seed"),
) -> None:
    """Sync a seeded Salesforce emulator into a fresh hub and back, and show what moved."""
    from crmhub.emulators import salesforce as sf
    from crmhub.emulators.serve import serve_in_thread

    if home.exists():
        shutil.rmtree(home)
    settings = Settings(home=home, database_url=None)
    hub = HubService(Database(settings.resolved_database_url), settings=settings)
    emulator = sf.SalesforceEmulator(accounts=accounts, contacts=contacts, seed=seed)
    try:
        hub.init()
        console.print(f"[bold]crmhub demo[/] — data folder {settings.resolved_home}")
        with serve_in_thread(emulator.app) as url:
            console.print(f"Salesforce emulator at {url}: {accounts:,} accounts, {contacts:,} contacts")
            jobs = JobService(hub)
            jobs.connections.add(
                "salesforce",
                "salesforce",
                {"login_url": url, "username": sf.DEFAULT_USERNAME},
                sf.default_credentials(),
            )
            console.print(f"connection: {jobs.connections.test('salesforce').message}")

            # 1. Inbound jobs built by automap.
            for name, remote, object_type, fields, extra in (
                (
                    "salesforce-accounts",
                    "Account",
                    "account",
                    ACCOUNT_FIELDS,
                    {"stamp_hub_id_field": "Hub_ID__c", "delete_policy": "soft_delete"},
                ),
                ("salesforce-contacts", "Contact", "contact", CONTACT_FIELDS, {}),
            ):
                draft = JobSpec.model_validate(
                    {
                        "name": name,
                        "direction": "inbound",
                        "connection": "salesforce",
                        "remote_object": remote,
                        "object_type": object_type,
                        "fields": fields,
                        "settings": extra,
                    }
                )
                proposals = jobs.automap(draft)
                spec = draft.model_copy(update={"mapping": [p.row for p in proposals]})
                table = Table("source", "target", "confidence", title=f"automap {remote} → {object_type}")
                for p in proposals:
                    new = f" (new {p.row.new_attribute.type})" if p.row.new_attribute else ""
                    table.add_row(p.row.describe_source(), p.row.target + new, f"{p.confidence:.0%}")
                console.print(table)
                problems = jobs.validate(spec)
                if problems:
                    raise fail(f"{name} does not validate: {problems[0]}")
                jobs.create(spec, enabled=True)
                console.print(f"job {name}: validated and saved")
            console.print("[bold]first sync[/] (full)")
            _run(jobs, "salesforce-accounts")
            _run(jobs, "salesforce-contacts")

            # 2. Changes in Salesforce, then an incremental run.
            changed = emulator.touch("Account", fraction=0.02)
            emulator.delete("Account", emulator.ids("Account", limit=1)[0])
            console.print(
                f"[bold]changed {len(changed)} accounts and deleted 1 in Salesforce[/]; incremental run (it also "
                "re-reads the accounts whose Hub_ID__c the first run stamped, finds them unchanged, writes nothing):"
            )
            _run(jobs, "salesforce-accounts")

            # 3. A hub attribute written back to Salesforce.
            hub.add_attribute("account", AttributeSpec("tier", "text", category="segment"))
            rows = [
                {"hub_id": r.hub_id, "tier": _tier(r.values.get("employees"))} for r in _all_accounts(hub)
            ]
            hub.upsert("account", rows, match="hub_id", stamp=Stamp(job="segmentation"))
            jobs.create(
                JobSpec.model_validate(
                    {
                        "name": "tier-to-salesforce",
                        "direction": "outbound",
                        "connection": "salesforce",
                        "remote_object": "Account",
                        "object_type": "account",
                        "mapping": [
                            {"source": "tier", "target": "Description", "note": "hub segment → Salesforce"}
                        ],
                        "settings": {"create_records": False, "write_back": ["tier"]},
                    }
                )
            )
            console.print("[bold]outbound[/]: hub attribute tier → Salesforce Account.Description")
            _run(jobs, "tier-to-salesforce")
            sample = emulator.get("Account", changed[0]) or {}
            console.print(
                f"  Salesforce {changed[0]}: Description={sample.get('Description')!r}, "
                f"Hub_ID__c={sample.get('Hub_ID__c')!r}"
            )
            console.print("  second outbound run (nothing changed, nothing sent):")
            _run(jobs, "tier-to-salesforce")
        console.print(
            f"\nhub: {hub.count_records('account'):,} accounts, {hub.count_records('contact'):,} contacts; "
            f"snapshots under {settings.resolved_home / 'snapshots'}"
        )
        console.print(f"explore: CRMHUB_HOME={home} .venv/bin/crmhub runs list")
        UserService(hub).create(DEMO_ADMIN, password=DEMO_PASSWORD, role="admin", name="Demo admin")
        console.print(f"\n[bold]web console[/]: CRMHUB_HOME={home} .venv/bin/crmhub serve", soft_wrap=True)
        console.print(
            f"  then open http://127.0.0.1:8000/ and sign in as {DEMO_ADMIN} with the password {DEMO_PASSWORD!r}",
            soft_wrap=True,
        )
        console.print(
            "  (the demo's Salesforce emulator has stopped: the runs, their history and the records are "
            "all there; testing the connection or a new run needs `crmhub emulate` and the connection "
            "pointed at it)"
        )
    finally:
        hub.close()


def _all_accounts(hub: HubService) -> list:  # type: ignore[type-arg]
    out, after = [], None
    while batch := hub.list_records("account", limit=1000, after=after):
        out.extend(batch)
        after = batch[-1].hub_id
    return out
