"""Inbound jobs end to end on a CSV source, on SQLite and PostgreSQL."""

import gzip
import zlib
from pathlib import Path

import orjson

from crmhub.store import runs as run_repo
from crmhub.sync.spec import JobSpec

from .conftest import inbound_spec, write_csv

HEADER = "id,name,employees,founded,country"


def _errors(jobs, run_id):
    with jobs.db.read() as session:
        return run_repo.errors(session, run_id)


def test_given_good_and_bad_rows_when_run_then_good_ones_load_and_bad_ones_are_ledgered(
    jobs, files: Path
) -> None:
    write_csv(
        files / "accounts.csv",
        HEADER,
        [
            "A1,Acme,1.200,31.01.2001,de",
            "A2,Beta,lots,28.02.1999,fr",  # bad number
            "A3,Gamma,5,31.02.2000,us",  # impossible date
            ",NoKey,7,01.01.2000,us",  # no id (nor key)
            "A5,Epsilon,9,01.01.2000,gb,extra",  # ragged row
            "A6,Zeta,10,01.01.2000,nl",
        ],
    )
    jobs.create(inbound_spec(settings={"error_threshold_percent": 80}))
    run, outcome = jobs.run("accounts-in")
    assert outcome.status == "succeeded_with_errors", outcome.message
    c = outcome.counts
    assert (c.read, c.created, c.failed) == (6, 2, 4)
    acme = jobs.hub.find_record("account", "A1")
    assert acme.values == {
        "account_id": "A1",
        "name": "Acme",
        "employees": 1200,
        "founded": "2001-01-31",
        "billing_country": "DE",
    }
    errors = {(e.remote_id, e.phase, e.field) for e in _errors(jobs, run.id)}
    assert ("A2", "map", "employees") in errors
    assert ("A3", "map", "founded") in errors
    assert ("A5", "read", None) in errors
    no_id = [e for e in _errors(jobs, run.id) if e.row == 5]
    assert len(no_id) == 1 and no_id[0].phase == "read"
    assert "line 5: its id column 'id' is empty; give every row a unique id" in no_id[0].message
    bad_number = next(e for e in _errors(jobs, run.id) if e.remote_id == "A2")
    assert bad_number.raw_value == "lots" and bad_number.row == 3


def test_given_an_unchanged_source_when_run_again_then_nothing_is_written(jobs, files: Path) -> None:
    write_csv(files / "accounts.csv", HEADER, [f"A{i},Company {i},{i},01.01.2000,de" for i in range(50)])
    jobs.create(inbound_spec())
    _, first = jobs.run("accounts-in")
    before = {r.hub_id: r.updated_at for r in jobs.hub.list_records("account", limit=100)}
    _, second = jobs.run("accounts-in")
    assert first.counts.created == 50 and second.counts.unchanged == 50 and second.counts.updated == 0
    assert {r.hub_id: r.updated_at for r in jobs.hub.list_records("account", limit=100)} == before


def test_given_nul_characters_in_the_source_when_run_twice_then_they_are_dropped_and_nothing_changes(
    jobs, files: Path
) -> None:
    # PostgreSQL stores no NUL character: one in a single value failed the whole page there.
    rows = [f"A{i},Company\x00 {i},{i},01.01.2000,de" for i in range(3)]
    write_csv(files / "accounts.csv", HEADER, rows)
    jobs.create(inbound_spec())
    _, first = jobs.run("accounts-in")
    assert first.status == "succeeded", first.message
    assert first.counts.created == 3
    assert jobs.hub.find_record("account", "A1").values["name"] == "Company 1"
    _, second = jobs.run("accounts-in")
    assert (second.counts.unchanged, second.counts.updated) == (3, 0)


