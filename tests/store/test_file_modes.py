"""The data folder and what it holds are their owner's alone (issue 12): 0700 and 0600."""

from __future__ import annotations

import stat
from pathlib import Path

from crmhub.config import Settings
from crmhub.services.hub import HubService
from crmhub.store.database import Database
from crmhub.sync.common import SnapshotWriter


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_given_init_then_the_folder_key_and_database_are_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    url = f"sqlite:///{home / 'hub.db'}"
    hub = HubService(Database(url), settings=Settings(home=home, database_url=url))
    try:
        hub.init()
        hub.upsert("account", [{"account_id": "A-1"}])
    finally:
        hub.close()
    assert _mode(home) == 0o700
    assert _mode(home / "secret.key") == 0o600
    assert _mode(home / "hub.db") == 0o600
    for extra in ("hub.db-wal", "hub.db-shm"):
        if (home / extra).exists():
            assert _mode(home / extra) == 0o600


def test_given_a_snapshot_then_its_file_and_folder_are_private(tmp_path: Path) -> None:
    folder = tmp_path / "snapshots" / "1"
    writer = SnapshotWriter(folder, "run-1")
    writer.write([{"id": "1"}])
    writer.close()
    assert _mode(folder) == 0o700
    assert _mode(folder / "run-1.jsonl.gz") == 0o600
