"""Inbound and outbound jobs end to end against the HubSpot emulator over HTTP."""

from collections.abc import Iterator

import pytest

from crmhub.emulators import hubspot as hs
from crmhub.emulators.serve import serve_in_thread
from crmhub.services.jobs import JobService
from crmhub.sync.spec import JobSpec


@pytest.fixture
def emulator() -> hs.HubSpotEmulator:
    return hs.HubSpotEmulator(companies=250, contacts=300, seed=5)


@pytest.fixture
def hs_jobs(jobs: JobService, emulator: hs.HubSpotEmulator) -> Iterator[JobService]:
    with serve_in_thread(emulator.app) as url:
        jobs.connections.add(
            "hubspot", "hubspot", {"base_url": url}, {"access_token": hs.DEFAULT_PRIVATE_APP_TOKEN}
        )
        yield jobs


def _automapped(jobs: JobService, **spec) -> JobSpec:  # type: ignore[no-untyped-def]
    draft = JobSpec.model_validate(spec)
    return draft.model_copy(update={"mapping": [p.row for p in jobs.automap(draft)]})


def test_companies_and_contacts_come_in_by_automap_with_the_company_reference_resolved(
    hs_jobs: JobService, emulator: hs.HubSpotEmulator
) -> None:
    companies = _automapped(
        hs_jobs,
        name="hs-companies",
        direction="inbound",
        connection="hubspot",
        remote_object="companies",
        object_type="account",
        fields=["hs_object_id", "name", "domain", "industry", "numberofemployees"],
    )
    assert {r.source: r.target for r in companies.mapping}["hs_object_id"] == "account_id"
    assert not hs_jobs.validate(companies)
    hs_jobs.create(companies)
    _, first = hs_jobs.run("hs-companies")
    assert (first.status, first.counts.created) == ("succeeded", 250), first.message

    contacts = JobSpec.model_validate(
        {
            "name": "hs-contacts",
            "direction": "inbound",
            "connection": "hubspot",
            "remote_object": "contacts",
            "object_type": "contact",
            "mapping": [
                {"source": "email", "target": "email"},
                {"source": "firstname", "target": "first_name"},
                {"source": "lastname", "target": "last_name"},
                {"source": "associatedcompanyid", "target": "account"},
                {"source": "associatedcompany.name", "target": "title", "note": "company name, for the test"},
            ],
        }
    )
    hs_jobs.create(contacts)
    _, second = hs_jobs.run("hs-contacts")
    assert second.status == "succeeded", second.message
    assert second.counts.created == 300
    linked = [c for c in hs_jobs.hub.list_records("contact", limit=500) if c.values.get("account")]
    with_company = [
        i
        for i in emulator.ids("contacts")
        if emulator.get("contacts", i)["properties"].get("associatedcompanyid")
    ]
    assert 0 < len(linked) == len(with_company) < 300  # some seeded contacts have no company
    sample = linked[0]
    company = hs_jobs.hub.get_record(sample.values["account"])
    assert company.values["name"] == sample.values["title"]

    # Change two companies and archive one in HubSpot: the next run moves exactly that.
    ids = emulator.ids("companies")
    emulator.update("companies", ids[0], {"industry": "BANKING"})
    emulator.update("companies", ids[1], {"name": "Renamed"})
    emulator.delete("companies", ids[2])
    hs_jobs.update(
        "hs-companies",
        companies.model_copy(
            update={"settings": companies.settings.model_copy(update={"delete_policy": "soft_delete"})}
        ),
    )
    _, third = hs_jobs.run("hs-companies")
    assert (third.counts.updated, third.counts.deleted) == (2, 1), third.message
    assert hs_jobs.hub.find_record("account", ids[1]).values["name"] == "Renamed"


def test_contacts_go_out_to_hubspot_with_their_company_as_primary_association(
    hs_jobs: JobService, emulator: hs.HubSpotEmulator
) -> None:
    hs_jobs.create(
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
                ],
            }
        )
    )
    hs_jobs.run("hs-companies")
    account = hs_jobs.hub.list_records("account", limit=1)[0]
    hs_jobs.hub.upsert(
        "contact",
        [
            {
                "email": "grace@example.org",
                "first_name": "Grace",
                "last_name": "Hopper",
                "account": account.hub_id,
            },
        ],
    )
    spec = _automapped(
        hs_jobs,
        name="hs-contacts-out",
        direction="outbound",
        connection="hubspot",
        remote_object="contacts",
        object_type="contact",
        match_field="email",
        parent_object="companies",
        parent_link="account",
        parent_field="associatedcompanyid",
    )
    assert {r.source: r.target for r in spec.mapping}["email"] == "email"  # from the HubSpot contact template
    hs_jobs.create(spec)
    _, outcome = hs_jobs.run("hs-contacts-out")
    assert (outcome.status, outcome.counts.created) == ("succeeded", 1), outcome.message
    created = [emulator.get("contacts", i) for i in emulator.ids("contacts")]
    grace = next(c for c in created if c and c["properties"].get("email") == "grace@example.org")
    assert grace["properties"]["firstname"] == "Grace"
    # the primary company is the account's HubSpot company
    from crmhub.connectors.hubspot import HubSpotConnector  # noqa: F401 - the read below goes through the job

    hs_jobs.create(
        JobSpec.model_validate(
            {
                "name": "hs-contacts-in",
                "direction": "inbound",
                "connection": "hubspot",
                "remote_object": "contacts",
                "object_type": "contact",
                "filter": 'email = "grace@example.org"',
                "mapping": [
                    {"source": "email", "target": "email"},
                    {"source": "associatedcompanyid", "target": "account"},
                ],
            }
        )
    )
    _, back = hs_jobs.run("hs-contacts-in")
    assert back.counts.read == 1
    assert hs_jobs.hub.find_record("contact", "grace@example.org").values["account"] == account.hub_id
    _, again = hs_jobs.run("hs-contacts-out")
    assert again.counts.sent == 0
