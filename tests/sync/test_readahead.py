"""A big read continues in a reader process: the same hub, links, snapshot and counts as reading in-process."""

import gzip
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psutil
import pytest

from crmhub.connectors.errors import ConnectorFatalError
from crmhub.emulators import salesforce as sf
from crmhub.emulators._common.faults import FaultConfig
from crmhub.emulators.serve import serve_in_thread
from crmhub.services.hub import HubService
from crmhub.services.jobs import JobService
from crmhub.store import runs as run_repo
from crmhub.store.models import Link, Record
from crmhub.sync.common import Progress, RunOutcome
from crmhub.sync.readahead import _portable, _rebuild

from .conftest import sf_accounts_job, sf_hub

RECORDS = 3000  # pages of 200: the first is loaded in-process, the other 14 come from the reader


def _readers() -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process().children(recursive=True)
        if "crmhub.sync.readahead" in " ".join(p.cmdline())
    ]


def _jobs(hub: HubService, base_url: str, *, minimum: int) -> JobService:
    hub.settings.read_process_min_records = minimum
    return sf_accounts_job(hub, base_url)


@contextmanager
def _salesforce(
    url: str, home: Path, *, seed: int, accounts: int = RECORDS, minimum: int = 1000
) -> Iterator[tuple[sf.SalesforceEmulator, str, HubService, JobService]]:
    """An emulator served over HTTP, a hub at ``url`` and the 'accounts' job (hand-off from ``minimum``)."""
    emulator = sf.SalesforceEmulator(accounts=accounts, contacts=0, seed=seed)
    with serve_in_thread(emulator.app) as base_url:
        hub = sf_hub(url, home)
        try:
            yield emulator, base_url, hub, _jobs(hub, base_url, minimum=minimum)
        finally:
            hub.close()


def _hub_state(hub: HubService) -> tuple[dict[str, dict], dict[str, tuple[str, str | None]]]:
    """Records by key (values), and links by remote id (the linked record's key, last received hash)."""
    with hub.db.read() as session:
        records = {r.key: r.values for r in session.query(Record).filter(Record.deleted_at.is_(None))}
        keys = {r.hub_id: r.key for r in session.query(Record)}
        links = {
            link.remote_id: (keys[link.hub_id], link.last_received_hash) for link in session.query(Link)
        }
    return records, links


def _snapshot(outcome: RunOutcome) -> list[dict]:
    assert outcome.snapshot is not None
    with gzip.open(outcome.snapshot) as fh:
        return [orjson.loads(line) for line in fh]


def _events(hub: HubService, run_id: str) -> list[str]:
    with hub.db.read() as session:
        return [e.kind for e in run_repo.events(session, run_id)]


def test_given_a_read_over_the_threshold_when_synced_then_a_reader_process_loads_the_same_as_in_process(
    database_url: str, tmp_path: Path
) -> None:
    with _salesforce(database_url, tmp_path / "home", seed=5) as (_emulator, base_url, hub, jobs):
        run, outcome = jobs.run("accounts")
        assert outcome.status == "succeeded", outcome.message
        assert "reader_process" in _events(hub, run.id)
        assert outcome.usage["calls"] >= RECORDS // 200  # the reader's calls are counted too
        assert not _readers()

        plain = sf_hub(f"sqlite:///{tmp_path / 'plain.db'}", tmp_path / "plain")
        plain_run, plain_outcome = _jobs(plain, base_url, minimum=0).run("accounts")
        assert "reader_process" not in _events(plain, plain_run.id)

        assert outcome.counts == plain_outcome.counts
        assert outcome.counts.created == RECORDS
        assert _hub_state(hub) == _hub_state(plain)  # same values, same links, same hashes
        lines = _snapshot(outcome)
        assert len(lines) == RECORDS
        assert sorted(lines, key=lambda line: line["id"]) == sorted(
            _snapshot(plain_outcome), key=lambda line: line["id"]
        )
        plain.close()


