"""A resumed outbound run keeps the records that failed before the kill in its retry set.

The run executes in a worker process that kills itself (SIGKILL) right after its third batch
committed; the same run id is then delivered again and resumes after that batch. The records that
failed in the first three batches must still be retried by the next run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from crmhub.emulators import salesforce as sf
from crmhub.emulators.serve import serve_in_thread
from crmhub.execute import RunWorker
from crmhub.services.jobs import JobService
from crmhub.store.models import Run
from crmhub.sync.runner import start_run
from crmhub.sync.spec import JobSpec

from .conftest import sf_hub

CONTACTS = 1000  # five batches of 200
NAMELESS = range(0, CONTACTS, 50)  # every 50th has no last name: Salesforce refuses it (4 per batch)

#: Executes one run by id as an executor's worker does, killed once its third batch is committed.
WORKER = """
import os, signal, sys
from crmhub.config import Settings
from crmhub.execute import RunWorker
from crmhub.services.hub import HubService
from crmhub.store.database import Database
from crmhub.sync import outbound

original = outbound.OutboundRun._batch
batches = []

def killed_after_three(self, *args, **kw):
    original(self, *args, **kw)
    batches.append(1)
    if len(batches) == 3:
        os.kill(os.getpid(), signal.SIGKILL)

outbound.OutboundRun._batch = killed_after_three
url, home, run_id = sys.argv[1:]
RunWorker(HubService(Database(url), settings=Settings(home=home, database_url=url))).work(run_id)
"""


def test_given_failures_before_a_kill_when_the_outbound_run_resumes_then_the_next_run_retries_all_of_them(
    database_url: str, tmp_path: Path
) -> None:
    emulator = sf.SalesforceEmulator(accounts=0, contacts=0, seed=2)
    home = tmp_path / "home"
    with serve_in_thread(emulator.app) as url:
        hub = sf_hub(database_url, home)
        jobs = JobService(hub)
        jobs.connections.add(
            "sf",
            "salesforce",
            {"login_url": url, "username": sf.DEFAULT_USERNAME},
            sf.default_credentials(),
        )
        hub.upsert(
            "contact",
            [
                {"email": f"p{i}@example.org", "first_name": f"P{i}"}
                | ({} if i in NAMELESS else {"last_name": f"L{i}"})
                for i in range(CONTACTS)
            ],
        )
        nameless = {hub.find_record("contact", f"p{i}@example.org").hub_id for i in NAMELESS}
        jobs.create(
            JobSpec.model_validate(
                {
                    "name": "contacts-out",
                    "direction": "outbound",
                    "connection": "sf",
                    "remote_object": "Contact",
                    "object_type": "contact",
                    "mapping": [
                        {"source": "email", "target": "Email"},
                        {"source": "first_name", "target": "FirstName"},
                        {"source": "last_name", "target": "LastName"},
                    ],
                    "settings": {"batch_size": 200, "error_threshold_percent": 50},
                }
            )
        )
        run = start_run(hub.db, "contacts-out", trigger="manual", for_executor=True)
        proc = subprocess.run(
            [sys.executable, "-c", WORKER, database_url, str(home), run.id],
            env={**os.environ, "CRMHUB_HOME": str(home), "CRMHUB_DATABASE_URL": database_url},
            capture_output=True,
            timeout=120,
        )
        assert proc.returncode == -9, proc.stderr.decode()[-2000:]
        with hub.db.read() as session:
            killed = session.get(Run, run.id)
            assert (killed.status, killed.progress_done, killed.counts["failed"]) == ("running", 600, 12)

        result = RunWorker(hub).work(run.id)
        assert result.claim == "resumed" and result.outcome is not None, result
        outcome = result.outcome
        assert outcome.status == "succeeded_with_errors", outcome.message
        assert (outcome.counts.read, outcome.counts.created, outcome.counts.failed) == (1000, 980, 20)
        assert emulator.count("Contact") == 980
        job, _ = jobs.get("contacts-out")
        assert set(job.state["outbound_since"]["retry"]) == nameless  # the 12 from before the kill too

        _, again = jobs.run("contacts-out")  # the 20 are tried again; the 980 sent are not resent
        assert (again.counts.failed, again.counts.sent) == (20, 0), again.message
        hub.close()