def test_given_a_changed_row_when_run_again_then_only_it_is_updated(jobs, files: Path) -> None:
    rows = [f"A{i},Company {i},{i},01.01.2000,de" for i in range(10)]
    write_csv(files / "accounts.csv", HEADER, rows)
    jobs.create(inbound_spec())
    jobs.run("accounts-in")
    rows[3] = "A3,Renamed,3,01.01.2000,de"
    write_csv(files / "accounts.csv", HEADER, rows)
    _, outcome = jobs.run("accounts-in")
    assert (outcome.counts.updated, outcome.counts.unchanged) == (1, 9)
    assert jobs.hub.find_record("account", "A3").values["name"] == "Renamed"


def test_dry_run_changes_nothing_but_reports_what_it_would_do(jobs, files: Path) -> None:
    write_csv(files / "accounts.csv", HEADER, [f"A{i},Company {i},{i},01.01.2000,de" for i in range(5)])
    jobs.create(inbound_spec())
    run, outcome = jobs.run("accounts-in", dry_run=True)
    assert outcome.counts.created == 5
    assert jobs.hub.count_records("account") == 0
    job, _ = jobs.get("accounts-in")
    assert job.state == {}
    # It says so, and writes nothing: no snapshot file, no artifact, no resume point.
    assert outcome.message == "dry run, nothing was changed: 5 read, 5 created"
    assert outcome.snapshot is None
    assert not (jobs.hub.settings.resolved_home / "snapshots").exists()
    with jobs.db.read() as session:
        assert run_repo.artifacts(session, run.id) == []
        stored = run_repo.get_run(session, run.id)
        assert stored.checkpoint == {} and stored.dry_run and stored.message == outcome.message


def test_a_dry_run_keeps_the_ledger_of_what_would_fail_and_its_progress_but_writes_no_record(
    jobs, files: Path
) -> None:
    write_csv(files / "accounts.csv", HEADER, ["A1,Acme,10,01.01.2000,de", "A2,Beta,lots,01.01.2000,fr"])
    jobs.create(inbound_spec())
    run, outcome = jobs.run("accounts-in", dry_run=True)
    assert (
        outcome.message
        == "dry run, nothing was changed: 2 read, 1 created, 1 failed; 1 error(s) in the ledger"
    )
    assert [(e.remote_id, e.phase, e.field) for e in _errors(jobs, run.id)] == [("A2", "map", "employees")]
    with jobs.db.read() as session:
        assert run_repo.get_run(session, run.id).progress_done == 2
    assert jobs.hub.count_records("account") == 0 and jobs.get("accounts-in")[0].state == {}


def test_creation_off_counts_new_records_as_ignored(jobs, files: Path) -> None:
    jobs.hub.upsert("account", [{"account_id": "A1", "name": "Existing"}])
    write_csv(files / "accounts.csv", HEADER, ["A1,Acme,1,01.01.2000,de", "A2,New,2,01.01.2000,de"])
    jobs.create(inbound_spec(settings={"create_records": False}))
    _, outcome = jobs.run("accounts-in")
    assert (outcome.counts.updated, outcome.counts.ignored, outcome.counts.created) == (1, 1, 0)
    assert jobs.hub.count_records("account") == 1


def test_full_sync_soft_deletes_linked_records_that_disappeared(jobs, files: Path) -> None:
    write_csv(files / "accounts.csv", HEADER, [f"A{i},Company {i},{i},01.01.2000,de" for i in range(5)])
    jobs.create(inbound_spec(settings={"delete_policy": "soft_delete"}))
    jobs.run("accounts-in")
    write_csv(files / "accounts.csv", HEADER, [f"A{i},Company {i},{i},01.01.2000,de" for i in (0, 1, 3)])
    _, outcome = jobs.run("accounts-in", full=True)
    assert outcome.counts.deleted == 2
    assert sorted(r.values["account_id"] for r in jobs.hub.list_records("account")) == ["A0", "A1", "A3"]
    write_csv(files / "accounts.csv", HEADER, [f"A{i},Company {i},{i},01.01.2000,de" for i in range(5)])
    _, again = jobs.run("accounts-in", full=True)
    assert again.counts.deleted == 0
    assert jobs.hub.count_records("account") == 5  # a record that reappears comes back


