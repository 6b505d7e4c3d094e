"""Inbound and outbound jobs end to end against the Salesforce emulator over HTTP."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from crmhub.emulators import salesforce as sf
from crmhub.emulators.serve import serve_in_thread
from crmhub.services.jobs import JobService
from crmhub.sync.spec import JobSpec

ACCOUNT_MAPPING = [
    {"source": "Id", "target": "account_id"},
    {"source": "Name", "target": "name"},
    {"source": "Industry", "target": "industry"},
    {"source": "NumberOfEmployees", "target": "employees"},
    {"source": "Products__c", "target": "products"},
    {"source": "Owner.Email", "target": "owner_email"},
]


@pytest.fixture
def emulator() -> sf.SalesforceEmulator:
    return sf.SalesforceEmulator(accounts=300, contacts=200, seed=7)


@pytest.fixture
def sf_jobs(jobs: JobService, emulator: sf.SalesforceEmulator) -> Iterator[JobService]:
    with serve_in_thread(emulator.app) as url:
        jobs.connections.add(
            "sf",
            "salesforce",
            {"login_url": url, "username": sf.DEFAULT_USERNAME},
            sf.default_credentials(),
        )
        yield jobs


def accounts_job(**settings) -> JobSpec:  # type: ignore[no-untyped-def]
    return JobSpec.model_validate(
        {
            "name": "sf-accounts",
            "direction": "inbound",
            "connection": "sf",
            "remote_object": "Account",
            "object_type": "account",
            "mapping": ACCOUNT_MAPPING,
            "settings": {"full_sync_every": None, **settings},
        }
    )


def test_given_5000_records_sharing_one_modstamp_when_synced_incrementally_then_none_lost_or_doubled(
    jobs: JobService, emulator: sf.SalesforceEmulator
) -> None:
    big = sf.SalesforceEmulator(accounts=6000, contacts=0, seed=1)
    with serve_in_thread(big.app) as url:
        jobs.connections.add(
            "sf",
            "salesforce",
            {"login_url": url, "username": sf.DEFAULT_USERNAME},
            sf.default_credentials(),
        )
        jobs.create(accounts_job())
        _, first = jobs.run("sf-accounts")
        assert first.counts.created == 6000
        tie = datetime.now(UTC) - timedelta(seconds=30)
        tied = big.set_modstamp("Account", tie, count=5000)
        for record_id in tied[:5000:50]:  # change 100 of them, keeping the shared modstamp
            big.update("Account", record_id, {"Industry": "Tied"})
        big.set_modstamp("Account", tie, ids=tied)
        _, second = jobs.run("sf-accounts")
        assert second.counts.read == 5000  # the tie is read once, whole
        assert (second.counts.updated, second.counts.unchanged) == (100, 4900)
        _, third = jobs.run("sf-accounts")
        assert third.counts.read <= 5000 and third.counts.updated == 0  # re-read in the lookback only
        assert jobs.hub.count_records("account") == 6000
        assert len(jobs.hub.list_records("account", where={"industry": "Tied"}, limit=1000)) == 100


def test_given_modstamps_ahead_of_the_run_when_read_then_the_cursor_stops_at_the_runs_start(
    sf_jobs: JobService, emulator: sf.SalesforceEmulator
) -> None:
    """A CRM clock ahead of ours must not carry the cursor past changes made after the run began.

    Records stamped after the run's start wait for a run that starts after their stamp.
    """
    sf_jobs.create(accounts_job())
    ahead = datetime.now(UTC) + timedelta(hours=1)
    early = emulator.set_modstamp("Account", ahead, count=5)
    run, first = sf_jobs.run("sf-accounts")
    assert (first.counts.read, first.counts.created) == (295, 295), first.message
    state = sf_jobs.get("sf-accounts")[0].state
    cursor = state.get("cursor") or state["full_sync"]["cursor"]
    started = run.started_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert cursor["modstamp"] <= started  # not an hour ahead
    # A change after the run began, stamped earlier than the records from the future.
    target = next(i for i in reversed(emulator.ids("Account")) if i not in early)
    emulator.update("Account", target, {"Industry": "Changed after the cap"})
    emulator.set_modstamp("Account", datetime.now(UTC), ids=[target])
    _, second = sf_jobs.run("sf-accounts")
    assert (second.counts.updated, second.counts.created) == (1, 0), second.message
    assert sf_jobs.hub.find_record("account", target).values["industry"] == "Changed after the cap"


def test_most_recent_wins_keeps_the_newer_hub_value(
    sf_jobs: JobService, emulator: sf.SalesforceEmulator
) -> None:
    sf_jobs.create(accounts_job(most_recent_wins=True))
    sf_jobs.run("sf-accounts")
    target = emulator.ids("Account", limit=1)[0]
    record = sf_jobs.hub.find_record("account", target)
    # A newer value arrives in the hub from elsewhere (a later source time) …
    from crmhub.store.records import Stamp

    future = datetime.now(UTC) + timedelta(days=1)
    sf_jobs.hub.upsert(
        "account",
        [{"hub_id": record.hub_id, "industry": "From enrichment"}],
        match="hub_id",
        source_times=[future],
        most_recent=True,
        stamp=Stamp(job="enrichment"),
    )
    # … and then Salesforce changes the same attribute with an older modstamp: the hub keeps its value.
    emulator.update("Account", target, {"Industry": "Banking", "Name": "Renamed in Salesforce"})
    _, outcome = sf_jobs.run("sf-accounts")
    assert outcome.counts.updated == 1
    after = sf_jobs.hub.find_record("account", target)
    assert after.values["industry"] == "From enrichment"
    assert after.values["name"] == "Renamed in Salesforce"


def test_hub_ids_are_stamped_into_salesforce_and_remote_ids_kept_in_the_hub(
    sf_jobs: JobService, emulator: sf.SalesforceEmulator
) -> None:
    from crmhub.store.schema import AttributeSpec

    sf_jobs.hub.add_attribute("account", AttributeSpec("salesforce_id", "text"))
    sf_jobs.create(accounts_job(stamp_hub_id_field="Hub_ID__c", remote_id_attribute="salesforce_id"))
    _, outcome = sf_jobs.run("sf-accounts")
    assert outcome.status == "succeeded", outcome.message
    for record_id in emulator.ids("Account", limit=5):
        remote = emulator.get("Account", record_id)
        hub_record = sf_jobs.hub.find_record("account", record_id)
        assert remote["Hub_ID__c"] == hub_record.hub_id
        assert hub_record.values["salesforce_id"] == record_id


def test_deleted_in_salesforce_is_soft_deleted_in_the_hub(
    sf_jobs: JobService, emulator: sf.SalesforceEmulator
) -> None:
    sf_jobs.create(accounts_job(delete_policy="soft_delete"))
    sf_jobs.run("sf-accounts")
    victim = emulator.ids("Account", limit=1)[0]
    emulator.delete("Account", victim)
    _, outcome = sf_jobs.run("sf-accounts")
    assert outcome.counts.deleted == 1
    assert sf_jobs.hub.find_record("account", victim).deleted_at is not None
    assert sf_jobs.hub.count_records("account") == 299


def test_contacts_go_out_attached_to_their_linked_account(
    sf_jobs: JobService, emulator: sf.SalesforceEmulator
) -> None:
    sf_jobs.create(accounts_job())
    sf_jobs.run("sf-accounts")
    account = sf_jobs.hub.list_records("account", limit=1)[0]
    sf_jobs.hub.upsert(
        "contact",
        [
            {
                "email": "ada@example.org",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "account": account.hub_id,
            },
            {
                "email": "nolast@example.org",
                "first_name": "No",
                "account": account.hub_id,
            },  # LastName is required
        ],
    )
    sf_jobs.create(
        JobSpec.model_validate(
            {
                "name": "contacts-out",
                "direction": "outbound",
                "connection": "sf",
                "remote_object": "Contact",
                "parent_object": "Account",
                "parent_link": "account",
                "parent_field": "AccountId",
                "object_type": "contact",
                "mapping": [
                    {"source": "email", "target": "Email"},
                    {"source": "first_name", "target": "FirstName"},
                    {"source": "last_name", "target": "LastName"},
                ],
                "settings": {"stamp_hub_id_field": "Hub_ID__c", "error_threshold_percent": 60},
            }
        )
    )
    _, outcome = sf_jobs.run("contacts-out")
    assert (outcome.counts.created, outcome.counts.failed) == (1, 1), outcome.message
    created = [
        c
        for c in (emulator.get("Contact", i) for i in emulator.ids("Contact"))
        if c["Email"] == "ada@example.org"
    ]
    assert created[0]["AccountId"] == account.values["account_id"]
    with sf_jobs.db.read() as session:
        from crmhub.store import runs as run_repo

        run_id = run_repo.list_runs(session, limit=1)[0].id
        ledger = run_repo.errors(session, run_id)
    assert ledger[0].error_class == "REQUIRED_FIELD_MISSING" and "LastName" in (ledger[0].field or "")
    # The failed one is retried on the next run although nothing changed; the created one is not resent.
    _, again = sf_jobs.run("contacts-out")
    assert (again.counts.unchanged, again.counts.failed, again.counts.sent) == (1, 1, 0)


def test_given_a_contact_that_failed_to_go_out_when_nothing_changes_then_each_next_run_retries_it(
    sf_jobs: JobService, emulator: sf.SalesforceEmulator
) -> None:
    """The retry comes from the ledger, not from the record looking recently changed."""
    from crmhub.store import runs as run_repo
    from crmhub.store.models import Record

    sf_jobs.hub.upsert(
        "contact",
        [
            {"email": "ada@example.org", "first_name": "Ada", "last_name": "Lovelace"},
            {"email": "nolast@example.org", "first_name": "No"},  # LastName is required
        ],
    )
    # Written long before any run: only a retry, not the watermark's skew, can bring one back.
    with sf_jobs.db.begin() as session:
        session.query(Record).update({Record.updated_at: datetime.now(UTC) - timedelta(hours=1)})
    sf_jobs.create(
        JobSpec.model_validate(
            {
                "name": "contacts-out",
                "direction": "outbound",
                "connection": "sf",
                "remote_object": "Contact",
                "object_type": "contact",
                "mapping": [
                    {"source": "email", "target": "Email"},
                    {"source": "first_name", "target": "FirstName"},
                    {"source": "last_name", "target": "LastName"},
                ],
                "settings": {"error_threshold_percent": 60},
            }
        )
    )
    _, first = sf_jobs.run("contacts-out")
    assert (first.counts.created, first.counts.failed) == (1, 1), first.message
    for _ in range(2):  # retried on every run while it fails, not only on the next one
        run, again = sf_jobs.run("contacts-out")
        assert (again.counts.failed, again.counts.sent, again.counts.created) == (1, 0, 0), again.message
        with sf_jobs.db.read() as session:
            ledger = run_repo.errors(session, run.id)
        assert [e.error_class for e in ledger] == ["REQUIRED_FIELD_MISSING"]
    sf_jobs.hub.upsert("contact", [{"email": "nolast@example.org", "last_name": "Last"}])
    _, fixed = sf_jobs.run("contacts-out")
    assert (fixed.counts.created, fixed.counts.failed) == (1, 0), fixed.message
    _, quiet = sf_jobs.run("contacts-out")
    assert (quiet.counts.sent, quiet.counts.failed, quiet.counts.created) == (0, 0, 0)
    assert sorted(
        c["Email"]
        for c in (emulator.get("Contact", i) for i in emulator.ids("Contact"))
        if c["Email"] in {"ada@example.org", "nolast@example.org"}
    ) == [
        "ada@example.org",
        "nolast@example.org",
    ]


def test_outbound_automap_starts_from_the_crm_objects_template(sf_jobs: JobService) -> None:
    draft = JobSpec.model_validate(
        {
            "name": "accounts-out",
            "direction": "outbound",
            "connection": "sf",
            "remote_object": "Account",
            "object_type": "account",
        }
    )
    proposals = sf_jobs.automap(draft)
    rows = {p.row.source: (p.row.target, p.confidence) for p in proposals}
    assert rows["name"] == ("Name", 1.0)
    assert rows["employees"] == ("NumberOfEmployees", 1.0)
    assert rows["products"] == ("Products__c", 1.0)
    assert len({p.row.target for p in proposals}) == len(proposals)  # no CRM field written twice
