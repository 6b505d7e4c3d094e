"""Jobs on a CSV folder, and an executor that only records what it was handed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crmhub.services.hub import HubService
from crmhub.services.jobs import JobService
from crmhub.store.database import Database
from crmhub.store.models import Run
from crmhub.sync.spec import JobSpec


class Recorder:
    """An executor that records run ids, and checks each run is committed when it is handed over."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.submitted: list[str] = []

    def submit(self, run_id: str) -> None:
        with self.db.read() as session:  # another connection: sees only committed rows
            assert session.get(Run, run_id) is not None, f"run {run_id} was handed over before its commit"
        self.submitted.append(run_id)


@pytest.fixture
def jobs(hub: HubService, tmp_path: Path) -> JobService:
    """A JobService with a CSV connection 'files' holding accounts.csv (3 rows)."""
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "accounts.csv").write_text("id,name\nA1,Acme\nA2,Globex\nA3,Initech\n", encoding="utf-8")
    service = JobService(hub)
    service.connections.add("files", "csv", {"path": str(folder)}, {})
    return service


def job_spec(name: str = "accounts", schedule: dict[str, Any] | None = None, **settings: Any) -> JobSpec:
    return JobSpec.model_validate(
        {
            "name": name,
            "direction": "inbound",
            "connection": "files",
            "remote_object": "accounts",
            "object_type": "account",
            "mapping": [{"source": "id", "target": "account_id"}, {"source": "name", "target": "name"}],
            "schedule": schedule,
            "settings": settings,
        }
    )
