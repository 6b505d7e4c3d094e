"""The scheduler's tick on SQLite and PostgreSQL: due slots → queued runs, exactly once, one leader."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crmhub.core.clock import utcnow
from crmhub.schedule import Scheduler, next_run, parse_schedule
from crmhub.schedule.scheduler import _AdvisoryLock, scheduled_key
from crmhub.services.hub import HubService
from crmhub.services.jobs import JobService
from crmhub.store import runs as run_repo
from crmhub.store.jobs import get_job
from crmhub.store.models import Job, Run
from crmhub.sync.runner import start_run

from .conftest import Recorder, job_spec

DAILY_6 = {"kind": "daily", "at": "06:00", "timezone": "UTC"}
SLOT = datetime(2024, 6, 1, 6, 0, tzinfo=UTC)


def set_job(hub: HubService, name: str, **values: object) -> None:
    with hub.db.begin() as session:
        job = get_job(session, name)
        for key, value in values.items():
            setattr(job, key, value)


def job_row(hub: HubService, name: str) -> Job:
    with hub.db.read() as session:
        return get_job(session, name)


def runs_of(hub: HubService, name: str) -> list[Run]:
    with hub.db.read() as session:
        return list(reversed(run_repo.list_runs(session, job_id=get_job(session, name).id)))


@pytest.fixture
def recorder(hub: HubService) -> Recorder:
    return Recorder(hub.db)


@pytest.fixture
def scheduler(hub: HubService, recorder: Recorder) -> Scheduler:
    s = Scheduler(hub.db, recorder)
    yield s
    s.stop()


# Saving a schedule ------------------------------------------------------------------------------


def test_given_an_enabled_job_with_a_schedule_when_saved_then_its_next_run_is_set(jobs: JobService) -> None:
    before = utcnow()
    job = jobs.create(job_spec(schedule=DAILY_6), enabled=True)
    assert job.enabled and job.schedule == {"timezone": "UTC", "kind": "daily", "at": "06:00:00"}
    assert job.next_run_at == next_run(parse_schedule(DAILY_6), before)


def test_given_scheduling_disabled_when_saved_then_the_job_is_stored_disabled(jobs: JobService) -> None:
    jobs.create(job_spec(schedule=DAILY_6), enabled=True)
    # An edit saved with scheduling switched off needs no validation and stores the job disabled.
    broken = job_spec(schedule={"kind": "hourly", "minute": 5}).model_copy(
        update={"remote_object": "nothing"}
    )
    job = jobs.update("accounts", broken, enabled=False)
    assert not job.enabled and job.next_run_at is None
    assert job_row(jobs.hub, "accounts").schedule == {"timezone": "UTC", "kind": "hourly", "minute": 5}
    jobs.update("accounts", job_spec(schedule={"kind": "hourly", "minute": 5}))
    jobs.set_enabled("accounts", True)
    row = job_row(jobs.hub, "accounts")
    assert row.enabled and row.next_run_at is not None and row.next_run_at.minute == 5
    jobs.set_enabled("accounts", False)
    assert job_row(jobs.hub, "accounts").next_run_at is None


def test_given_an_unchanged_schedule_when_saved_then_a_pending_slot_is_kept(jobs: JobService) -> None:
    jobs.create(job_spec(schedule=DAILY_6), enabled=True)
    set_job(jobs.hub, "accounts", next_run_at=SLOT)
    jobs.update("accounts", job_spec(schedule=DAILY_6).model_copy(update={"description": "edited"}))
    assert job_row(jobs.hub, "accounts").next_run_at == SLOT
    jobs.update("accounts", job_spec(schedule={"kind": "daily", "at": "07:00", "timezone": "UTC"}))
    assert job_row(jobs.hub, "accounts").next_run_at != SLOT


def test_given_sync_now_when_saved_then_a_run_is_handed_to_the_executor(
    jobs: JobService, recorder: Recorder
) -> None:
    jobs.create(job_spec(), sync_now=True, executor=recorder)
    (run,) = runs_of(jobs.hub, "accounts")
    assert recorder.submitted == [run.id] and run.trigger == "saved" and run.status == "queued"
    jobs.cancel(run.id)
    jobs.update("accounts", job_spec(), sync_now=True)  # no executor: runs right here
    latest = runs_of(jobs.hub, "accounts")[-1]
    assert latest.trigger == "saved" and latest.status == "succeeded"


# The tick ---------------------------------------------------------------------------------------


def test_given_a_due_job_when_ticking_then_one_queued_run_is_handed_over_after_commit(
    jobs: JobService, scheduler: Scheduler, recorder: Recorder
) -> None:
    jobs.create(job_spec(schedule=DAILY_6), enabled=True)
    set_job(jobs.hub, "accounts", next_run_at=SLOT)
    assert scheduler.tick(now=SLOT - timedelta(seconds=1)).created == []

    report = scheduler.tick(now=SLOT + timedelta(seconds=2))
    assert report.leader and report.due == 1 and len(report.created) == 1
    (run,) = runs_of(jobs.hub, "accounts")
    job = job_row(jobs.hub, "accounts")
    assert recorder.submitted == [run.id]
    assert (run.status, run.trigger, run.mode) == ("queued", "schedule", "full")
    assert (
        run.idempotency_key == scheduled_key(job.id, SLOT) == f"scheduled {job.id} 2024-06-01T06:00:00+00:00"
    )
    assert run.job_version == job.version
    assert job.next_run_at == SLOT + timedelta(days=1)
    with jobs.hub.db.read() as session:
        assert [e.kind for e in run_repo.events(session, run.id)] == ["created"]
    assert scheduler.tick(now=SLOT + timedelta(seconds=3)).created == []  # nothing due any more


def test_given_missed_slots_after_downtime_when_ticking_then_they_coalesce_into_one_run(
    jobs: JobService, scheduler: Scheduler
) -> None:
    jobs.create(job_spec(schedule={"kind": "every_minutes", "minutes": 15}), enabled=True)
    set_job(jobs.hub, "accounts", next_run_at=SLOT)
    now = SLOT + timedelta(days=3, minutes=7)  # 289 slots missed
    report = scheduler.tick(now=now)
    assert len(report.created) == 1 and len(runs_of(jobs.hub, "accounts")) == 1
    assert job_row(jobs.hub, "accounts").next_run_at == SLOT + timedelta(days=3, minutes=15)


def test_given_a_run_still_active_when_its_slot_comes_then_the_slot_is_skipped_and_recorded(
    jobs: JobService, scheduler: Scheduler
) -> None:
    jobs.create(job_spec(schedule=DAILY_6), enabled=True)
    active = start_run(jobs.db, "accounts", trigger="manual", for_executor=True)
    set_job(jobs.hub, "accounts", next_run_at=SLOT)
    report = scheduler.tick(now=SLOT + timedelta(minutes=1))
    assert report.skipped_active == 1 and report.created == []
    assert [r.id for r in runs_of(jobs.hub, "accounts")] == [active.id]
    assert job_row(jobs.hub, "accounts").next_run_at == SLOT + timedelta(days=1)
    with jobs.hub.db.read() as session:
        skipped = [e for e in run_repo.events(session, active.id) if e.kind == "slot_skipped"]
    assert len(skipped) == 1 and "2024-06-01T06:00:00+00:00" in skipped[0].message


def test_given_a_slot_another_scheduler_took_when_ticking_then_no_second_run_is_made(
    jobs: JobService, scheduler: Scheduler, recorder: Recorder
) -> None:
    jobs.create(job_spec(schedule=DAILY_6), enabled=True)
    job = job_row(jobs.hub, "accounts")
    set_job(jobs.hub, "accounts", next_run_at=SLOT)
    # Another scheduler created the slot's run and finished it, but had not moved next_run_at yet.
    with jobs.hub.db.begin() as session:
        other = run_repo.create_run(
            session,
            job_id=job.id,
            job_version=job.version,
            trigger="schedule",
            mode="full",
            status="succeeded",
            idempotency_key=scheduled_key(job.id, SLOT),
        )
    report = scheduler.tick(now=SLOT + timedelta(minutes=1))
    assert report.taken == 1 and report.created == [] and recorder.submitted == []
    assert [r.id for r in runs_of(jobs.hub, "accounts")] == [other.id]
    assert job_row(jobs.hub, "accounts").next_run_at == SLOT + timedelta(days=1)


def test_given_a_full_sync_due_when_scheduled_then_the_run_is_a_full_sync(
    jobs: JobService, scheduler: Scheduler
) -> None:
    jobs.create(
        job_spec("hourly", schedule={"kind": "hourly", "minute": 0}, full_sync_every="P7D"), enabled=True
    )
    jobs.create(
        job_spec("fresh", schedule={"kind": "hourly", "minute": 0}, full_sync_every="P7D"), enabled=True
    )
    cursor = {"modstamp": "2024-06-01T00:00:00.000Z", "ids_at": ["A1"]}
    set_job(
        jobs.hub,
        "hourly",
        next_run_at=SLOT,
        state={"cursor": cursor, "last_full_sync_at": "2024-05-20T00:00:00+00:00"},
    )
    set_job(
        jobs.hub,
        "fresh",
        next_run_at=SLOT,
        state={"cursor": cursor, "last_full_sync_at": "2024-05-31T00:00:00+00:00"},
    )
    scheduler.tick(now=SLOT)
    (full,) = runs_of(jobs.hub, "hourly")
    (incremental,) = runs_of(jobs.hub, "fresh")
    assert (full.trigger, full.mode) == ("full_sync", "full")
    assert (incremental.trigger, incremental.mode) == ("schedule", "incremental")


def test_given_a_once_schedule_when_it_ran_then_the_job_has_no_next_run(
    jobs: JobService, scheduler: Scheduler
) -> None:
    jobs.create(job_spec(schedule={"kind": "once", "at": "2099-01-01T00:00"}), enabled=True)
    set_job(jobs.hub, "accounts", next_run_at=SLOT)
    set_job(jobs.hub, "accounts", schedule={"kind": "once", "at": "2024-06-01T06:00:00", "timezone": "UTC"})
    assert len(scheduler.tick(now=SLOT).created) == 1
    assert job_row(jobs.hub, "accounts").next_run_at is None


def test_given_an_invalid_stored_schedule_when_due_then_it_is_unscheduled(
    jobs: JobService, scheduler: Scheduler
) -> None:
    jobs.create(job_spec(schedule=DAILY_6), enabled=True)
    set_job(
        jobs.hub,
        "accounts",
        next_run_at=SLOT,
        schedule={"kind": "daily", "at": "06:00", "timezone": "Nowhere/Land"},
    )
    report = scheduler.tick(now=SLOT)
    assert report.created == [] and report.invalid == [job_row(jobs.hub, "accounts").id]
    assert job_row(jobs.hub, "accounts").next_run_at is None


# Sweeps -----------------------------------------------------------------------------------------


def test_given_a_run_whose_worker_stopped_beating_when_ticking_then_it_is_queued_again(
    jobs: JobService, hub: HubService, recorder: Recorder
) -> None:
    jobs.create(job_spec())
    run = start_run(jobs.db, "accounts", trigger="manual")  # running here
    now = utcnow()
    with hub.db.begin() as session:
        row = session.get(Run, run.id)
        row.worker = "another-host:4242"  # not this host: only its heartbeat tells
        row.heartbeat_at = now - timedelta(seconds=100)
    scheduler = Scheduler(hub.db, recorder, stale_after=timedelta(seconds=60))
    try:
        report = scheduler.tick(now=now)
    finally:
        scheduler.stop()
    assert report.requeued == [run.id] and recorder.submitted == [run.id]
    (again,) = runs_of(hub, "accounts")
    assert again.status == "queued" and again.worker is None
    with hub.db.read() as session:
        (event,) = [e for e in run_repo.events(session, run.id) if e.kind == "requeued"]
    assert "another-host:4242" in event.message and "last committed batch" in event.message


def test_given_a_fresh_heartbeat_when_ticking_then_the_run_is_left_alone(
    jobs: JobService, hub: HubService, scheduler: Scheduler
) -> None:
    jobs.create(job_spec())
    start_run(jobs.db, "accounts", trigger="manual")
    report = scheduler.tick()
    assert report.requeued == [] and runs_of(hub, "accounts")[0].status == "running"


def test_given_queued_runs_when_a_scheduler_starts_leading_then_it_hands_them_out_once(
    jobs: JobService, hub: HubService, recorder: Recorder
) -> None:
    jobs.create(job_spec())
    jobs.create(job_spec("other"))
    lost = start_run(jobs.db, "accounts", trigger="manual", for_executor=True)
    scheduler = Scheduler(
        hub.db, recorder, requeue_after=timedelta(minutes=5), stale_after=timedelta(hours=1)
    )
    try:
        assert scheduler.tick().resubmitted == [lost.id]
        assert scheduler.tick().resubmitted == []  # handed out; not again before requeue_after
        later = utcnow() + timedelta(minutes=6)
        assert scheduler.tick(now=later).resubmitted == [lost.id]
        # A queued run waiting behind a running run of its job is not handed out again.
        running = start_run(jobs.db, "other", trigger="manual")
        waiting = start_run(jobs.db, "other", trigger="manual", queue=True, for_executor=True)
        resubmitted = scheduler.tick(now=later + timedelta(minutes=6)).resubmitted
        assert waiting.id not in resubmitted and running.id not in resubmitted
    finally:
        scheduler.stop()


# One leader -------------------------------------------------------------------------------------


def test_given_two_schedulers_when_both_tick_then_only_one_leads_until_it_stops(
    jobs: JobService, hub: HubService
) -> None:
    jobs.create(job_spec(schedule=DAILY_6), enabled=True)
    set_job(hub, "accounts", next_run_at=SLOT)
    first, second = Recorder(hub.db), Recorder(hub.db)
    a, b = Scheduler(hub.db, first), Scheduler(hub.db, second)
    try:
        assert a.tick(now=SLOT).leader
        assert not b.tick(now=SLOT).leader and second.submitted == []
        assert a.tick(now=SLOT).leader  # renewing
        a.stop()
        assert b.tick(now=SLOT).leader
        assert not a.tick(now=SLOT).leader
    finally:
        a.stop()
        b.stop()
    assert len(first.submitted) == 1 and len(runs_of(hub, "accounts")) == 1


def test_given_a_leader_that_stops_when_the_server_has_not_yet_seen_its_connection_close_then_another_leads_at_once(
    jobs: JobService, hub: HubService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On PostgreSQL a closed connection frees its lock only once the server's backend notices;
    # a successor ticking right after could find it still taken (1-2% of rounds did, in CI
    # once). Keep the leader's connection open, as a server that has not noticed yet would:
    # stop() must give the lock back itself.
    lingering: list[Any] = []

    def close_later(self: _AdvisoryLock) -> None:
        lingering.append(self._conn)
        self._conn = None

    monkeypatch.setattr(_AdvisoryLock, "_close", close_later)
    a, b = Scheduler(hub.db, Recorder(hub.db)), Scheduler(hub.db, Recorder(hub.db))
    try:
        assert a.tick().leader
        assert not b.tick().leader
        a.stop()
        assert b.tick().leader
    finally:
        a.stop()
        b.stop()
        for conn in lingering:
            conn.close()


def test_given_a_leader_that_vanished_when_its_lease_or_lock_is_gone_then_another_takes_over(
    jobs: JobService, hub: HubService
) -> None:
    a = Scheduler(hub.db, Recorder(hub.db), lease_ttl=timedelta(seconds=30))
    b = Scheduler(hub.db, Recorder(hub.db), lease_ttl=timedelta(seconds=30))
    now = utcnow()
    try:
        assert a.tick(now=now).leader
        if hub.db.dialect == "postgresql":
            # The leader's process dies: its connection, and with it the advisory lock, goes away.
            # The server frees the lock once its backend notices the closed socket, which can
            # take a moment: the successor takes over on one of its next ticks.
            a._leadership._conn.invalidate()  # type: ignore[attr-defined]
            deadline = time.monotonic() + 10
            while not b.tick(now=now).leader:
                assert time.monotonic() < deadline, "the lock of a dead leader was never freed"
                time.sleep(0.01)
            assert not a.tick(now=now).leader
        else:
            assert not b.tick(now=now + timedelta(seconds=29)).leader  # the lease still runs
            assert b.tick(now=now + timedelta(seconds=31)).leader  # expired: taken over
            assert not a.tick(now=now + timedelta(seconds=32)).leader
    finally:
        a.stop()
        b.stop()


def test_given_a_started_scheduler_when_woken_then_it_ticks_in_the_background(
    jobs: JobService, hub: HubService, recorder: Recorder
) -> None:
    jobs.create(job_spec(schedule=DAILY_6), enabled=True)
    set_job(hub, "accounts", next_run_at=utcnow() - timedelta(seconds=1))
    scheduler = Scheduler(hub.db, recorder, interval=30)
    scheduler.start()
    try:
        deadline = utcnow() + timedelta(seconds=10)
        while not recorder.submitted and utcnow() < deadline:
            scheduler.wake()

            time.sleep(0.05)
        assert len(recorder.submitted) == 1 and scheduler.is_leader
    finally:
        scheduler.stop()
    assert not scheduler.is_leader


def test_given_more_due_jobs_than_one_tick_takes_when_ticking_then_oldest_slots_go_first_and_the_rest_next(
    jobs: JobService, hub: HubService, recorder: Recorder
) -> None:
    for i in range(7):
        jobs.create(job_spec(name=f"job-{i}", schedule=DAILY_6), enabled=True)
        set_job(hub, f"job-{i}", next_run_at=SLOT - timedelta(minutes=i))  # job-6 has the oldest slot
    scheduler = Scheduler(hub.db, recorder, max_due=3)
    try:
        now = SLOT + timedelta(seconds=1)
        first = scheduler.tick(now=now)
        assert first.due == 3 and len(first.created) == 3
        assert sorted(r.job_id for r in _runs(hub, first.created)) == sorted(
            job_row(hub, f"job-{i}").id for i in (4, 5, 6)
        )
        second, third = scheduler.tick(now=now), scheduler.tick(now=now)
        assert (second.due, third.due) == (3, 1)
        assert scheduler.tick(now=now).due == 0
        assert len(recorder.submitted) == 7 == len(set(recorder.submitted))
        assert all(len(runs_of(hub, f"job-{i}")) == 1 for i in range(7))
    finally:
        scheduler.stop()


def _runs(hub: HubService, run_ids: list[str]) -> list[Run]:
    with hub.db.read() as session:
        return [run_repo.get_run(session, run_id) for run_id in run_ids]
