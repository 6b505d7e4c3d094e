"""One hub, many CRMs: identity holds across connections (issue 11, item 1).

Given Salesforce and HubSpot emulators (and two Salesforce orgs whose record ids coincide) on one
hub, on SQLite and PostgreSQL: a job never rewrites a key it did not set through another route,
each connection's ids live in their own place, match rules join records of several CRMs, and the
run and each link say how a record was identified.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from crmhub.emulators import hubspot as hs
from crmhub.emulators import salesforce as sf
from crmhub.emulators.serve import serve_in_thread
from crmhub.services.jobs import JobService
from crmhub.store import runs as run_repo
from crmhub.store.links import links_of_record
from crmhub.sync.spec import JobSpec

SF_CREDENTIALS = sf.default_credentials()
SF_ACCOUNTS = {
    "direction": "inbound",
    "remote_object": "Account",
    "object_type": "account",
    "fields": ["Id", "Name", "Website", "Industry"],
    "mapping": [
        {"source": "Id", "target": "account_id"},
        {"source": "Name", "target": "name"},
        {"source": "Website", "target": "website"},
        {"expression": "DOMAIN(Website)", "target": "domain"},
        {"source": "Industry", "target": "industry"},
    ],
}


def _add_sf(jobs: JobService, name: str, url: str) -> None:
    jobs.connections.add(
        name, "salesforce", {"login_url": url, "username": sf.DEFAULT_USERNAME}, SF_CREDENTIALS
    )


def _ledger(jobs: JobService, run_id: str) -> list[Any]:
    with jobs.hub.db.read() as session:
        return run_repo.errors(session, run_id, limit=10_000)


def _keys(jobs: JobService) -> dict[str, str | None]:
    """hub id → key of every account."""
    return {r.hub_id: r.key for r in jobs.hub.list_records("account", limit=10_000)}


def _routes(jobs: JobService, hub_id: str) -> dict[str, str | None]:
    """connection id → how the record's link on it was made."""
    with jobs.hub.db.read() as session:
        return {
            f"{link.connection_id}:{link.remote_object}": link.matched_by
            for link in links_of_record(session, hub_id)
        }


def _automapped(jobs: JobService, **spec: Any) -> JobSpec:
    """What `crmhub jobs automap --write` saves: the proposed mapping and match rule."""
    draft = JobSpec.model_validate(spec)
    plan = jobs.automap_plan(draft)
    update: dict[str, Any] = {"mapping": [p.row for p in plan.proposals]}
    if plan.match is not None:
        update["match_on"] = list(plan.match.match_on)
    return draft.model_copy(update=update)


@pytest.fixture
def crms(jobs: JobService) -> Iterator[tuple[JobService, sf.SalesforceEmulator, hs.HubSpotEmulator]]:
    """Connections 'sf' (40 accounts) and 'hubspot' (no companies of its own) on one hub."""
    salesforce = sf.SalesforceEmulator(accounts=40, contacts=0, seed=11)
    hubspot = hs.HubSpotEmulator(companies=0, contacts=0, seed=3)
    with ExitStack() as stack:
        sf_url = stack.enter_context(serve_in_thread(salesforce.app))
        hs_url = stack.enter_context(serve_in_thread(hubspot.app))
        _add_sf(jobs, "sf", sf_url)
        jobs.connections.add(
            "hubspot", "hubspot", {"base_url": hs_url}, {"access_token": hs.DEFAULT_PRIVATE_APP_TOKEN}
        )
        yield jobs, salesforce, hubspot


