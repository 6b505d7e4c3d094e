from pathlib import Path

import pytest

from crmhub.services.jobs import JobService
from crmhub.sync.spec import JobSpec


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
