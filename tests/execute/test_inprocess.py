"""The in-process executor with the scheduler: scheduled runs execute, one run per job, cancels."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from crmhub.core.clock import utcnow
from crmhub.emulators import salesforce as sf
from crmhub.emulators._common.faults import FaultConfig
from crmhub.emulators.serve import serve_in_thread
from crmhub.execute import InProcessExecutor
from crmhub.schedule import Scheduler
from crmhub.services.hub import HubService
from crmhub.services.jobs import JobService
from crmhub.store.jobs import get_job
from crmhub.sync.spec import JobSpec

from .conftest import add_sf_connection, event_kinds, get_run, hub_state, sf_job, wait_final, wait_for


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[sf.SalesforceEmulator, str]]:
    emu = sf.SalesforceEmulator(accounts=1200, contacts=0, seed=5)
    with serve_in_thread(emu.app) as base_url:
        yield emu, base_url


@pytest.fixture
def slow(emulator: tuple[sf.SalesforceEmulator, str]) -> Iterator[str]:
    emu, base_url = emulator
    emu.set_faults(FaultConfig(slow_rate=1.0, slow_seconds=0.08))
    try:
        yield base_url
    finally:
        emu.clear_faults()


@pytest.fixture
def executor(hub: HubService) -> Iterator[InProcessExecutor]:
    ex = InProcessExecutor(hub, workers=2, heartbeat_interval=0.2)
    ex.start()
    try:
        yield ex
    finally:
        ex.stop(wait=True)


def test_given_a_due_job_when_the_scheduler_ticks_then_the_run_executes_in_process(
    hub: HubService, executor: InProcessExecutor, tmp_path: Path
) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "accounts.csv").write_text("id,name\nA1,Acme\nA2,Globex\n", encoding="utf-8")
    jobs = JobService(hub)
    jobs.connections.add("files", "csv", {"path": str(folder)}, {})
    spec = JobSpec.model_validate(
        {
            "name": "csv-accounts",
            "direction": "inbound",
            "connection": "files",
            "remote_object": "accounts",
            "object_type": "account",
            "mapping": [{"source": "id", "target": "account_id"}, {"source": "name", "target": "name"}],
            "schedule": {"kind": "every_minutes", "minutes": 5},
        }
    )
    jobs.create(spec, enabled=True)
    with hub.db.begin() as session:
        get_job(session, "csv-accounts").next_run_at = utcnow() - timedelta(minutes=1)
    scheduler = Scheduler(hub.db, executor)
    try:
        (run_id,) = scheduler.tick().created
    finally:
        scheduler.stop()
    executor.wait(run_id, timeout=30)
    run = get_run(hub, run_id)
    assert (run.status, run.trigger) == ("succeeded", "schedule"), run.message
    assert run.worker is not None and event_kinds(hub, run_id)[:2] == ["created", "claimed"]
    assert len(hub_state(hub)[0]) == 2


def test_given_two_requests_for_one_job_when_executed_then_they_never_run_together(
    hub: HubService, executor: InProcessExecutor, slow: str
) -> None:
    jobs = JobService(hub)
    add_sf_connection(jobs, slow)
    jobs.create(sf_job("accounts"))
    first = jobs.submit("accounts", executor=executor, queue=True)
    second = jobs.submit("accounts", executor=executor, queue=True)
    a, b = wait_final(hub, first.id), wait_final(hub, second.id)
    assert a.status == b.status == "succeeded", (a.message, b.message)
    earlier, later = sorted([a, b], key=lambda r: r.started_at)
    assert earlier.finished_at <= later.started_at
    assert len(hub_state(hub)[0]) == 1200


def test_given_a_running_run_when_cancelled_then_it_stops_at_a_batch_boundary_and_says_so(
    hub: HubService, executor: InProcessExecutor, slow: str, emulator: tuple[sf.SalesforceEmulator, str]
) -> None:
    # Slower pages than the other tests: on a loaded machine the whole run (six pages at 0.08 s)
    # once finished before the cancel was seen.
    emulator[0].set_faults(FaultConfig(slow_rate=1.0, slow_seconds=0.4))
    jobs = JobService(hub)
    add_sf_connection(jobs, slow)
    jobs.create(sf_job("accounts"))
    run = jobs.submit("accounts", executor=executor)
    wait_for(lambda: get_run(hub, run.id).progress_done > 0, timeout=30, what="the first batch")
    assert executor.cancel(run.id).cancel_requested
    done = wait_final(hub, run.id)
    assert done.status == "cancelled" and "batch boundary" in done.message
    assert 0 < len(hub_state(hub)[0]) < 1200
    assert "cancel_requested" in event_kinds(hub, run.id)


def test_given_a_queued_run_when_cancelled_then_a_late_delivery_does_nothing(
    hub: HubService, executor: InProcessExecutor, slow: str
) -> None:
    jobs = JobService(hub)
    add_sf_connection(jobs, slow)
    jobs.create(sf_job("accounts"))

    class Later:
        run_ids: list[str] = []

        def submit(self, run_id: str) -> None:
            self.run_ids.append(run_id)

    later = Later()
    run = jobs.submit("accounts", executor=later)
    cancelled = jobs.cancel(run.id)
    assert cancelled.status == "cancelled" and cancelled.message == "cancelled before it started"
    executor.submit(run.id)  # delivered after all (a broker's redelivery)
    executor.wait(run.id, timeout=10)
    assert get_run(hub, run.id).status == "cancelled" and hub_state(hub)[0] == {}