def test_given_accounts_from_salesforce_pushed_to_hubspot_when_hubspot_comes_back_in_then_keys_hold(
    crms: tuple[JobService, sf.SalesforceEmulator, hs.HubSpotEmulator],
) -> None:
    jobs, salesforce, hubspot = crms
    jobs.create(JobSpec.model_validate({"name": "sf-accounts", "connection": "sf", **SF_ACCOUNTS}))
    _, loaded = jobs.run("sf-accounts")
    assert (loaded.status, loaded.counts.created) == ("succeeded", 40), loaded.message
    sf_ids = sorted(salesforce.ids("Account"))
    keys_before = _keys(jobs)
    assert sorted(k for k in keys_before.values() if k) == sf_ids

    out = JobSpec.model_validate(
        {
            "name": "hs-companies-out",
            "direction": "outbound",
            "connection": "hubspot",
            "remote_object": "companies",
            "object_type": "account",
            "mapping": [
                {"source": "name", "target": "name"},
                {"source": "domain", "target": "domain"},
                {"source": "website", "target": "website"},
            ],
        }
    )
    jobs.create(out)
    _, pushed = jobs.run("hs-companies-out")
    assert (pushed.status, pushed.counts.created) == ("succeeded", 40), pushed.message

    # automap for the second CRM: HubSpot's id gets its own attribute, records match on the domain.
    back = _automapped(
        jobs,
        name="hs-companies-in",
        direction="inbound",
        connection="hubspot",
        remote_object="companies",
        object_type="account",
        fields=["hs_object_id", "name", "domain", "industry"],
    )
    targets = {r.source: r.target for r in back.mapping if r.source}
    assert targets["hs_object_id"] == "hubspot_company_id"
    assert "account_id" not in targets.values()
    assert back.match_on == ["domain"]
    jobs.create(back)
    for company_id in hubspot.ids("companies")[:5]:
        hubspot.update("companies", company_id, {"industry": "RETAIL"})
    _, came_back = jobs.run("hs-companies-in")
    assert came_back.status == "succeeded", came_back.message
    assert (came_back.counts.by_link, came_back.counts.created, came_back.counts.failed) == (40, 0, 0)
    assert _keys(jobs) == keys_before
    first = jobs.hub.find_record("account", sf_ids[0])
    assert first is not None and first.values["hubspot_company_id"] in hubspot.ids("companies")


def test_given_the_old_automap_mapping_hubspot_ids_to_the_key_then_each_attempt_is_a_key_conflict(
    crms: tuple[JobService, sf.SalesforceEmulator, hs.HubSpotEmulator],
) -> None:
    jobs, salesforce, hubspot = crms
    jobs.create(JobSpec.model_validate({"name": "sf-accounts", "connection": "sf", **SF_ACCOUNTS}))
    jobs.run("sf-accounts")
    jobs.create(
        JobSpec.model_validate(
            {
                "name": "hs-companies-out",
                "direction": "outbound",
                "connection": "hubspot",
                "remote_object": "companies",
                "object_type": "account",
                "mapping": [{"source": "name", "target": "name"}, {"source": "domain", "target": "domain"}],
            }
        )
    )
    jobs.run("hs-companies-out")
    keys_before = _keys(jobs)
    renamed = hubspot.ids("companies")[0]
    hubspot.update("companies", renamed, {"name": "Renamed In HubSpot"})
    jobs.create(
        JobSpec.model_validate(
            {
                "name": "hs-companies-in",
                "direction": "inbound",
                "connection": "hubspot",
                "remote_object": "companies",
                "object_type": "account",
                "mapping": [
                    {"source": "hs_object_id", "target": "account_id"},
                    {"source": "name", "target": "name"},
                ],
            }
        )
    )
    run, outcome = jobs.run("hs-companies-in")
    assert outcome.counts.by_link == 40
    assert outcome.counts.failed == 0  # a key conflict does not fail the record: the rest applies
    conflicts = [e for e in _ledger(jobs, run.id) if e.error_class == "KeyConflict"]
    assert len(conflicts) == 40
    sample = next(e for e in conflicts if e.remote_id == renamed)
    record = jobs.hub.get_record(sample.hub_id)
    assert sample.message.startswith(
        f"key conflict: account_id is {record.values['account_id']}, this job would set {renamed}"
    )
    assert record.values["name"] == "Renamed In HubSpot"
    assert _keys(jobs) == keys_before
    assert jobs.hub.find_record("account", record.values["account_id"]).hub_id == record.hub_id  # type: ignore[union-attr]

    # A full Salesforce sync afterwards still finds every account by its Salesforce id, through its link.
    _, full = jobs.run("sf-accounts", full=True)
    assert (full.counts.by_link, full.counts.created) == (40, 0)
    assert _keys(jobs) == keys_before
    # Rebuild mapping of the HubSpot job re-matches by its rules and leaves the Salesforce keys alone.
    # Its key mapping (HubSpot ids) finds no account and may create: 40 HubSpot-keyed duplicates
    # would be the old behaviour's echo; the Salesforce keys are untouched either way.
    rebuilt_run, rebuilt = jobs.rebuild_mapping("hs-companies-in")
    assert _keys(jobs).items() >= keys_before.items()
    assert rebuilt.counts.by_link == 0


