"""Dry runs: they predict what the run would do (deletes included), say so everywhere, and change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmhub.emulators import salesforce as sf
from crmhub.emulators.serve import serve_in_thread
from crmhub.services.hub import HubService
from crmhub.services.jobs import JobService
from crmhub.store import runs as run_repo
from crmhub.store.models import Link, Record

from .conftest import sf_accounts_job, sf_hub
from .test_outbound_preview import _Unclosed

ACCOUNTS = 2000


@pytest.fixture
def sf_2000(database_url: str, tmp_path: Path) -> Iterator[tuple[sf.SalesforceEmulator, JobService]]:
    emulator = sf.SalesforceEmulator(accounts=ACCOUNTS, contacts=0, seed=5)
    with serve_in_thread(emulator.app) as url:
        hub = sf_hub(database_url, tmp_path / "home")
        jobs = sf_accounts_job(hub, url)
        _, spec = jobs.get("accounts")
        settings = spec.settings.model_copy(update={"delete_policy": "soft_delete"})
        jobs.update("accounts", spec.model_copy(update={"settings": settings}))
        try:
            yield emulator, jobs
        finally:
            hub.close()


def _hub_state(hub: HubService) -> tuple[dict[str, object], list[tuple[object, ...]]]:
    with hub.db.read() as session:
        records = {r.hub_id: (r.values, r.deleted_at, r.updated_at) for r in session.query(Record)}
        links = sorted(
            (lk.id, lk.remote_id, lk.last_received_hash, lk.last_seen_at, lk.write_back_pending)
            for lk in session.query(Link)
        )
    return records, links


def test_given_25_remote_deletions_when_a_full_dry_run_then_it_predicts_25_deleted_like_the_real_run(
    sf_2000: tuple[sf.SalesforceEmulator, JobService],
) -> None:
    emulator, jobs = sf_2000
    _, loaded = jobs.run("accounts")
    assert (loaded.status, loaded.counts.created) == ("succeeded", ACCOUNTS), loaded.message
    for record_id in emulator.ids("Account")[100:125]:
        emulator.delete("Account", record_id)
    job_before, _ = jobs.get("accounts")
    state_before = _hub_state(jobs.hub)

    dry_row, dry = jobs.run("accounts", full=True, dry_run=True)

    assert dry.status == "succeeded", dry.message
    assert (dry.counts.read, dry.counts.unchanged, dry.counts.deleted) == (ACCOUNTS - 25, ACCOUNTS - 25, 25)
    assert dry.message == f"dry run, nothing was changed: {ACCOUNTS - 25} read, {ACCOUNTS - 25} unchanged, 25 deleted"
    assert dry.snapshot is None
    assert _hub_state(jobs.hub) == state_before  # no record, link or seen-mark changed
    job_after, _ = jobs.get("accounts")
    assert job_after.state == job_before.state
    with jobs.db.read() as session:
        assert run_repo.artifacts(session, dry_row.id) == []
        started = next(e for e in run_repo.events(session, dry_row.id) if e.kind == "started")
    assert started.message == "full inbound dry run (nothing is written) of job 'accounts'"

    _, real = jobs.run("accounts", full=True)

    assert (real.status, real.counts.deleted) == ("succeeded", 25), real.message
    assert jobs.hub.count_records("account") == ACCOUNTS - 25


def test_given_an_outbound_dry_run_from_the_cli_then_its_line_says_dry_run_and_nothing_is_sent(
    sf_2000: tuple[sf.SalesforceEmulator, JobService], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator, jobs = sf_2000
    from crmhub.sync.spec import JobSpec

    jobs.hub.upsert("account", [{"account_id": f"NEW-{i}", "name": f"New {i}"} for i in range(3)])
    jobs.create(
        JobSpec.model_validate(
            {
                "name": "accounts-out",
                "direction": "outbound",
                "connection": "sf",
                "remote_object": "Account",
                "object_type": "account",
                "mapping": [{"source": "name", "target": "Name"}],
            }
        )
    )
    calls, count = emulator.usage.used, emulator.count("Account")
    job_before, _ = jobs.get("accounts-out")
    from crmhub.cli import jobs as cli_jobs
    from crmhub.cli.main import app

    monkeypatch.setattr(cli_jobs, "open_hub", lambda: _Unclosed(jobs.hub))
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["jobs", "run", "accounts-out", "--dry-run"])

    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # as printed, whatever width the console wrapped it at
    assert "succeeded — dry run, nothing was changed: 3 read, 3 created, 3 sent" in text
    assert "source snapshot" not in result.output
    assert emulator.usage.used == calls and emulator.count("Account") == count  # the CRM was not called
    job_after, _ = jobs.get("accounts-out")
    assert job_after.state == job_before.state
    with jobs.db.read() as session:
        run = run_repo.list_runs(session, limit=1)[0]
        assert run.dry_run and run.message.startswith("dry run, nothing was changed: ")
        assert run_repo.artifacts(session, run.id) == []
