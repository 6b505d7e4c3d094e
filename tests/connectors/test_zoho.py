"""The Zoho CRM connector beyond the shared contract: COQL's ceiling, time zones, credits, X-EXTERNAL, auth.

Every case runs the connector against the Zoho emulator over loopback HTTP (the api_domain case puts
a scripted token endpoint in front, since the emulator only ever names itself).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from crmhub.connectors import registry
from crmhub.connectors.base import REMOTE_ID, Capability, archiver, batch_reader
from crmhub.connectors.http import Action
from crmhub.connectors.zoho import ZohoConnector, ZohoCredentials, ZohoSettings
from crmhub.connectors.zoho.connector import ZOHO_ERRORS
from crmhub.emulators.serve import serve_in_thread
from crmhub.emulators.zoho import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    ZohoEmulator,
)
from crmhub.testing import read_all, recording_retry

GOOD = ZohoCredentials(
    client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET, refresh_token=DEFAULT_REFRESH_TOKEN
)


@contextlib.contextmanager
def zoho(
    emulator: ZohoEmulator, credentials: ZohoCredentials = GOOD, **settings: Any
) -> Iterator[ZohoConnector]:
    with serve_in_thread(emulator.app) as url:
        connector = ZohoConnector(
            ZohoSettings(accounts_url=url, **settings), credentials, retry=recording_retry([])
        )
        try:
            yield connector
        finally:
            connector.close()


def test_given_more_rows_than_coql_offsets_reach_when_read_then_a_second_window_reads_the_rest_once_in_order() -> (
    None
):
    emulator = ZohoEmulator(accounts=100_300, contacts=0, leads=0, users=1, seed=2)
    ids = emulator.ids("Accounts")
    # 200 records around row 100,000 share one modstamp (row 99,900's): the cut falls inside them.
    shared = emulator.get("Accounts", ids[99_900])["Modified_Time"]  # type: ignore[index]
    emulator.set_modstamp("Accounts", shared, ids=ids[99_900:100_100])
    with zoho(emulator) as connector:
        records, pages = read_all(connector.read("Accounts", ["Account_Name"]))
    got = [r.id for r in records]
    assert len(got) == len(set(got)) == 100_300
    assert set(got) == set(ids)
    keys = [(r.modstamp, int(r.id)) for r in records]
    assert keys == sorted(keys)
    assert emulator.usage.refused == 0
    # 50 calls of 2,000 reach row 100,000; the second window starts at the shared modstamp.
    assert len(pages) == 51


def test_given_datetimes_in_the_orgs_time_zone_when_read_then_they_arrive_as_utc() -> None:
    emulator = ZohoEmulator(accounts=5, contacts=0, leads=0, users=1, seed=2)
    target = emulator.ids("Accounts")[2]
    emulator.set_modstamp("Accounts", "2024-03-01T10:00:00Z", ids=[target])
    assert emulator.get("Accounts", target)["Modified_Time"] == "2024-03-01T15:30:00+05:30"  # type: ignore[index]
    with zoho(emulator) as connector:
        records, _ = read_all(connector.read("Accounts", ["Account_Name", "Modified_Time"]))
    found = next(r for r in records if r.id == target)
    assert found.modstamp == "2024-03-01T10:00:00.000000Z"
    assert found.values["Modified_Time"] == "2024-03-01T10:00:00.000000Z"


def test_given_reads_of_two_sizes_then_api_credits_are_counted_as_zoho_counts_them() -> None:
    emulator = ZohoEmulator(accounts=1500, contacts=0, leads=0, users=1, seed=2)
    with zoho(emulator) as connector:
        connector.describe("Accounts")  # 1 credit
        read_all(connector.read("Accounts", ["Account_Name"], page_size=1000))  # 2 calls x LIMIT 1000: 2 each
        read_all(connector.read("Accounts", ["Account_Name"], page_size=200, filter=None))  # 8 calls x 1
        used = connector.usage.as_dict()["api_credits"]
    assert used == 1 + 2 * 2 + 8 * 1
    assert emulator.usage.used == used  # the emulator charged the same


def test_given_an_update_matching_an_external_field_then_it_goes_through_x_external() -> None:
    emulator = ZohoEmulator(accounts=30, contacts=0, leads=0, users=1, seed=2)
    keyed = [(i, emulator.get("Accounts", i)["Hub_ID"]) for i in emulator.ids("Accounts")]  # type: ignore[index]
    target, key = next((i, k) for i, k in keyed if k)
    with zoho(emulator) as connector:
        results = connector.write(
            "Accounts",
            [
                {"Hub_ID": key, "Account_Name": "Renamed By Hub ID"},
                {"Hub_ID": "HUB-NOBODY", "Account_Name": "x"},
            ],
            mode="update",
            match="Hub_ID",
        )
    assert [r.ok for r in results] == [True, False]
    assert results[0].remote_id == target
    assert results[1].error_code == "INVALID_DATA"
    assert emulator.get("Accounts", target)["Account_Name"] == "Renamed By Hub ID"  # type: ignore[index]


def test_given_contacts_under_accounts_when_written_then_the_parent_goes_as_a_lookup_and_reads_back_as_a_path() -> (
    None
):
    emulator = ZohoEmulator(accounts=3, contacts=0, leads=0, users=1, seed=2)
    parent = emulator.ids("Accounts")[1]
    with zoho(emulator) as connector:
        results = connector.write(
            "Contacts",
            [{"Last_Name": "Child", "Email": "child@example.org", "Account_Name": parent}],
            mode="create",
        )
        assert results[0].ok, results
        records, _ = read_all(
            connector.read("Contacts", ["Account_Name", "Account_Name.Account_Name", "Owner.email"])
        )
    assert records[0].values["Account_Name"] == parent
    assert records[0].values["Account_Name.Account_Name"] == emulator.get("Accounts", parent)["Account_Name"]  # type: ignore[index]
    assert str(records[0].values["Owner.email"]).endswith("@crmhub-emulator.example")


def test_batch_read_and_archive_are_declared_and_work_by_id() -> None:
    emulator = ZohoEmulator(accounts=80, contacts=0, leads=0, users=1, seed=2)
    ids = emulator.ids("Accounts")
    with zoho(emulator) as connector:
        reader, deleter = batch_reader(connector), archiver(connector)
        assert reader is not None and deleter is not None
        wanted = [ids[70], ids[3], "5725767000199999999", *ids[10:62]]  # 55 ids: two COQL calls
        found = reader.batch_read("Accounts", wanted, ["Account_Name"])
        assert [r.id for r in found] == [ids[70], ids[3], *ids[10:62]]
        gone = deleter.archive("Accounts", [ids[0], "5725767000199999999"])
    assert [r.ok for r in gone] == [True, False]
    assert emulator.count("Accounts") == 79


@pytest.mark.parametrize(
    ("status", "code", "action"),
    [
        (401, "INVALID_TOKEN", Action.REFRESH),
        (429, "TOO_MANY_REQUESTS", Action.RETRY),
        (429, "LIMIT_REACHED", Action.LIMIT),
        (400, "INVALID_DATA", Action.SKIP),
        (400, "MANDATORY_NOT_FOUND", Action.SKIP),
        (400, "DUPLICATE_DATA", Action.SKIP),
        (400, "INVALID_QUERY", Action.FAIL),
        (400, "INVALID_MODULE", Action.FAIL),
        (401, "OAUTH_SCOPE_MISMATCH", Action.FAIL),
        (500, "INTERNAL_ERROR", Action.RETRY),
    ],
    ids=lambda v: str(v),
)
def test_zoho_error_bodies_map_to_actions(status: int, code: str, action: Action) -> None:
    body = {"code": code, "details": {}, "message": "m", "status": "error"}
    verdict = ZOHO_ERRORS.classify(httpx.Response(status, json=body))
    assert (verdict.code, verdict.action) == (code, action)


def test_given_a_refresh_token_zoho_refuses_when_tested_then_the_check_says_so_without_the_secret() -> None:
    emulator = ZohoEmulator(accounts=1, contacts=0, leads=0, users=1)
    bad = ZohoCredentials(
        client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET, refresh_token="1000.revoked-x"
    )
    with zoho(emulator, credentials=bad) as connector:
        check = connector.test()
    assert not check.ok
    assert "invalid_code" in check.message
    assert "revoked-x" not in check.message


def test_given_good_credentials_when_tested_then_the_current_user_is_named() -> None:
    emulator = ZohoEmulator(accounts=1, contacts=0, leads=0, users=2)
    with zoho(emulator) as connector:
        check = connector.test()
    assert check.ok, check.message
    assert emulator.get("Users", emulator.id_of("Users", 0))["email"] in check.message  # type: ignore[index]


def test_given_a_token_response_naming_a_foreign_api_domain_then_the_connection_refuses_it() -> None:
    def accounts(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/oauth/v2/token"
        return httpx.Response(
            200, json={"access_token": "1000.x", "api_domain": "https://evil.example", "expires_in": 3600}
        )

    connector = ZohoConnector(
        ZohoSettings(accounts_url="https://accounts.zoho.eu"),
        GOOD,
        http=httpx.Client(transport=httpx.MockTransport(accounts)),
    )
    check = connector.test()
    assert not check.ok
    assert "evil.example" in check.message


@pytest.mark.parametrize(
    ("centre", "environment", "accounts", "api"),
    [
        ("US", "production", "https://accounts.zoho.com", "https://www.zohoapis.com"),
        ("EU", "sandbox", "https://accounts.zoho.eu", "https://sandbox.zohoapis.eu"),
        ("CA", "production", "https://accounts.zohocloud.ca", "https://www.zohoapis.ca"),
        ("SA", "developer", "https://accounts.zoho.sa", "https://developer.zohoapis.sa"),
    ],
)
def test_each_data_centre_has_its_accounts_server_and_api_host(
    centre: str, environment: str, accounts: str, api: str
) -> None:
    connector = ZohoConnector(ZohoSettings(data_centre=centre, environment=environment), GOOD)  # type: ignore[arg-type]
    assert connector.accounts_url() == accounts
    assert connector.api_domain == api
    connector.close()


def test_the_registry_creates_a_zoho_connector_with_secret_credentials() -> None:
    spec = registry.get("zoho")
    fields = spec.fields()
    assert {f["name"] for f in fields["credentials"]} == {"client_id", "client_secret", "refresh_token"}
    assert all(f["secret"] for f in fields["credentials"])
    assert Capability.UPSERT in spec.create({"accounts_url": "http://127.0.0.1:1"}, {}).capabilities


def test_given_an_update_without_an_id_then_that_record_fails_and_the_others_are_written() -> None:
    emulator = ZohoEmulator(accounts=3, contacts=0, leads=0, users=1)
    target = emulator.ids("Accounts")[0]
    with zoho(emulator) as connector:
        results = connector.write(
            "Accounts", [{"Account_Name": "x"}, {REMOTE_ID: target, "Account_Name": "y"}], mode="update"
        )
    assert [(r.ok, r.error_code) for r in results] == [(False, "MISSING_ID"), (True, None)]


def test_zoho_has_default_outbound_templates_and_automap_rules_for_its_api_names() -> None:
    from crmhub.mapping.automap import SourceField, TargetAttribute, automap
    from crmhub.mapping.templates import template_parent, template_rows

    accounts = {r.source: r.target for r in template_rows("zoho", "accounts", "account")}
    assert accounts["name"] == "Account_Name"
    assert accounts["partner_status"] == "Partner_Status" and accounts["partner_id"] == "Partner_ID"
    contacts = {r.source: r.target for r in template_rows("zoho", "Contacts", "contact")}
    assert contacts["email"] == "Email" and contacts["last_name"] == "Last_Name"
    assert template_parent("zoho", "Contacts", "contact") == ("account", "Account_Name")
    proposals = automap(
        [
            SourceField("Account_Name", "Account Name", "text"),
            SourceField("Account_Type", "Account Type", "text"),
            SourceField("Billing_City", "Billing City", "text"),
            SourceField("Owner.email", "Email", "text"),
        ],
        [
            TargetAttribute("name", "Name", "text"),
            TargetAttribute("type", "Type", "text"),
            TargetAttribute("billing_city", "Billing city", "text"),
            TargetAttribute("owner_email", "Owner e-mail", "text"),
        ],
        propose_new=False,
    )
    assert {(p.row.source, p.row.target) for p in proposals} == {
        ("Account_Name", "name"),
        ("Account_Type", "type"),
        ("Billing_City", "billing_city"),
        ("Owner.email", "owner_email"),
    }
    contact = automap(
        [
            SourceField("Account_Name", "Account Name", "text"),
            SourceField("Mailing_Country", "Mailing Country", "text"),
        ],
        [TargetAttribute("account", "Account", "foreign_key"), TargetAttribute("country", "Country", "text")],
        propose_new=False,
    )
    assert {(p.row.source, p.row.target) for p in contact} == {
        ("Account_Name", "account"),
        ("Mailing_Country", "country"),
    }
