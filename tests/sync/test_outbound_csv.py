"""Outbound jobs to a CSV destination: hash skip, echo suppression, write-back, retries of failures."""

import csv
from pathlib import Path

from crmhub.sync.spec import JobSpec

from .conftest import inbound_spec, write_csv


def outbound_spec(**overrides) -> JobSpec:  # type: ignore[no-untyped-def]
    data = {
        "name": "accounts-out",
        "direction": "outbound",
        "connection": "out",
        "remote_object": "accounts",
        "object_type": "account",
        "match_field": "hub_id",
        "mapping": [
            {"source": "account_id", "target": "account_id"},
            {"source": "name", "target": "company"},
            {"source": "employees", "target": "headcount"},
        ],
        "settings": {"stamp_hub_id_field": "hub_id"},
    }
    settings = overrides.pop("settings", {})
    data.update(overrides)
    data["settings"] = {**data["settings"], **settings}
    return JobSpec.model_validate(data)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _out_folder(jobs, tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    jobs.connections.add("out", "csv", {"path": str(folder), "id_column": "hub_id"}, {})
    return folder


def test_given_hub_records_when_exported_then_written_and_a_second_run_sends_nothing(
    jobs, tmp_path: Path
) -> None:
    out = _out_folder(jobs, tmp_path)
    jobs.hub.upsert("account", [{"account_id": f"A{i}", "name": f"Co {i}", "employees": i} for i in range(5)])
    jobs.create(outbound_spec(filter='employees >= 2 AND name LIKE "co %"'))
    _, first = jobs.run("accounts-out")
    assert (first.counts.read, first.counts.created, first.counts.sent) == (3, 3, 3), first.message
    rows = _rows(out / "accounts.csv")
    assert sorted(r["company"] for r in rows) == ["Co 2", "Co 3", "Co 4"]
    assert all(len(r["hub_id"]) == 26 for r in rows)
    _, second = jobs.run("accounts-out")
    assert (second.counts.unchanged, second.counts.sent) == (3, 0)

    jobs.hub.upsert("account", [{"account_id": "A3", "name": "Co 3 renamed"}])
    _, third = jobs.run("accounts-out")
    assert (third.counts.updated, third.counts.unchanged) == (1, 2)
    assert sorted(r["company"] for r in _rows(out / "accounts.csv")) == ["Co 2", "Co 3 renamed", "Co 4"]


def test_a_record_synced_in_and_then_out_to_the_same_connection_sends_nothing(jobs, files: Path) -> None:
    write_csv(
        files / "accounts.csv",
        "id,name,employees,founded,country",
        ["A1,Acme,10,01.01.2000,de", "A2,Beta,20,01.01.2000,fr"],
    )
    jobs.create(inbound_spec())
    jobs.run("accounts-in")
    spec = outbound_spec(
        connection="files",
        remote_object="accounts_copy",
        mapping=[{"source": "name", "target": "company"}, {"source": "employees", "target": "headcount"}],
    )
    jobs.create(spec)
    _, outcome = jobs.run("accounts-out")
    # The values came from 'files'; echoing them back to 'files' is suppressed, which leaves nothing
    # to send: no file is written, and the records count as unchanged.
    assert (outcome.counts.unchanged, outcome.counts.sent, outcome.counts.created) == (2, 0, 0), (
        outcome.message
    )
    assert not (files / "accounts_copy.csv").exists()
    jobs.hub.upsert("account", [{"account_id": "A1", "employees": 99}])  # set in the hub, not from 'files'
    _, again = jobs.run("accounts-out")
    assert (again.counts.created, again.counts.unchanged) == (1, 1), again.message
    rows = _rows(files / "accounts_copy.csv")
    assert [sorted(r) for r in rows] == [["headcount", "hub_id"]] and rows[0][
        "headcount"
    ] == "99"  # no name: left out


def test_the_remote_id_is_written_back_to_a_hub_attribute(jobs, tmp_path: Path) -> None:
    _out_folder(jobs, tmp_path)
    from crmhub.store.schema import AttributeSpec

    jobs.hub.add_attribute("account", AttributeSpec("export_id", "text"))
    jobs.hub.upsert("account", [{"account_id": "A1", "name": "Acme"}])
    jobs.create(outbound_spec(settings={"remote_id_attribute": "export_id"}))
    jobs.run("accounts-out")
    record = jobs.hub.find_record("account", "A1")
    assert record.values["export_id"] == record.hub_id  # the CSV's id column is the stamped hub id
    _, again = jobs.run("accounts-out")
    assert again.counts.sent == 0


def test_failed_records_are_retried_on_the_next_run_even_when_unchanged(jobs, tmp_path: Path) -> None:
    out = _out_folder(jobs, tmp_path)
    jobs.hub.upsert("account", [{"account_id": "A1", "name": "Acme"}, {"account_id": "A2", "name": "Beta"}])
    # An existing file whose header has a duplicate column makes every write fail: a CRM outage stand-in.
    (out / "accounts.csv").write_text("hub_id,hub_id\n", encoding="utf-8")
    jobs.create(outbound_spec())
    _, first = jobs.run("accounts-out")
    assert first.status == "failed" and "more than once" in first.message
    (out / "accounts.csv").unlink()
    _, second = jobs.run("accounts-out")
    assert second.counts.created == 2, second.message


def test_outbound_dry_run_writes_nothing(jobs, tmp_path: Path) -> None:
    out = _out_folder(jobs, tmp_path)
    jobs.hub.upsert("account", [{"account_id": "A1", "name": "Acme"}])
    jobs.create(outbound_spec())
    _, outcome = jobs.run("accounts-out", dry_run=True)
    assert outcome.counts.created == 1 and not (out / "accounts.csv").exists()
