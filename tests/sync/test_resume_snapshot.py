"""A run that resumes under its own run id keeps one source snapshot: every committed record once.

The run is executed by a worker process killed with SIGKILL after a few committed pages; the same
run id is then delivered again and resumed here (``RunWorker`` → ``claim_run`` finds the worker gone).
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from crmhub.core.clock import utcnow
from crmhub.emulators import salesforce as sf
from crmhub.emulators._common.faults import FaultConfig
from crmhub.emulators.serve import serve_in_thread
from crmhub.execute import RunWorker
from crmhub.services.hub import HubService
from crmhub.store import runs as run_repo
from crmhub.store.models import Artifact, Link, Run, RunEvent
from crmhub.sync.common import SnapshotMark
from crmhub.sync.runner import claim_run, execute_run, start_run

from .conftest import sf_accounts_job, sf_hub
from .test_outbound_csv import outbound_spec

ACCOUNTS = 3000

#: Executes one run by id, as an executor's worker does.
WORKER = """
import sys
from crmhub.config import Settings
from crmhub.execute import RunWorker
from crmhub.services.hub import HubService
from crmhub.store.database import Database

url, home, run_id = sys.argv[1:]
RunWorker(HubService(Database(url), settings=Settings(home=home, database_url=url))).work(run_id)
"""


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[tuple[sf.SalesforceEmulator, str]]:
    emulator = sf.SalesforceEmulator(accounts=ACCOUNTS, contacts=0, seed=3)
    with serve_in_thread(emulator.app) as base_url:
        yield emulator, base_url


def _snapshot(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rb") as fh:  # the stdlib reader takes the members as one stream
        return [orjson.loads(line) for line in fh]


def _artifact(hub: HubService, run_id: str) -> Artifact:
    with hub.db.read() as session:
        artifacts = [a for a in run_repo.artifacts(session, run_id) if a.kind == "source_snapshot"]
    assert len(artifacts) == 1, artifacts
    return artifacts[0]


def _mark(hub: HubService, run_id: str) -> SnapshotMark:
    with hub.db.read() as session:
        mark = SnapshotMark.from_json(run_repo.get_run(session, run_id).checkpoint.get("snapshot"))
    assert mark is not None
    return mark


def _events(hub: HubService, run_id: str, kind: str) -> list[RunEvent]:
    with hub.db.read() as session:
        return [e for e in run_repo.events(session, run_id) if e.kind == kind]


def _linked_ids(hub: HubService) -> set[str]:
    with hub.db.read() as session:
        return {remote_id for (remote_id,) in session.query(Link.remote_id)}


def _kill_mid_run(
    hub: HubService, emulator: sf.SalesforceEmulator, url: str, home: Path
) -> tuple[str, SnapshotMark]:
    """Start the 'accounts' run in a worker process and SIGKILL it once 600 records are committed."""
    run = start_run(hub.db, "accounts", trigger="manual", for_executor=True)
    emulator.set_faults(FaultConfig(slow_rate=1.0, slow_seconds=0.15))  # slow pages: time to kill
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, url, str(home), run.id],
        env={**os.environ, "CRMHUB_HOME": str(home), "CRMHUB_DATABASE_URL": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def committed() -> int:
            with hub.db.read() as session:
                return run_repo.get_run(session, run.id).progress_done

        _wait(lambda: committed() >= 600 or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()!r}"  # type: ignore[union-attr]
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
        emulator.clear_faults()
    mark = _mark(hub, run.id)
    assert 3 <= mark.pages < ACCOUNTS // 200 and mark.records == mark.pages * 200
    with hub.db.read() as session:
        assert session.get(Run, run.id).status == "running"  # killed: nothing recorded its end
    return run.id, mark


def _wait(check: Callable[[], bool], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout} s"
        time.sleep(0.05)


def _resume(hub: HubService, run_id: str) -> Path:
    result = RunWorker(hub).work(run_id)
    assert result.claim == "resumed", result
    assert result.outcome is not None and result.outcome.status == "succeeded", result.outcome
    assert result.outcome.snapshot is not None
    return result.outcome.snapshot


def test_given_a_worker_killed_mid_run_when_the_run_resumes_then_its_snapshot_holds_every_record_once(
    database_url: str, tmp_path: Path, emulator_url: tuple[sf.SalesforceEmulator, str]
) -> None:
    emulator, base_url = emulator_url
    home = tmp_path / "home"
    hub = sf_hub(database_url, home)
    sf_accounts_job(hub, base_url)
    run_id, mark = _kill_mid_run(hub, emulator, database_url, home)

    path = _resume(hub, run_id)
    lines = _snapshot(path)
    ids = [line["id"] for line in lines]
    assert len(ids) == len(set(ids)) == ACCOUNTS  # each record once
    assert set(ids) == _linked_ids(hub)  # exactly what the hub received
    artifact = _artifact(hub, run_id)
    assert (
        artifact.records == ACCOUNTS and artifact.size_bytes == path.stat().st_size == _mark(hub, run_id).size
    )
    assert not _events(hub, run_id, "snapshot_lost")

    clean = sf_hub(f"sqlite:///{tmp_path / 'clean.db'}", tmp_path / "clean")
    _, outcome = sf_accounts_job(clean, base_url).run("accounts")
    assert outcome.snapshot is not None
    assert {line["id"] for line in _snapshot(outcome.snapshot)} == set(ids)  # as an uninterrupted run read
    clean.close()
    hub.close()


def test_given_a_torn_member_after_the_last_commit_when_the_run_resumes_then_the_snapshot_is_repaired(
    tmp_path: Path, emulator_url: tuple[sf.SalesforceEmulator, str]
) -> None:
    emulator, base_url = emulator_url
    home, url = tmp_path / "home", f"sqlite:///{tmp_path / 'hub.db'}"
    hub = sf_hub(url, home)
    sf_accounts_job(hub, base_url)
    run_id, mark = _kill_mid_run(hub, emulator, url, home)
    path = home / "snapshots" / str(_job_id(hub, run_id)) / f"{run_id}.jsonl.gz"
    # What a kill in the middle of writing an uncommitted page leaves: half a member, then garbage.
    never_committed = gzip.compress(b"".join(b'{"id":"never-committed-%d"}\n' % i for i in range(500)))
    with path.open("ab") as fh:
        fh.write(never_committed[: len(never_committed) // 2] + b"\x00garbage")
    assert path.stat().st_size > mark.size
    with pytest.raises((EOFError, gzip.BadGzipFile)):
        _snapshot(path)

    assert _resume(hub, run_id) == path
    ids = [line["id"] for line in _snapshot(path)]
    assert len(ids) == len(set(ids)) == ACCOUNTS == _artifact(hub, run_id).records
    assert set(ids) == _linked_ids(hub)
    assert not _events(hub, run_id, "snapshot_lost")
    hub.close()


@pytest.mark.parametrize(
    "damage",
    ["deleted", "cut_short"],
    ids=["the snapshot file was deleted", "the snapshot file was cut short of the last commit"],
)
def test_given_a_lost_snapshot_when_the_run_resumes_then_an_event_says_so_and_the_rest_is_readable(
    damage: str, tmp_path: Path, emulator_url: tuple[sf.SalesforceEmulator, str]
) -> None:
    emulator, base_url = emulator_url
    home, url = tmp_path / "home", f"sqlite:///{tmp_path / 'hub.db'}"
    hub = sf_hub(url, home)
    sf_accounts_job(hub, base_url)
    run_id, mark = _kill_mid_run(hub, emulator, url, home)
    path = home / "snapshots" / str(_job_id(hub, run_id)) / f"{run_id}.jsonl.gz"
    if damage == "deleted":
        path.unlink()
    else:
        with path.open("r+b") as fh:
            fh.truncate(mark.size // 2)

    _resume(hub, run_id)
    (event,) = _events(hub, run_id, "snapshot_lost")
    assert event.data == {"lost_pages": [1, mark.pages], "lost_records": mark.records}
    assert f"pages 1–{mark.pages} ({mark.records} records)" in event.message
    ids = [line["id"] for line in _snapshot(path)]
    assert len(ids) == len(set(ids)) == ACCOUNTS - mark.records == _artifact(hub, run_id).records
    assert set(ids) < _linked_ids(hub)
    assert _mark(hub, run_id).first_page == mark.pages + 1
    hub.close()


def _job_id(hub: HubService, run_id: str) -> int:
    with hub.db.read() as session:
        return run_repo.get_run(session, run_id).job_id


class Interrupted(BaseException):
    """Stands in for a process stopping between batches (not an error the runner records)."""


def test_given_an_outbound_run_interrupted_when_resumed_under_its_id_then_one_snapshot_holds_each_record_once(
    jobs, tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    jobs.connections.add("out", "csv", {"path": str(folder), "id_column": "hub_id"}, {})
    jobs.hub.upsert("account", [{"account_id": f"A{i}", "name": f"Co {i}", "employees": i} for i in range(7)])
    jobs.create(outbound_spec(settings={"batch_size": 2}))
    run = start_run(jobs.db, "accounts-out", trigger="manual")

    def stop_after_two_batches(progress: Any) -> None:
        if progress.done >= 4:
            raise Interrupted

    with pytest.raises(Interrupted):
        execute_run(
            jobs.db,
            run.id,
            open_connector=jobs.connections.open,
            data_dir=jobs.hub.settings.resolved_home,
            on_progress=stop_after_two_batches,
        )
    mark = _mark(jobs.hub, run.id)
    assert (mark.pages, mark.records) == (2, 4)
    later = utcnow() + timedelta(minutes=1)
    assert claim_run(jobs.db, run.id, worker="elsewhere:1", stale_after=timedelta(0), now=later) == "resumed"
    outcome = execute_run(
        jobs.db, run.id, open_connector=jobs.connections.open, data_dir=jobs.hub.settings.resolved_home
    )
    assert outcome.status == "succeeded", outcome.message
    assert outcome.snapshot is not None
    hub_ids = [line["hub_id"] for line in _snapshot(outcome.snapshot)]
    assert len(hub_ids) == len(set(hub_ids)) == 7 == outcome.counts.sent
    assert set(hub_ids) == {r.hub_id for r in jobs.hub.list_records("account")}
    assert _artifact(jobs.hub, run.id).records == 7  # one artifact per run, brought up to date