def test_given_records_sharing_the_modstamp_the_hand_off_starts_at_when_synced_then_none_lost_or_doubled(
    database_url: str, tmp_path: Path
) -> None:
    with _salesforce(database_url, tmp_path / "home", seed=6) as (emulator, _url, hub, jobs):
        # The first 1,500 records in read order share one modstamp: the first page ends inside the
        # tie, so the reader starts at it again and must drop the 200 the run has loaded.
        emulator.set_modstamp("Account", datetime(2020, 1, 1, tzinfo=UTC), count=1500)
        run, outcome = jobs.run("accounts")
        assert outcome.status == "succeeded", outcome.message
        assert "reader_process" in _events(hub, run.id)
        assert outcome.counts.read == outcome.counts.created == RECORDS
        records, links = _hub_state(hub)
        assert len(records) == len(links) == RECORDS
        lines = _snapshot(outcome)
        assert len({line["id"] for line in lines}) == len(lines) == RECORDS


def test_given_the_crm_refuses_the_reader_when_it_reads_then_the_run_fails_as_in_process_and_resumes(
    database_url: str, tmp_path: Path
) -> None:
    with _salesforce(database_url, tmp_path / "home", seed=7) as (emulator, base_url, hub, jobs):

        def limit_after_first_page(progress: Progress) -> None:
            # A daily limit (Retry-After past what a run waits) from here on: only the reader meets it.
            emulator.set_faults(FaultConfig(rate_limit_rate=1.0, retry_after_seconds=3600))

        run, outcome = jobs.run("accounts", on_progress=limit_after_first_page)
        assert outcome.status == "failed"
        assert "reader_process" in _events(hub, run.id)
        # The error is the connector's own, raised in the run as if it had read in-process.
        emulator.clear_faults()
        plain = sf_hub(f"sqlite:///{tmp_path / 'plain.db'}", tmp_path / "plain")
        plain_jobs = _jobs(plain, base_url, minimum=0)
        emulator.set_faults(FaultConfig(rate_limit_rate=1.0, retry_after_seconds=3600))
        _, plain_outcome = plain_jobs.run("accounts")
        emulator.clear_faults()
        assert plain_outcome.status == "failed"
        assert outcome.message.split(":")[0] == plain_outcome.message.split(":")[0]
        assert "3600" in outcome.message
        assert outcome.counts.created == 200  # the first page stays loaded

        _, again = jobs.run("accounts")
        assert again.status == "succeeded", again.message
        records, links = _hub_state(hub)
        assert len(records) == len(links) == RECORDS
        assert not _readers()
        plain.close()


def test_given_the_reader_process_is_killed_when_the_run_waits_for_it_then_the_run_fails_and_resumes(
    database_url: str, tmp_path: Path
) -> None:
    with _salesforce(database_url, tmp_path / "home", seed=8) as (_emulator, _url, hub, jobs):
        killed: list[int] = []

        def kill_the_reader(progress: Progress) -> None:
            if progress.done >= 600 and not killed:
                for reader in _readers():
                    reader.send_signal(signal.SIGKILL)
                    killed.append(reader.pid)

        _, outcome = jobs.run("accounts", on_progress=kill_the_reader)
        assert killed, "no reader process was running"
        assert outcome.status == "failed"
        assert "reader process" in outcome.message and "-9" in outcome.message
        assert 600 <= outcome.counts.created < RECORDS

        _, again = jobs.run("accounts")  # continues from the last committed page
        assert again.status == "succeeded", again.message
        assert again.counts.created == RECORDS - outcome.counts.created
        records, links = _hub_state(hub)
        assert len(records) == len(links) == RECORDS


def test_given_a_cancel_when_the_reader_process_reads_then_the_run_stops_and_the_reader_ends(
    database_url: str, tmp_path: Path
) -> None:
    with _salesforce(database_url, tmp_path / "home", seed=9) as (_emulator, _url, _hub, jobs):
        seen_readers: list[int] = []

        def cancel(progress: Progress) -> None:
            seen_readers.extend(p.pid for p in _readers())
            if progress.done >= 600:
                jobs.cancel(progress.run_id)

        _, outcome = jobs.run("accounts", on_progress=cancel)
        assert seen_readers
        assert outcome.status == "cancelled"
        assert not _readers()
        assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in seen_readers)


