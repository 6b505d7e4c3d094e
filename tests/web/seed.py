"""Data the page tests look at: a CSV connection, a job that ran (one record named like a script),
and a second job, made through the services as a user would through the API."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from api.conftest import ACCOUNTS_JOB, Api, write_accounts
from crmhub.sync.spec import JobSpec

XSS = "<script>alert(1)</script>"


@dataclass
class Seeded:
    job: str
    run_id: str
    hub_id: str


def seed(api: Api, folder: Path) -> Seeded:
    folder.mkdir(parents=True, exist_ok=True)
    write_accounts(folder, [f"1,{XSS},10,de", "2,Beta GmbH,20,at", "3,Gamma Ltd,x,uk"])
    api.jobs.connections.add("files", "csv", {"path": str(folder)}, {})
    api.jobs.create(JobSpec.model_validate(ACCOUNTS_JOB))
    run = api.jobs.submit("accounts-in", executor=api.executor, trigger="api")
    api.wait(run.id)
    record = next(r for r in api.hub.list_records("account", limit=10) if r.values.get("name") == XSS)
    return Seeded("accounts-in", run.id, record.hub_id)
