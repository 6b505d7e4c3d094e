"""An unchanged source record causes no write: not to its hub record, not to its link, no stamp moved.

For every connector (CSV, Salesforce, HubSpot), on SQLite and PostgreSQL: a second run over a
source in which one record changed and the others did not. The test reads the ``record`` and
``link`` rows itself, before and after, and counts the rows written to them (row triggers); the expected
outcome (one record and one link written, every other row column for column the same) is
written here, not taken from the engine. Without the hash skip the engine maps and upserts every
record again and refreshes every link's ``last_received_at``, which this catches.

A full sync marks each link it saw (``last_seen_at``): that is the delete reconciliation's
bookkeeping, written by design on full runs, and the only link column left out of the comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from crmhub.emulators import hubspot as hs
from crmhub.emulators import salesforce as sf
from crmhub.emulators.serve import serve_in_thread
from crmhub.services.jobs import JobService
from crmhub.sync.spec import JobSpec

from .conftest import write_csv

RECORDS = 40
#: Written by a full sync for every link it sees (delete reconciliation), so not compared.
SEEN_MARK = "last_seen_at"


def _rows(jobs: JobService) -> tuple[dict[str, dict[str, Any]], dict[int, dict[str, Any]]]:
    """Every column of every record row (by hub id) and link row (by id), as the database holds them."""
    with jobs.hub.db.read() as session:
        records = {r["hub_id"]: dict(r) for r in session.execute(text("SELECT * FROM record")).mappings()}
        links = {r["id"]: dict(r) for r in session.execute(text("SELECT * FROM link")).mappings()}
    return records, links


_COUNTED = ("record", "link")


@contextmanager
def _writes(jobs: JobService) -> Iterator[Callable[[str], int]]:
    """Row triggers count each row inserted, updated or deleted in ``record`` and ``link`` inside the block.

    Triggers, not statement hooks: the PostgreSQL upsert writes through the driver's COPY, which no
    SQLAlchemy event sees, and a trigger counts rows an ``UPDATE`` rewrote with equal values too.
    """
    db = jobs.hub.db
    with db.begin() as session:
        session.execute(text("CREATE TABLE _row_writes (tbl VARCHAR(16), op VARCHAR(16))"))
        if db.dialect == "postgresql":
            session.execute(
                text(
                    "CREATE FUNCTION _count_row_write() RETURNS trigger AS $$ BEGIN "
                    "INSERT INTO _row_writes VALUES (TG_TABLE_NAME, TG_OP); RETURN NULL; END $$ LANGUAGE plpgsql"
                )
            )
        for table in _COUNTED:
            for op in ("INSERT", "UPDATE", "DELETE"):
                name = f"_count_{table}_{op.lower()}"
                if db.dialect == "postgresql":
                    body = "FOR EACH ROW EXECUTE FUNCTION _count_row_write()"
                else:
                    body = f"BEGIN INSERT INTO _row_writes VALUES ('{table}', '{op}'); END"
                session.execute(text(f"CREATE TRIGGER {name} AFTER {op} ON {table} {body}"))

    def count(table: str) -> int:
        with db.read() as session:
            return int(
                session.execute(
                    text("SELECT COUNT(*) FROM _row_writes WHERE tbl = :t"), {"t": table}
                ).scalar_one()
            )

    try:
        yield count
    finally:
        with db.begin() as session:
            for table in _COUNTED:
                for op in ("insert", "update", "delete"):
                    on = f" ON {table}" if db.dialect == "postgresql" else ""
                    session.execute(text(f"DROP TRIGGER _count_{table}_{op}{on}"))
            session.execute(text("DROP TABLE _row_writes"))


@dataclass
class Source:
    """One connector's source: a job named ``job`` over it, and a way to change one record."""

    job: str
    full: bool
    change_one: Callable[[], str]  # changes one record's mapped value; returns its remote id
    touch_others: Callable[[list[str]], None] | None = None  # new modstamp, same values


def _csv(jobs: JobService, tmp_path: Path) -> Iterator[Source]:
    folder = tmp_path / "files"
    folder.mkdir()
    jobs.connections.add("files", "csv", {"path": str(folder)}, {})
    rows = [f"A{i},Company {i},{i}" for i in range(RECORDS)]
    write_csv(folder / "accounts.csv", "id,name,employees", rows)
    jobs.create(
        JobSpec.model_validate(
            {
                "name": "csv-accounts",
                "direction": "inbound",
                "connection": "files",
                "remote_object": "accounts",
                "object_type": "account",
                "mapping": [
                    {"source": "id", "target": "account_id"},
                    {"source": "name", "target": "name"},
                    {"source": "employees", "target": "employees"},
                ],
            }
        )
    )

    def change_one() -> str:
        rows[7] = "A7,Renamed 7,7"
        write_csv(folder / "accounts.csv", "id,name,employees", rows)
        return "A7"

    yield Source("csv-accounts", True, change_one)


def _salesforce(jobs: JobService, tmp_path: Path) -> Iterator[Source]:
    emulator = sf.SalesforceEmulator(accounts=RECORDS, contacts=0, seed=11)
    with serve_in_thread(emulator.app) as url:
        jobs.connections.add(
            "sf",
            "salesforce",
            {"login_url": url, "username": sf.DEFAULT_USERNAME},
            sf.default_credentials(),
        )
        jobs.create(
            JobSpec.model_validate(
                {
                    "name": "sf-accounts",
                    "direction": "inbound",
                    "connection": "sf",
                    "remote_object": "Account",
                    "object_type": "account",
                    "mapping": [
                        {"source": "Id", "target": "account_id"},
                        {"source": "Name", "target": "name"},
                        {"source": "NumberOfEmployees", "target": "employees"},
                    ],
                    "settings": {"full_sync_every": None, "lookback_seconds": 0},
                }
            )
        )

        def change_one() -> str:
            target = emulator.ids("Account")[7]
            emulator.update("Account", target, {"Name": "Renamed 7"})
            return target

        def touch_others(ids: list[str]) -> None:
            emulator.set_modstamp("Account", datetime.now(UTC), ids=ids)

        yield Source("sf-accounts", False, change_one, touch_others)