def test_the_source_snapshot_holds_every_record_read(jobs, files: Path) -> None:
    write_csv(files / "accounts.csv", HEADER, ["A1,Acme,1,01.01.2000,de", "A2,Beta,2,01.01.2000,fr"])
    jobs.create(inbound_spec())
    run, outcome = jobs.run("accounts-in")
    assert outcome.snapshot is not None
    lines = [orjson.loads(line) for line in gzip.decompress(outcome.snapshot.read_bytes()).splitlines()]
    assert [line["values"]["name"] for line in lines] == ["Acme", "Beta"]
    with jobs.db.read() as session:
        artifact = run_repo.artifacts(session, run.id)[0]
    assert artifact.records == 2 and Path(artifact.path) == outcome.snapshot


def _gzip_members(data: bytes) -> int:
    count = 0
    while data:
        member = zlib.decompressobj(wbits=31)
        member.decompress(data)
        assert member.eof
        data, count = member.unused_data, count + 1
    return count


def test_each_committed_page_is_one_gzip_member_and_the_run_records_where_it_ends(jobs, files: Path) -> None:
    write_csv(files / "accounts.csv", HEADER, [f"A{i},Company {i},{i},01.01.2000,de" for i in range(5)])
    jobs.create(inbound_spec(settings={"batch_size": 2}))
    run, outcome = jobs.run("accounts-in")
    assert outcome.snapshot is not None
    data = outcome.snapshot.read_bytes()
    assert _gzip_members(data) == 3 and len(gzip.decompress(data).splitlines()) == 5
    with jobs.db.read() as session:
        checkpoint = run_repo.get_run(session, run.id).checkpoint
    assert checkpoint["snapshot"] == {"size": len(data), "records": 5, "pages": 3, "first_page": 1}


def test_snapshot_retention_keeps_the_last_n(jobs, files: Path) -> None:
    write_csv(files / "accounts.csv", HEADER, ["A1,Acme,1,01.01.2000,de"])
    jobs.create(inbound_spec(settings={"snapshot_retention": 2}))
    outcomes = [jobs.run("accounts-in")[1] for _ in range(4)]
    kept = [o.snapshot for o in outcomes if o.snapshot is not None and o.snapshot.exists()]
    assert [o.snapshot.exists() for o in outcomes] == [False, False, True, True]
    assert len(kept) == 2


def test_a_run_above_the_error_threshold_fails_and_says_why(jobs, files: Path) -> None:
    write_csv(
        files / "accounts.csv",
        HEADER,
        ["A1,Acme,x,01.01.2000,de", "A2,Beta,y,01.01.2000,fr", "A3,Gamma,3,01.01.2000,us"],
    )
    jobs.create(inbound_spec(settings={"error_threshold_percent": 10}))
    _, outcome = jobs.run("accounts-in")
    assert outcome.status == "failed"
    assert "2 of 3 records failed (66.7%), above the job's error threshold of 10%" in outcome.message


def test_yaml_export_then_import_gives_an_identical_job(jobs, files: Path) -> None:
    spec = inbound_spec(filter='country != "xx"', description="Accounts from the finance export")
    jobs.create(spec)
    text = jobs.export_yaml("accounts-in")
    again = JobSpec.from_yaml(text)
    assert again == spec
    jobs.save(again.model_copy(update={"description": "changed"}))
    job, saved = jobs.get("accounts-in")
    assert job.version == 2 and saved.description == "changed"


def test_validate_points_at_the_rows_that_are_wrong(jobs, files: Path) -> None:
    write_csv(files / "accounts.csv", HEADER, ["A1,Acme,1,01.01.2000,de"])
    spec = inbound_spec(
        mapping=[
            {"source": "name", "target": "name"},
            {"source": "nope", "target": "industry"},
            {"expression": "UPPER(country", "target": "billing_country"},
            {"source": "name", "target": "name"},
            {"source": "id", "target": "colour"},
        ]
    )
    problems = [str(p) for p in jobs.validate(spec)]
    assert any("key attribute 'account_id' of account is not mapped" in p for p in problems)
    assert any(p.startswith("mapping row 2: accounts has no field 'nope'") for p in problems)
    assert any(p.startswith("mapping row 3:") and "line 1" in p for p in problems)
    assert any(p.startswith("mapping row 4: 'name' is already written by row 1") for p in problems)
    assert any(p.startswith("mapping row 5: account has no attribute 'colour'") for p in problems)


