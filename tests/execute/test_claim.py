"""claim_run: what a delivery of a run id may do, decided under a lock on the job row."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from crmhub.core.clock import utcnow
from crmhub.services.hub import HubService
from crmhub.services.jobs import JobService
from crmhub.store.models import Run
from crmhub.sync.runner import cancel_run, claim_run, start_run
from crmhub.sync.spec import JobSpec

from .conftest import event_kinds, get_run


def csv_jobs(hub: HubService, tmp_path: Path) -> JobService:
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "accounts.csv").write_text("id,name\nA1,Acme\n", encoding="utf-8")
    jobs = JobService(hub)
    jobs.connections.add("files", "csv", {"path": str(folder)}, {})
    jobs.create(
        JobSpec.model_validate(
            {
                "name": "accounts",
                "direction": "inbound",
                "connection": "files",
                "remote_object": "accounts",
                "object_type": "account",
                "mapping": [{"source": "id", "target": "account_id"}],
            }
        )
    )
    return jobs


def test_given_deliveries_of_run_ids_when_claimed_then_each_run_runs_once_and_one_per_job(
    hub: HubService, tmp_path: Path
) -> None:
    jobs = csv_jobs(hub, tmp_path)
    first = start_run(jobs.db, "accounts", trigger="manual", for_executor=True)
    second = start_run(jobs.db, "accounts", trigger="manual", queue=True, for_executor=True)
    assert claim_run(hub.db, first.id, worker="host-a:1") == "claimed"
    assert claim_run(hub.db, first.id, worker="host-b:2") == "alive"  # a duplicate delivery
    assert claim_run(hub.db, second.id, worker="host-b:2") == "busy"
    assert get_run(hub, second.id).status == "queued" and "waiting" in event_kinds(hub, second.id)
    assert claim_run(hub.db, "no-such-run", worker="host-b:2") == "missing"
    with hub.db.begin() as session:  # the first one ends
        session.get(Run, first.id).status = "succeeded"
    assert claim_run(hub.db, first.id, worker="host-b:2") == "finished"
    assert claim_run(hub.db, second.id, worker="host-b:2") == "claimed"
    run = get_run(hub, second.id)
    assert run.status == "running" and run.worker == "host-b:2" and run.started_at is not None


def test_given_a_dead_worker_when_its_run_is_delivered_again_then_another_worker_resumes_it(
    hub: HubService, tmp_path: Path
) -> None:
    jobs = csv_jobs(hub, tmp_path)
    run = start_run(jobs.db, "accounts", trigger="manual", for_executor=True)
    claim_run(hub.db, run.id, worker="host-a:1")
    later = utcnow() + timedelta(minutes=1)
    assert (
        claim_run(hub.db, run.id, worker="host-b:2", stale_after=timedelta(minutes=5), now=later) == "alive"
    )
    much_later = utcnow() + timedelta(minutes=10)
    assert (
        claim_run(hub.db, run.id, worker="host-b:2", stale_after=timedelta(minutes=5), now=much_later)
        == "resumed"
    )
    again = get_run(hub, run.id)
    assert again.worker == "host-b:2" and "resumed" in event_kinds(hub, run.id)


def test_given_a_cancel_asked_of_an_orphaned_run_when_delivered_then_it_is_cancelled(
    hub: HubService, tmp_path: Path
) -> None:
    jobs = csv_jobs(hub, tmp_path)
    run = start_run(jobs.db, "accounts", trigger="manual", for_executor=True)
    claim_run(hub.db, run.id, worker="host-a:1")
    assert cancel_run(hub.db, run.id).cancel_requested  # running: asked to stop at a batch boundary
    much_later = utcnow() + timedelta(minutes=10)
    assert claim_run(hub.db, run.id, worker="host-b:2", now=much_later) == "cancelled"
    done = get_run(hub, run.id)
    assert done.status == "cancelled" and done.message == "cancelled before it could continue"
