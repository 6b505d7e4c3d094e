"""A run killed with SIGKILL mid-run resumes from its last committed page; nothing lost or doubled."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from crmhub.emulators import salesforce as sf
from crmhub.emulators._common.faults import FaultConfig
from crmhub.emulators.serve import serve_in_thread
from crmhub.services.hub import HubService
from crmhub.store import runs as run_repo
from crmhub.store.models import Link, Record

from .conftest import sf_accounts_job, sf_hub


def _state(hub: HubService) -> tuple[dict[str, dict], int]:
    with hub.db.read() as session:
        records = {r.key: r.values for r in session.query(Record).filter(Record.deleted_at.is_(None))}
        links = session.query(Link).count()
    return records, links


def test_given_a_run_killed_mid_way_when_run_again_then_the_hub_equals_an_uninterrupted_run(
    database_url: str, tmp_path: Path
) -> None:
    emulator = sf.SalesforceEmulator(accounts=3000, contacts=0, seed=3)
    with serve_in_thread(emulator.app) as base_url:
        hub = sf_hub(database_url, tmp_path / "home")
        jobs = sf_accounts_job(hub, base_url)
        emulator.set_faults(FaultConfig(slow_rate=1.0, slow_seconds=0.15))  # slow pages: time to kill
        env = {**os.environ, "CRMHUB_HOME": str(tmp_path / "home"), "CRMHUB_DATABASE_URL": database_url}
        proc = subprocess.Popen(
            [sys.executable, "-m", "crmhub.cli.main", "jobs", "run", "accounts"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            done = 0
            while time.monotonic() < deadline and proc.poll() is None:
                with hub.db.read() as session:
                    runs = run_repo.list_runs(session, limit=1)
                    done = runs[0].progress_done if runs else 0
                if done >= 600:
                    break
                time.sleep(0.05)
            assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()!r}"
            proc.send_signal(signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)
        emulator.clear_faults()
        partial_records, _ = _state(hub)
        assert 600 <= len(partial_records) < 3000

        run, outcome = jobs.run("accounts")  # the killed run is detected as dead; this one resumes
        assert outcome.status == "succeeded", outcome.message
        with hub.db.read() as session:
            runs = run_repo.list_runs(session, limit=5)
        killed = [r for r in runs if r.id != run.id]
        assert killed[0].status == "failed" and "interrupted" in killed[0].message
        assert outcome.counts.read <= 3000 - len(partial_records) + 200  # resumed, not restarted
        resumed_state = _state(hub)

        clean = sf_hub(f"sqlite:///{tmp_path / 'clean.db'}", tmp_path / "clean")
        clean_jobs = sf_accounts_job(clean, base_url)
        _, clean_outcome = clean_jobs.run("accounts")
        assert clean_outcome.counts.created == 3000
        clean_state = _state(clean)
        assert resumed_state[0] == clean_state[0]  # same keys, same values
        assert resumed_state[1] == clean_state[1] == 3000  # one link per record, none doubled
        clean.close()
        hub.close()