def test_given_companies_only_hubspot_has_then_they_are_created_without_a_key_and_linked(
    jobs: JobService,
) -> None:
    salesforce = sf.SalesforceEmulator(accounts=10, contacts=0, seed=4)
    hubspot = hs.HubSpotEmulator(companies=15, contacts=0, seed=9)
    with serve_in_thread(salesforce.app) as sf_url, serve_in_thread(hubspot.app) as hs_url:
        _add_sf(jobs, "sf", sf_url)
        jobs.connections.add(
            "hubspot", "hubspot", {"base_url": hs_url}, {"access_token": hs.DEFAULT_PRIVATE_APP_TOKEN}
        )
        jobs.create(JobSpec.model_validate({"name": "sf-accounts", "connection": "sf", **SF_ACCOUNTS}))
        jobs.run("sf-accounts")
        # One HubSpot company shares a Salesforce account's domain: it is that account.
        shared = jobs.hub.list_records("account", limit=1)[0]
        first = hubspot.ids("companies")[0]
        hubspot.update("companies", first, {"domain": f"WWW.{shared.values['domain'].upper()}"})
        spec = _automapped(
            jobs,
            name="hs-companies-in",
            direction="inbound",
            connection="hubspot",
            remote_object="companies",
            object_type="account",
            fields=["hs_object_id", "name", "domain"],
        )
        jobs.create(spec)
        _, outcome = jobs.run("hs-companies-in")
        assert outcome.status == "succeeded", outcome.message
        assert (outcome.counts.by_match, outcome.counts.created) == (1, 14)
        records = jobs.hub.list_records("account", limit=100)
        assert len(records) == 24  # 10 Salesforce accounts + 15 HubSpot companies, one of them the same
        assert sum(1 for r in records if r.key is None) == 14
        merged = jobs.hub.get_record(shared.hub_id)
        assert merged.key == shared.key and merged.values["hubspot_company_id"] == first
        routes = _routes(jobs, shared.hub_id)
        assert sorted(routes.values()) == ["created", "match:domain"]
        keyless = next(r for r in records if r.key is None)
        assert list(_routes(jobs, keyless.hub_id).values()) == ["created"]
        _, again = jobs.run("hs-companies-in", full=True)
        assert (again.counts.unchanged, again.counts.by_link, again.counts.created) == (15, 15, 0)


