from pathlib import Path

import pytest

from crmhub.config import Settings
from crmhub.emulators import salesforce as sf
from crmhub.services.hub import HubService
from crmhub.services.jobs import JobService
from crmhub.store.database import Database
from crmhub.sync.spec import JobSpec

SF_ACCOUNT_FIELDS = [
    "Id",
    "Name",
    "Industry",
    "NumberOfEmployees",
    "AnnualRevenue",
    "Products__c",
    "Owner.Email",
]


@pytest.fixture
def jobs(hub) -> JobService:  # type: ignore[no-untyped-def]
    return JobService(hub)


@pytest.fixture
def files(jobs: JobService, tmp_path: Path) -> Path:
    """A CSV connection named 'files' on a fresh folder."""
    folder = tmp_path / "files"
    folder.mkdir()
    jobs.connections.add("files", "csv", {"path": str(folder)}, {})
    return folder


def write_csv(path: Path, header: str, rows: list[str]) -> None:
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")


def inbound_spec(**overrides) -> JobSpec:  # type: ignore[no-untyped-def]
    data = {
        "name": "accounts-in",
        "direction": "inbound",
        "connection": "files",
        "remote_object": "accounts",
        "object_type": "account",
        "mapping": [
            {"source": "id", "target": "account_id"},
            {"source": "name", "target": "name"},
            {"source": "employees", "target": "employees", "source_format": "1.234,56"},
            {
                "source": "founded",
                "target": "founded",
                "source_format": "DD.MM.YYYY",
                "new_attribute": {"type": "date", "category": "firmographics"},
            },
            {"expression": "UPPER(country)", "target": "billing_country"},
        ],
        "settings": {"error_threshold_percent": 50},
    }
    settings = overrides.pop("settings", {})
    data.update(overrides)
    data["settings"] = {**data["settings"], **settings}
    return JobSpec.model_validate(data)


def sf_hub(url: str, home: Path) -> HubService:
    """An initialised hub on ``url`` whose files live under ``home``."""
    hub = HubService(Database(url), settings=Settings(home=home, database_url=url))
    hub.init()
    return hub


def sf_accounts_job(hub: HubService, base_url: str) -> JobService:
    """A Salesforce connection 'sf' to the emulator at ``base_url`` and an inbound job 'accounts' (pages of 200)."""
    jobs = JobService(hub)
    jobs.connections.add(
        "sf",
        "salesforce",
        {"login_url": base_url, "username": sf.DEFAULT_USERNAME, "page_size": 200},
        sf.default_credentials(),
    )
    jobs.create(
        JobSpec.model_validate(
            {
                "name": "accounts",
                "direction": "inbound",
                "connection": "sf",
                "remote_object": "Account",
                "object_type": "account",
                "fields": SF_ACCOUNT_FIELDS,
                "settings": {"batch_size": 200},
                "mapping": [
                    {"source": "Id", "target": "account_id"},
                    {"source": "Name", "target": "name"},
                    {"source": "Industry", "target": "industry"},
                    {"source": "NumberOfEmployees", "target": "employees"},
                    {"source": "AnnualRevenue", "target": "annual_revenue"},
                    {"source": "Products__c", "target": "products"},
                    {"source": "Owner.Email", "target": "owner_email"},
                ],
            }
        )
    )
    return jobs
