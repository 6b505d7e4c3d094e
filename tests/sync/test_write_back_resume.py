"""Hub-id write-back survives a kill: links made by a committed page are marked pending with the page,
so a process killed before the CRM took their stamps leaves them pending, and the next run (the same
run resumed, or a new one) finishes them. Every CRM record ends up holding its hub id.

The run executes in a worker process that kills itself (SIGKILL) inside the write-back window of its
third page: after the page's transaction committed, before the stamps are sent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from crmhub.emulators import salesforce as sf
from crmhub.emulators.serve import serve_in_thread
from crmhub.execute import RunWorker
from crmhub.services.hub import HubService
from crmhub.services.jobs import JobService
from crmhub.store import runs as run_repo
from crmhub.store.models import Link, Run
from crmhub.sync.runner import start_run

from .conftest import sf_accounts_job, sf_hub

ACCOUNTS = 1000  # five pages of 200

#: Executes one run by id as an executor's worker does, killing itself when the third page's stamps
#: are about to be sent (pages 1 and 2 were stamped; page 3 is committed, its stamps are not sent).
WORKER = """
import os, signal, sys
from crmhub.config import Settings
from crmhub.execute import RunWorker
from crmhub.services.hub import HubService
from crmhub.store.database import Database
from crmhub.sync import inbound

original = inbound.InboundRun._write_back
calls = []

def killed_in_the_window(self, pairs):
    calls.append(len(pairs))
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, pairs)

inbound.InboundRun._write_back = killed_in_the_window
url, home, run_id = sys.argv[1:]
RunWorker(HubService(Database(url), settings=Settings(home=home, database_url=url))).work(run_id)
"""


@pytest.fixture
def stamped(database_url: str, tmp_path: Path) -> Iterator[tuple[sf.SalesforceEmulator, JobService, Path]]:
    emulator = sf.SalesforceEmulator(accounts=ACCOUNTS, contacts=0, seed=9)
    home = tmp_path / "home"
    with serve_in_thread(emulator.app) as url:
        hub = sf_hub(database_url, home)
        jobs = sf_accounts_job(hub, url)
        _, spec = jobs.get("accounts")
        settings = spec.settings.model_copy(update={"stamp_hub_id_field": "Hub_ID__c"})
        jobs.update("accounts", spec.model_copy(update={"settings": settings}))
        try:
            yield emulator, jobs, home
        finally:
            hub.close()


def _links(hub: HubService) -> dict[str, tuple[str, bool]]:
    """remote id → (hub id, write-back pending)."""
    with hub.db.read() as session:
        return {lk.remote_id: (lk.hub_id, lk.write_back_pending) for lk in session.query(Link)}


def _kill_in_the_write_back_window(hub: HubService, database_url: str, home: Path) -> str:
    run = start_run(hub.db, "accounts", trigger="manual", for_executor=True)
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, database_url, str(home), run.id],
        env={**os.environ, "CRMHUB_HOME": str(home), "CRMHUB_DATABASE_URL": database_url},
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]  # SIGKILL, not an ordinary end
    with hub.db.read() as session:
        assert session.get(Run, run.id).status == "running"  # nothing recorded its end
    return run.id


@pytest.mark.parametrize(
    "again", ["resume", "new_run"], ids=["the killed run resumes under its id", "a new run starts"]
)
def test_given_a_kill_after_a_page_commits_and_before_its_hub_ids_are_sent_when_run_again_then_every_crm_record_holds_its_hub_id(
    again: str, stamped: tuple[sf.SalesforceEmulator, JobService, Path], database_url: str
) -> None:
    emulator, jobs, home = stamped
    run_id = _kill_in_the_write_back_window(jobs.hub, database_url, home)

    links = _links(jobs.hub)
    assert len(links) == 600  # three pages committed …
    pending = sorted(remote for remote, (_, waiting) in links.items() if waiting)
    assert len(pending) == 200  # … the third one's stamps never sent
    assert all(emulator.get("Account", remote)["Hub_ID__c"] != links[remote][0] for remote in pending)
    gone = pending[0]
    emulator.delete("Account", gone)  # its stamp cannot be written any more: it stays pending

    if again == "resume":
        result = RunWorker(jobs.hub).work(run_id)
        assert result.claim == "resumed" and result.outcome is not None, result
        outcome, finishing_run = result.outcome, run_id
    else:
        finishing, outcome = jobs.run("accounts")
        finishing_run = finishing.id

    links = _links(jobs.hub)
    assert len(links) == ACCOUNTS
    for remote in emulator.ids("Account"):  # every live CRM record holds its hub id
        assert emulator.get("Account", remote)["Hub_ID__c"] == links[remote][0], remote
    assert outcome.status == "succeeded_with_errors", outcome.message  # the stamp of the deleted one
    assert [remote for remote, (_, waiting) in links.items() if waiting] == [gone]
    with jobs.db.read() as session:
        ledger = [e for e in run_repo.errors(session, finishing_run, limit=1000) if e.phase == "write_back"]
    assert [(e.remote_id, e.hub_id, e.field) for e in ledger] == [(gone, links[gone][0], "Hub_ID__c")]