def test_given_two_salesforce_orgs_with_the_same_ids_then_they_never_merge_unless_a_rule_says_so(
    jobs: JobService,
) -> None:
    org_a = sf.SalesforceEmulator(accounts=25, contacts=0, seed=21)
    org_b = sf.SalesforceEmulator(accounts=25, contacts=0, seed=21)  # same seed: the same ids and domains
    assert org_a.ids("Account") == org_b.ids("Account")
    with serve_in_thread(org_a.app) as url_a, serve_in_thread(org_b.app) as url_b:
        _add_sf(jobs, "sf-a", url_a)
        _add_sf(jobs, "sf-b", url_b)
        jobs.create(JobSpec.model_validate({"name": "a-accounts", "connection": "sf-a", **SF_ACCOUNTS}))
        jobs.run("a-accounts")
        keys_before = _keys(jobs)
        # Org B keyed by its own ids, as org A is: the ids coincide, the records are not the same.
        jobs.create(JobSpec.model_validate({"name": "b-accounts", "connection": "sf-b", **SF_ACCOUNTS}))
        run, clash = jobs.run("b-accounts")
        assert (clash.counts.created, clash.counts.updated, clash.counts.failed) == (0, 0, 25)
        ledger = _ledger(jobs, run.id)
        assert {e.error_class for e in ledger} == {"IdentityConflict"}
        assert "identity conflict: account account_id=" in ledger[0].message
        assert _keys(jobs) == keys_before
        with jobs.hub.db.read() as session:
            assert all(len(links_of_record(session, h)) == 1 for h in keys_before)

        # Automapped for the second org: its ids in their own attribute, matched on the domain.
        spec = _automapped(
            jobs,
            name="b-accounts-2",
            direction="inbound",
            connection="sf-b",
            remote_object="Account",
            object_type="account",
            fields=["Id", "Name", "Website"],
        )
        targets = {r.source or r.expression: r.target for r in spec.mapping}
        assert targets["Id"] == "salesforce_account_id"
        assert targets["DOMAIN(Website)"] == "domain"
        assert spec.match_on == ["domain"]
        jobs.delete("b-accounts")
        jobs.create(spec)
        _, matched = jobs.run("b-accounts-2")
        assert (matched.counts.by_match, matched.counts.created, matched.counts.failed) == (25, 0, 0)
        assert _keys(jobs) == keys_before
        hub_id = next(iter(keys_before))
        assert sorted(_routes(jobs, hub_id).values()) == ["created", "match:domain"]


def test_given_the_key_named_in_match_on_then_equal_ids_of_two_connections_meet(jobs: JobService) -> None:
    org_a = sf.SalesforceEmulator(accounts=5, contacts=0, seed=2)
    org_b = sf.SalesforceEmulator(accounts=5, contacts=0, seed=2)
    with serve_in_thread(org_a.app) as url_a, serve_in_thread(org_b.app) as url_b:
        _add_sf(jobs, "sf-a", url_a)
        _add_sf(jobs, "sf-b", url_b)
        jobs.create(JobSpec.model_validate({"name": "a", "connection": "sf-a", **SF_ACCOUNTS}))
        jobs.run("a")
        jobs.create(
            JobSpec.model_validate(
                {"name": "b", "connection": "sf-b", "match_on": ["account_id"], **SF_ACCOUNTS}
            )
        )
        _, shared = jobs.run("b")
        assert (shared.counts.by_key, shared.counts.created, shared.counts.failed) == (5, 0, 0)
        assert len(jobs.hub.list_records("account", limit=100)) == 5


def test_given_a_match_rule_finding_two_records_then_nothing_is_merged_and_the_ledger_names_both(
    jobs: JobService, files: Any
) -> None:
    first, second = jobs.hub.upsert(
        "account", [{"account_id": "A-1", "domain": "acme.com"}, {"account_id": "A-2", "domain": "ACME.com"}]
    ).results
    (files / "accounts.csv").write_text(
        "id,name,website\n1,Acme,https://www.acme.com/about\n2,Solo,solo.io\n"
    )
    jobs.create(
        JobSpec.model_validate(
            {
                "name": "csv-accounts",
                "direction": "inbound",
                "connection": "files",
                "remote_object": "accounts.csv",
                "object_type": "account",
                "match_on": ["domain"],
                "mapping": [
                    {"source": "name", "target": "name"},
                    {"expression": "DOMAIN(website)", "target": "domain"},
                ],
                "settings": {"error_threshold_percent": 60},
            }
        )
    )
    run, outcome = jobs.run("csv-accounts")
    assert (outcome.counts.failed, outcome.counts.created, outcome.counts.by_match) == (1, 1, 0)
    (entry,) = _ledger(jobs, run.id)
    assert entry.error_class == "AmbiguousMatch"
    assert f"finds 2 hub records ({first.hub_id}, {second.hub_id})" in entry.message
    assert "name" not in jobs.hub.get_record(first.hub_id).values
