"""An outbound record whose every mapped field is left out sends nothing: no call, no modstamp moved.

Echo suppression leaves out the values that arrived from the same connection. When that leaves
nothing to send, the record counts as unchanged, the CRM is not called, its modstamp stays, and the
next incremental inbound run therefore has nothing new to read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from crmhub.emulators import hubspot as hs
from crmhub.emulators import salesforce as sf
from crmhub.emulators.serve import serve_in_thread
from crmhub.services.jobs import JobService
from crmhub.sync.spec import JobSpec

ACCOUNTS = 120


class Crm:
    """One CRM's emulator with an inbound accounts job and an outbound job echoing its fields back."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        if kind == "salesforce":
            self.emulator: Any = sf.SalesforceEmulator(accounts=ACCOUNTS, contacts=0, seed=11)
            self.object, self.id_field = "Account", "Id"
            self.fields = {"name": "Name", "employees": "NumberOfEmployees"}
        else:
            self.emulator = hs.HubSpotEmulator(companies=ACCOUNTS, contacts=0, seed=11)
            self.object, self.id_field = "companies", "hs_object_id"
            self.fields = {"name": "name", "employees": "numberofemployees"}

    def connect(self, jobs: JobService, url: str) -> None:
        if self.kind == "salesforce":
            jobs.connections.add(
                "crm",
                "salesforce",
                {"login_url": url, "username": sf.DEFAULT_USERNAME},
                sf.default_credentials(),
            )
        else:
            jobs.connections.add(
                "crm", "hubspot", {"base_url": url}, {"access_token": hs.DEFAULT_PRIVATE_APP_TOKEN}
            )

    def modstamps(self) -> dict[str, str]:
        out = {}
        for record_id in self.emulator.ids(self.object):
            record = self.emulator.get(self.object, record_id)
            out[record_id] = (
                record["SystemModstamp"]
                if self.kind == "salesforce"
                else record["properties"]["hs_lastmodifieddate"]
            )
        return out

    def inbound(self) -> JobSpec:
        mapping = [{"source": self.id_field, "target": "account_id"}]
        mapping += [{"source": remote, "target": attr} for attr, remote in self.fields.items()]
        return JobSpec.model_validate(
            {
                "name": "accounts-in",
                "direction": "inbound",
                "connection": "crm",
                "remote_object": self.object,
                "object_type": "account",
                "mapping": mapping,
                "settings": {"full_sync_every": None},
            }
        )

    def outbound(self) -> JobSpec:
        return JobSpec.model_validate(
            {
                "name": "accounts-out",
                "direction": "outbound",
                "connection": "crm",
                "remote_object": self.object,
                "object_type": "account",
                "mapping": [{"source": attr, "target": remote} for attr, remote in self.fields.items()],
            }
        )


@pytest.fixture(params=["salesforce", "hubspot"])
def crm(request: pytest.FixtureRequest, jobs: JobService) -> Iterator[tuple[Crm, JobService]]:
    crm = Crm(request.param)
    with serve_in_thread(crm.emulator.app) as url:
        crm.connect(jobs, url)
        yield crm, jobs


def test_given_every_mapped_field_came_from_the_same_connection_when_sent_out_then_no_call_is_made_and_no_modstamp_moves(
    crm: tuple[Crm, JobService],
) -> None:
    c, jobs = crm
    jobs.create(c.inbound())
    _, loaded = jobs.run("accounts-in")
    assert (loaded.status, loaded.counts.created) == ("succeeded", ACCOUNTS), loaded.message
    jobs.create(c.outbound())
    before, calls_before = c.modstamps(), c.emulator.usage.used

    _, outcome = jobs.run("accounts-out")

    assert outcome.status == "succeeded", outcome.message
    assert outcome.counts.as_dict() == {
        "read": ACCOUNTS,
        "created": 0,
        "updated": 0,
        "unchanged": ACCOUNTS,
        "ignored": 0,
        "deleted": 0,
        "failed": 0,
        "sent": 0,
    }
    assert c.emulator.usage.used == calls_before  # the CRM saw no request at all, so no write
    assert c.modstamps() == before
    _, inbound_again = jobs.run("accounts-in")  # incremental: nothing changed at the source
    assert inbound_again.counts.read == 0, inbound_again.counts


def test_given_one_field_set_in_the_hub_when_sent_out_then_only_that_record_is_written(
    crm: tuple[Crm, JobService],
) -> None:
    c, jobs = crm
    jobs.create(c.inbound())
    jobs.run("accounts-in")
    jobs.create(c.outbound())
    target = c.emulator.ids(c.object)[3]
    jobs.hub.upsert(
        "account", [{"account_id": target, "employees": 4321}]
    )  # set in the hub, not from the CRM
    before = c.modstamps()

    _, outcome = jobs.run("accounts-out")

    assert (outcome.counts.updated, outcome.counts.unchanged, outcome.counts.sent) == (1, ACCOUNTS - 1, 1)
    after = c.modstamps()
    assert [i for i in after if after[i] != before[i]] == [target]
    record = c.emulator.get(c.object, target)
    employees = (
        record["NumberOfEmployees"] if c.kind == "salesforce" else record["properties"]["numberofemployees"]
    )
    assert str(employees) == "4321"