def test_given_the_run_process_is_killed_while_a_reader_reads_then_the_reader_ends_by_itself(
    database_url: str, tmp_path: Path
) -> None:
    with _salesforce(database_url, tmp_path / "home", seed=10) as (emulator, _url, hub, jobs):
        emulator.set_faults(FaultConfig(slow_rate=1.0, slow_seconds=0.1))  # slow pages: time to kill
        env = {
            **os.environ,
            "CRMHUB_HOME": str(tmp_path / "home"),
            "CRMHUB_DATABASE_URL": database_url,
            "CRMHUB_READ_PROCESS_MIN_RECORDS": "1000",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "crmhub.cli.main", "jobs", "run", "accounts"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            readers: list[psutil.Process] = []
            while time.monotonic() < deadline and proc.poll() is None and not readers:
                readers = [
                    p
                    for p in psutil.Process(proc.pid).children()
                    if "crmhub.sync.readahead" in " ".join(p.cmdline())
                ]
                time.sleep(0.05)
            assert readers, "the run did not start a reader process"
            time.sleep(0.3)
            proc.send_signal(signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)
        # Its next page finds nobody to take it: the reader ends (within a slow page or two).
        gone, alive = psutil.wait_procs(readers, timeout=20)
        assert not alive, "the reader outlived the run"
        emulator.clear_faults()
        _, outcome = jobs.run("accounts")
        assert outcome.status == "succeeded", outcome.message
        records, links = _hub_state(hub)
        assert len(records) == len(links) == RECORDS


def test_given_an_error_in_the_reader_when_it_crosses_to_the_run_then_class_message_and_details_survive() -> (
    None
):
    error = ConnectorFatalError("query Account page 3: REQUEST_LIMIT_EXCEEDED", code="LIMIT", status=403)
    rebuilt = _rebuild(_portable(error), "Account")
    assert type(rebuilt) is ConnectorFatalError
    assert str(rebuilt) == str(error)
    assert rebuilt.__dict__ == error.__dict__

    foreign = _rebuild(_portable(KeyError("Owner")), "Account")
    assert isinstance(foreign, RuntimeError)
    assert "KeyError" in str(foreign) and "Owner" in str(foreign)


@pytest.mark.parametrize("minimum", [0, 10_000], ids=["turned off", "above the read"])
def test_given_no_hand_off_wanted_when_synced_then_no_reader_process_starts(
    minimum: int, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    with _salesforce(url, tmp_path / "home", seed=11, accounts=1000, minimum=minimum) as (_e, _u, hub, jobs):
        run, outcome = jobs.run("accounts")
        assert outcome.status == "succeeded"
        assert outcome.counts.created == 1000
        assert "reader_process" not in _events(hub, run.id)


def test_given_a_value_that_does_not_map_when_a_page_is_prepared_then_its_field_error_crosses_with_the_page() -> (
    None
):
    from crmhub.connectors.base import Page, RemoteRecord
    from crmhub.core.cursor import Cursor
    from crmhub.mapping.spec import MappingRow
    from crmhub.mapping.transform import Transformer
    from crmhub.sync.readahead import prepare

    transformer = Transformer.compile(
        [MappingRow(source="Big", target="big"), MappingRow(source="Name", target="name")],
        target_types={"big": "number", "name": "text"},
        canonical=True,
    )
    page = Page(
        [
            RemoteRecord("a", "2024-01-01T00:00:00.000000Z", {"Big": str(2**70), "Name": "Acme"}, row=1),
            RemoteRecord("b", "2024-01-01T00:00:01.000000Z", {"Big": "5", "Name": "Beta"}, row=2),
            RemoteRecord("c", "2024-01-01T00:00:02.000000Z", {}, deleted=True, row=3),
        ]
    )
    crossed = pickle.loads(pickle.dumps(prepare(page, Cursor(), transformer, b"salt", {})))
    (row_a, errors_a), (row_b, errors_b), gone = crossed.mapped_rows()
    assert row_a == {"name": "Acme"} and [e.target for e in errors_a] == ["big"]
    assert "whole number" in errors_a[0].message
    assert (row_b, list(errors_b), gone) == ({"big": 5, "name": "Beta"}, [], None)
    assert [(r.id, r.deleted, r.row) for r in crossed.records()] == [("a", False, 1), ("b", False, 2), ("c", True, 3)]


def test_given_hubspot_contacts_with_company_references_when_read_by_a_reader_process_then_as_in_process(
    tmp_path: Path,
) -> None:
    from crmhub.emulators import hubspot as hs
    from crmhub.sync.spec import JobSpec

    emulator = hs.HubSpotEmulator(companies=300, contacts=1500, seed=12)
    with serve_in_thread(emulator.app) as base_url:

        def sync(name: str, minimum: int) -> tuple[HubService, list[list[str]]]:
            hub = sf_hub(f"sqlite:///{tmp_path / name}.db", tmp_path / name)
            hub.settings.read_process_min_records = minimum
            jobs = JobService(hub)
            jobs.connections.add(
                "hubspot", "hubspot", {"base_url": base_url}, {"access_token": hs.DEFAULT_PRIVATE_APP_TOKEN}
            )
            events = []
            for remote, object_type, mapping in (
                ("companies", "account", [("hs_object_id", "account_id"), ("name", "name"), ("domain", "domain")]),
                (
                    "contacts",
                    "contact",
                    [("email", "email"), ("firstname", "first_name"), ("associatedcompanyid", "account")],
                ),
            ):
                spec = {
                    "name": remote,
                    "direction": "inbound",
                    "connection": "hubspot",
                    "remote_object": remote,
                    "object_type": object_type,
                    "mapping": [{"source": s, "target": t} for s, t in mapping],
                }
                jobs.create(JobSpec.model_validate(spec))
                run, outcome = jobs.run(remote)
                assert outcome.status == "succeeded", outcome.message
                events.append(_events(hub, run.id))
            return hub, events

        handed, handed_events = sync("handed", 500)
        plain, plain_events = sync("plain", 0)
        assert "reader_process" in handed_events[1]  # 1,500 contacts: handed off
        assert not any("reader_process" in e for e in plain_events)
        for object_type in ("account", "contact"):
            assert _by_key(handed, object_type) == _by_key(plain, object_type)
        contacts = _by_key(handed, "contact")
        assert len(contacts) == 1500
        assert 0 < sum(1 for values in contacts.values() if values.get("account")) < 1500  # references resolved
        handed.close()
        plain.close()


def _all(hub: HubService, object_type: str) -> list:
    out, after = [], None
    while batch := hub.list_records(object_type, limit=1000, after=after):
        out.extend(batch)
        after = batch[-1].hub_id
    return out


def _by_key(hub: HubService, object_type: str) -> dict[str, dict]:
    """Records by key; a foreign key by the key of the record it points at (hub ids differ between hubs)."""
    keys = {r.hub_id: r.key for t in ("account", "contact") for r in _all(hub, t)}
    return {
        r.key: {k: keys.get(v, v) if k == "account" else v for k, v in r.values.items()}
        for r in _all(hub, object_type)
    }


def test_given_a_dry_run_when_the_read_is_handed_to_a_reader_process_then_it_counts_all_and_writes_nothing(
    tmp_path: Path,
) -> None:
    with _salesforce(f"sqlite:///{tmp_path / 'hub.db'}", tmp_path / "home", seed=13) as (_e, _u, hub, jobs):
        readers: list[int] = []
        _, dry = jobs.run(
            "accounts", dry_run=True, on_progress=lambda _p: readers.extend(r.pid for r in _readers())
        )
        assert dry.status == "succeeded", dry.message
        assert readers  # the read was handed off
        assert dry.counts.read == dry.counts.created == RECORDS
        assert _hub_state(hub) == ({}, {})
        _, real = jobs.run("accounts")  # the dry run moved no cursor: the real one reads everything
        assert real.counts.created == RECORDS