def _hubspot(jobs: JobService, tmp_path: Path) -> Iterator[Source]:
    emulator = hs.HubSpotEmulator(companies=RECORDS, contacts=0, seed=11)
    with serve_in_thread(emulator.app) as url:
        jobs.connections.add(
            "hubspot", "hubspot", {"base_url": url}, {"access_token": hs.DEFAULT_PRIVATE_APP_TOKEN}
        )
        jobs.create(
            JobSpec.model_validate(
                {
                    "name": "hs-companies",
                    "direction": "inbound",
                    "connection": "hubspot",
                    "remote_object": "companies",
                    "object_type": "account",
                    "mapping": [
                        {"source": "hs_object_id", "target": "account_id"},
                        {"source": "name", "target": "name"},
                        {"source": "numberofemployees", "target": "employees"},
                    ],
                    "settings": {"full_sync_every": None, "lookback_seconds": 0},
                }
            )
        )

        def change_one() -> str:
            target = emulator.ids("companies")[7]
            emulator.update("companies", target, {"name": "Renamed 7"})
            return target

        def touch_others(ids: list[str]) -> None:
            emulator.set_modstamp("companies", datetime.now(UTC), ids=ids)

        yield Source("hs-companies", False, change_one, touch_others)


SOURCES = {"csv": _csv, "salesforce": _salesforce, "hubspot": _hubspot}


@pytest.fixture(params=sorted(SOURCES))
def source(request: pytest.FixtureRequest, jobs: JobService, tmp_path: Path) -> Iterator[Source]:
    yield from SOURCES[request.param](jobs, tmp_path)


@pytest.fixture(params=["hubspot", "salesforce"])
def crm_source(request: pytest.FixtureRequest, jobs: JobService, tmp_path: Path) -> Iterator[Source]:
    """The sources with modstamps (a CSV file has none: every CSV run reads the whole file)."""
    yield from SOURCES[request.param](jobs, tmp_path)


def _remote_of(links: dict[int, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["remote_id"]: row for row in links.values()}


def _assert_only_changed(
    before: tuple[dict[str, dict[str, Any]], dict[int, dict[str, Any]]],
    after: tuple[dict[str, dict[str, Any]], dict[int, dict[str, Any]]],
    changed_remote: str,
    *,
    full: bool,
) -> None:
    (records0, links0), (records1, links1) = before, after
    assert set(records1) == set(records0) and set(links1) == set(links0), "no row added or removed"
    changed_link = _remote_of(links0)[changed_remote]
    changed_hub = changed_link["hub_id"]
    for hub_id, row in records0.items():
        if hub_id != changed_hub:
            # values, stamps (the per-attribute lineage), updated_at: all as they were
            assert records1[hub_id] == row, f"unchanged record {hub_id} was written"
    assert records1[changed_hub]["values"] != records0[changed_hub]["values"]
    assert records1[changed_hub]["updated_at"] != records0[changed_hub]["updated_at"]
    for link_id, row in links0.items():
        now = links1[link_id]
        if full:
            now, row = ({k: v for k, v in r.items() if k != SEEN_MARK} for r in (now, row))
        if row["remote_id"] != changed_remote:
            assert now == row, f"the link of unchanged {row['remote_id']} was written"
    moved = links1[changed_link["id"]]
    assert moved["last_received_hash"] != changed_link["last_received_hash"]
    assert moved["last_received_at"] != changed_link["last_received_at"]


def test_given_one_changed_record_when_run_again_then_no_unchanged_record_or_link_is_written(
    source: Source, jobs: JobService
) -> None:
    _, first = jobs.run(source.job)
    assert (first.status, first.counts.created) == ("succeeded", RECORDS), first.message
    before = _rows(jobs)
    changed = source.change_one()
    with _writes(jobs) as writes:
        _, second = jobs.run(source.job, full=True)
        # One hub record row written (the link rows: its refresh, and the full sync's seen-marks).
        assert writes("record") == 1
    assert second.status == "succeeded", second.message
    counts = second.counts
    assert (counts.read, counts.unchanged, counts.updated, counts.created) == (RECORDS, RECORDS - 1, 1, 0)
    _assert_only_changed(before, _rows(jobs), changed, full=True)


def test_given_records_touched_without_a_change_when_run_incrementally_then_nothing_is_written(
    crm_source: Source, jobs: JobService
) -> None:
    """A new modstamp with the same values (a save without edits) reads the records and skips them."""
    source = crm_source
    assert source.touch_others is not None
    _, first = jobs.run(source.job)
    assert first.counts.created == RECORDS, first.message
    before = _rows(jobs)
    changed = source.change_one()
    touched = sorted(set(_remote_of(before[1])) - {changed})[:10]
    source.touch_others(touched)
    with _writes(jobs) as writes:
        _, second = jobs.run(source.job)
        assert (writes("record"), writes("link")) == (1, 1)  # the changed record, its link's refresh
    assert second.status == "succeeded", second.message
    counts = second.counts
    # No lookback: exactly the touched ones and the changed one are read.
    assert (counts.read, counts.updated, counts.created, counts.unchanged) == (11, 1, 0, 10)
    _assert_only_changed(before, _rows(jobs), changed, full=False)
