"""Outbound preview: the first hub records the filter selects, each with its payload, create or update, and why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from crmhub.emulators.serve import serve_in_thread
from crmhub.services.jobs import JobService
from crmhub.store.models import Link
from crmhub.sync.spec import JobSpec

from .test_outbound_noop import Crm


@pytest.fixture
def sf_crm(jobs: JobService) -> Iterator[tuple[Crm, JobService]]:
    crm = Crm("salesforce")
    with serve_in_thread(crm.emulator.app) as url:
        crm.connect(jobs, url)
        yield crm, jobs


def _outbound(filter: str) -> JobSpec:
    return JobSpec.model_validate(
        {
            "name": "accounts-out",
            "direction": "outbound",
            "connection": "crm",
            "remote_object": "Account",
            "object_type": "account",
            "match_field": "Hub_ID__c",
            "filter": filter,
            "mapping": [
                {"source": "name", "target": "Name"},
                {"source": "employees", "target": "NumberOfEmployees"},
            ],
            "settings": {"stamp_hub_id_field": "Hub_ID__c"},
        }
    )


def test_given_linked_matched_new_and_echo_only_records_when_previewed_then_each_says_what_it_would_do_and_why(
    sf_crm: tuple[Crm, JobService],
) -> None:
    c, jobs = sf_crm
    jobs.create(c.inbound())
    jobs.run("accounts-in")
    linked_echo, linked_changed, stamped = c.emulator.ids("Account")[:3]
    jobs.hub.upsert(
        "account",
        [
            {"account_id": linked_changed, "employees": 777},  # set in the hub: sent to its linked record
            {"account_id": "NEW-1", "name": "Brand New Co", "employees": 5},
            {"account_id": "NEW-2", "name": "Known In Salesforce"},
        ],
    )
    known = jobs.hub.find_record("account", "NEW-2")
    c.emulator.update("Account", stamped, {"Hub_ID__c": known.hub_id})  # Salesforce holds its hub id
    new = jobs.hub.find_record("account", "NEW-1")
    jobs.create(_outbound(f'account_id IN ("{linked_echo}", "{linked_changed}", "NEW-1", "NEW-2")'))
    calls_before = c.emulator.usage.used
    modstamps = c.modstamps()
    with jobs.db.read() as session:
        links_before = session.query(Link).count()

    rows = jobs.preview_outbound(jobs.get("accounts-out")[1])

    by_key = {r.key: r for r in rows}
    assert sorted(by_key) == sorted([linked_echo, linked_changed, "NEW-1", "NEW-2"])
    echo = by_key[linked_echo]
    assert (echo.action, echo.mapped) == ("unchanged", {})
    assert echo.reason == "nothing to send: every mapped field came from this connection"
    assert echo.left_out == ["Name", "NumberOfEmployees"] and echo.remote_id == linked_echo
    changed = by_key[linked_changed]
    assert (changed.action, changed.reason) == ("update", f"linked to Account {linked_changed}")
    assert changed.mapped == {
        "NumberOfEmployees": 777,
        "Hub_ID__c": changed.hub_id,
    }  # Name came from Salesforce
    assert changed.raw["employees"] == 777 and changed.left_out == ["Name"]
    brand_new = by_key["NEW-1"]
    assert brand_new.action == "create" and brand_new.remote_id is None
    assert brand_new.reason == f"not linked: no Account has Hub_ID__c = '{new.hub_id}'"
    assert brand_new.mapped == {"Name": "Brand New Co", "NumberOfEmployees": 5, "Hub_ID__c": new.hub_id}
    assert brand_new.raw == {"name": "Brand New Co", "employees": 5}
    matched = by_key["NEW-2"]
    assert matched.action == "update"
    assert matched.reason == f"not linked: Hub_ID__c = '{known.hub_id}' matches Account {stamped}"
    # Nothing was written: Salesforce was asked about the match field (describe + query), no record
    # moved, no link was made.
    assert c.emulator.usage.used - calls_before == 2
    assert c.modstamps() == modstamps
    with jobs.db.read() as session:
        assert session.query(Link).count() == links_before


def test_given_an_outbound_job_when_previewed_from_the_cli_then_it_prints_each_record_s_decision_and_payload(
    sf_crm: tuple[Crm, JobService], monkeypatch: pytest.MonkeyPatch
) -> None:
    c, jobs = sf_crm
    jobs.hub.upsert("account", [{"account_id": "NEW-1", "name": "Brand New Co", "employees": 5}])
    jobs.create(_outbound('account_id = "NEW-1"'))
    hub_id = jobs.hub.find_record("account", "NEW-1").hub_id
    from crmhub.cli import jobs as cli_jobs
    from crmhub.cli.main import app

    monkeypatch.setattr(cli_jobs, "open_hub", lambda: _Unclosed(jobs.hub))
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["jobs", "preview", "accounts-out"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # as printed, whatever width the console wrapped it at
    assert f"{hub_id} (NEW-1): create — not linked: no Account has Hub_ID__c = '{hub_id}'" in text
    line = next(line for line in result.output.splitlines() if "NumberOfEmployees" in line)
    assert [part.strip() for part in line.split("│")[1:5]] == ["employees", "5", "NumberOfEmployees", "5"]
    assert "Hub_ID__c" in result.output


class _Unclosed:
    """The test's hub handed to the CLI, which closes what it opens."""

    def __init__(self, hub: object) -> None:
        self._hub = hub

    def __getattr__(self, name: str) -> object:
        return getattr(self._hub, name)

    def close(self) -> None:
        pass