def test_one_run_per_job_at_a_time(jobs, files: Path) -> None:
    import pytest

    from crmhub.sync.runner import RunInProgressError, start_run

    write_csv(files / "accounts.csv", HEADER, ["A1,Acme,1,01.01.2000,de"])
    jobs.create(inbound_spec())
    first = start_run(jobs.db, "accounts-in", trigger="manual")
    with pytest.raises(RunInProgressError, match=f"already running \\(run {first.id}"):
        start_run(jobs.db, "accounts-in", trigger="manual")
    queued = start_run(jobs.db, "accounts-in", trigger="manual", queue=True)
    assert queued.status == "queued"


def test_given_two_remote_objects_with_the_same_ids_when_references_resolve_then_they_find_the_referenced_type(
    jobs, files: Path
) -> None:
    # Like HubSpot's companies and contacts, the two files number their rows alike: contact 1 works
    # at company 2, and a link from contact 1 must not be taken for company 1.
    write_csv(files / "companies.csv", "id,name", ["1,One Corp", "2,Two Corp"])
    write_csv(files / "people.csv", "id,email,company", ["1,ann@two.example,2", "2,bob@one.example,1"])
    jobs.create(
        JobSpec.model_validate(
            {
                "name": "companies-in",
                "direction": "inbound",
                "connection": "files",
                "remote_object": "companies",
                "object_type": "account",
                "mapping": [{"source": "id", "target": "account_id"}, {"source": "name", "target": "name"}],
            }
        )
    )
    jobs.create(
        JobSpec.model_validate(
            {
                "name": "people-in",
                "direction": "inbound",
                "connection": "files",
                "remote_object": "people",
                "object_type": "contact",
                "mapping": [
                    {"source": "email", "target": "email"},
                    {"source": "company", "target": "account"},
                ],
            }
        )
    )
    assert jobs.run("companies-in")[1].status == "succeeded"
    assert jobs.run("people-in")[1].status == "succeeded"
    hub = jobs.hub
    two, one = hub.find_record("account", "2"), hub.find_record("account", "1")
    assert hub.find_record("contact", "ann@two.example").values["account"] == two.hub_id
    # Ann and Bob swap companies: resolved again now that the people's own links 1 and 2 exist too.
    write_csv(files / "people.csv", "id,email,company", ["1,ann@two.example,1", "2,bob@one.example,2"])
    assert jobs.run("people-in")[1].counts.updated == 2
    assert hub.find_record("contact", "ann@two.example").values["account"] == one.hub_id
    assert hub.find_record("contact", "bob@one.example").values["account"] == two.hub_id


def test_given_a_linked_record_that_no_longer_maps_when_a_full_sync_soft_deletes_then_it_is_not_deleted(
    jobs, files: Path
) -> None:
    write_csv(
        files / "accounts.csv",
        "id,name,employees,founded,country",
        ["A1,Acme,10,01.02.2003,de", "A2,Beta,5,,fr"],
    )
    jobs.create(inbound_spec(settings={"delete_policy": "soft_delete"}))
    jobs.run("accounts-in")
    write_csv(
        files / "accounts.csv",
        "id,name,employees,founded,country",
        ["A1,Acme,lots,01.02.2003,de", "A2,Beta,5,,fr"],
    )
    _, outcome = jobs.run("accounts-in", full=True)
    assert (outcome.counts.failed, outcome.counts.deleted) == (1, 0)
    record = jobs.hub.find_record("account", "A1")
    assert record is not None and record.deleted_at is None and record.values["employees"] == 10
