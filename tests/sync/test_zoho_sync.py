"""Inbound and outbound jobs end to end against the Zoho CRM emulator over HTTP (issue 14)."""

from collections.abc import Iterator

import pytest

from crmhub.emulators import zoho
from crmhub.emulators.serve import serve_in_thread
from crmhub.mapping.templates import template_parent
from crmhub.services.jobs import JobService
from crmhub.sync.spec import JobSpec


@pytest.fixture
def emulator() -> zoho.ZohoEmulator:
    return zoho.ZohoEmulator(accounts=120, contacts=150, leads=0, users=3, seed=5)


@pytest.fixture
def zoho_jobs(jobs: JobService, emulator: zoho.ZohoEmulator) -> Iterator[JobService]:
    with serve_in_thread(emulator.app) as url:
        jobs.connections.add(
            "zoho",
            "zoho",
            {"accounts_url": url},
            {
                "client_id": zoho.DEFAULT_CLIENT_ID,
                "client_secret": zoho.DEFAULT_CLIENT_SECRET,
                "refresh_token": zoho.DEFAULT_REFRESH_TOKEN,
            },
        )
        yield jobs


def _automapped(jobs: JobService, **spec) -> JobSpec:  # type: ignore[no-untyped-def]
    draft = JobSpec.model_validate(spec)
    return draft.model_copy(update={"mapping": [p.row for p in jobs.automap(draft)]})


def test_accounts_and_contacts_come_in_by_automap_with_the_account_lookup_resolved(
    zoho_jobs: JobService, emulator: zoho.ZohoEmulator
) -> None:
    accounts = _automapped(
        zoho_jobs,
        name="zoho-accounts",
        direction="inbound",
        connection="zoho",
        remote_object="Accounts",
        object_type="account",
        fields=["id", "Account_Name", "Industry", "Employees", "Partner_Status", "Owner.email"],
    )
    mapped = {r.source: r.target for r in accounts.mapping}
    assert (mapped["id"], mapped["Account_Name"], mapped["Employees"]) == ("account_id", "name", "employees")
    assert not zoho_jobs.validate(accounts)
    zoho_jobs.create(accounts)
    _, first = zoho_jobs.run("zoho-accounts")
    assert (first.status, first.counts.created) == ("succeeded", 120), first.message

    contacts = JobSpec.model_validate(
        {
            "name": "zoho-contacts",
            "direction": "inbound",
            "connection": "zoho",
            "remote_object": "Contacts",
            "object_type": "contact",
            "mapping": [
                {"source": "Email", "target": "email"},
                {"source": "Last_Name", "target": "last_name"},
                {"source": "Account_Name", "target": "account"},
                {
                    "source": "Account_Name.Account_Name",
                    "target": "title",
                    "note": "account name, for the test",
                },
            ],
        }
    )
    zoho_jobs.create(contacts)
    _, second = zoho_jobs.run("zoho-contacts")
    assert (second.status, second.counts.created) == ("succeeded", 150), second.message
    linked = [c for c in zoho_jobs.hub.list_records("contact", limit=500) if c.values.get("account")]
    with_account = [i for i in emulator.ids("Contacts") if emulator.get("Contacts", i)["Account_Name"]]  # type: ignore[index]
    assert 0 < len(linked) == len(with_account) < 150  # every twentieth seeded contact has no account
    sample = linked[0]
    assert zoho_jobs.hub.get_record(sample.values["account"]).values["name"] == sample.values["title"]

    # Rename one account and delete another in Zoho: the next incremental run moves exactly that.
    ids = emulator.ids("Accounts")
    emulator.update("Accounts", ids[0], {"Account_Name": "Renamed In Zoho"})
    emulator.delete("Accounts", ids[1])
    zoho_jobs.update(
        "zoho-accounts",
        accounts.model_copy(
            update={"settings": accounts.settings.model_copy(update={"delete_policy": "soft_delete"})}
        ),
    )
    _, third = zoho_jobs.run("zoho-accounts")
    assert (third.counts.updated, third.counts.deleted) == (1, 1), third.message
    assert zoho_jobs.hub.find_record("account", ids[0]).values["name"] == "Renamed In Zoho"


def test_contacts_go_out_to_zoho_under_their_account_with_the_template(
    zoho_jobs: JobService, emulator: zoho.ZohoEmulator
) -> None:
    zoho_jobs.create(
        JobSpec.model_validate(
            {
                "name": "zoho-accounts",
                "direction": "inbound",
                "connection": "zoho",
                "remote_object": "Accounts",
                "object_type": "account",
                "mapping": [
                    {"source": "id", "target": "account_id"},
                    {"source": "Account_Name", "target": "name"},
                ],
            }
        )
    )
    zoho_jobs.run("zoho-accounts")
    account = zoho_jobs.hub.list_records("account", limit=1)[0]
    zoho_jobs.hub.upsert(
        "contact",
        [
            {
                "email": "ada@example.org",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "account": account.hub_id,
            }
        ],
    )
    parent_link, parent_field = template_parent("zoho", "Contacts", "contact")  # type: ignore[misc]
    spec = _automapped(
        zoho_jobs,
        name="zoho-contacts-out",
        direction="outbound",
        connection="zoho",
        remote_object="Contacts",
        object_type="contact",
        match_field="Email",
        parent_object="Accounts",
        parent_link=parent_link,
        parent_field=parent_field,
    )
    mapped = {r.source: r.target for r in spec.mapping}
    assert (mapped["email"], mapped["last_name"]) == ("Email", "Last_Name")  # from the Zoho contact template
    zoho_jobs.create(spec)
    _, outcome = zoho_jobs.run("zoho-contacts-out")
    assert (outcome.status, outcome.counts.created) == ("succeeded", 1), outcome.message
    ada = next(
        c
        for c in (emulator.get("Contacts", i) for i in emulator.ids("Contacts"))
        if c and c["Email"] == "ada@example.org"
    )
    assert (ada["First_Name"], ada["Last_Name"]) == ("Ada", "Lovelace")
    assert ada["Account_Name"]["id"] == account.values["account_id"]  # under the account's Zoho record
    _, again = zoho_jobs.run("zoho-contacts-out")
    assert again.counts.sent == 0
