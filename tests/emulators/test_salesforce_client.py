"""The third-party simple-salesforce client, unchanged, against the Salesforce emulator over HTTPS.

simple-salesforce always speaks https to ``https://{instance}/services/data/v{version}/``, so the emulator
is served with a throwaway self-signed certificate and the client's ``requests.Session`` trusts it. Its
username/password login goes to ``https://login.salesforce.com``; a transport adapter mounted on the same
session sends those requests to the emulator instead (the client code is not touched).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from crmhub.emulators import SalesforceEmulator, serve_in_thread
from crmhub.emulators.salesforce import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_SECURITY_TOKEN,
    DEFAULT_USERNAME,
)

from .conftest import frozen_clock


class _ToEmulator(HTTPAdapter):
    """Sends requests for another host to the emulator's base URL (path and query kept)."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def send(self, request: requests.PreparedRequest, **kwargs):  # type: ignore[no-untyped-def, override]
        parts = urlsplit(request.url or "")
        request.url = f"{self.base_url}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        return super().send(request, **kwargs)


@pytest.fixture
def emulator() -> SalesforceEmulator:
    return SalesforceEmulator(accounts=2500, contacts=100, users=3, seed=11, clock=frozen_clock())


@pytest.fixture
def https_url(emulator: SalesforceEmulator, tls_files: tuple[Path, Path]) -> Iterator[str]:
    cert, key = tls_files
    with serve_in_thread(emulator.app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        yield url


@pytest.fixture
def session(tls_files: tuple[Path, Path], https_url: str) -> Iterator[requests.Session]:
    with requests.Session() as s:
        # REQUESTS_CA_BUNDLE / proxy variables of the environment would override verify= and
        # reroute loopback traffic; this session trusts exactly the throwaway certificate.
        s.trust_env = False
        s.verify = str(tls_files[0])
        s.mount("https://login.salesforce.com", _ToEmulator(https_url))
        yield s


@pytest.fixture
def sf(emulator: SalesforceEmulator, https_url: str, session: requests.Session) -> Salesforce:
    return Salesforce(
        instance_url=https_url, session_id=emulator.issue_token(), session=session, version="62.0"
    )


def test_given_a_session_id_when_querying_all_then_simple_salesforce_pages_through_every_record(
    sf: Salesforce,
) -> None:
    result = sf.query_all("SELECT Id, Name, Owner.Name FROM Account")
    assert result["totalSize"] == 2500 and len(result["records"]) == 2500
    assert len({r["Id"] for r in result["records"]}) == 2500
    assert result["records"][0]["Owner"]["Name"]
    assert sf.api_usage["api-usage"].used == 2  # two pages of 2000 and 500


def test_when_describing_with_simple_salesforce_then_fields_are_readable(sf: Salesforce) -> None:
    names = {f["name"] for f in sf.Account.describe()["fields"]}
    assert {"Id", "Name", "Partner_Status__c", "Products__c", "Hub_ID__c"} <= names
    assert {o["name"] for o in sf.describe()["sobjects"]} == {"Account", "Contact", "User"}


def test_when_creating_updating_upserting_and_deleting_with_simple_salesforce_then_the_org_follows(
    sf: Salesforce, emulator: SalesforceEmulator
) -> None:
    created = sf.Account.create({"Name": "Simple Co", "Industry": "Technology"})
    assert created["success"] is True
    assert sf.Account.update(created["id"], {"NumberOfEmployees": 12}) == 204
    assert sf.Account.get(created["id"])["NumberOfEmployees"] == 12
    assert sf.Account.upsert("Hub_ID__c/HUB-SIMPLE", {"Name": "Upserted Co"}) == 201
    assert sf.Account.upsert("Hub_ID__c/HUB-SIMPLE", {"Name": "Upserted Co 2"}) == 200
    assert sf.Account.get_by_custom_id("Hub_ID__c", "HUB-SIMPLE")["Name"] == "Upserted Co 2"
    assert sf.Account.delete(created["id"]) == 204
    deleted = sf.Account.deleted(
        dt.datetime(2024, 5, 15, tzinfo=dt.UTC), dt.datetime(2024, 5, 16, tzinfo=dt.UTC)
    )
    assert [d["id"] for d in deleted["deletedRecords"]] == [created["id"]]
    assert emulator.get("Account", created["id"]) is None


def test_given_errors_when_using_simple_salesforce_then_its_exceptions_map_the_emulator_answers(
    sf: Salesforce, emulator: SalesforceEmulator
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as malformed:
        sf.query("SELECT Bogus__c FROM Account")
    assert malformed.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get("0015g0000zzzzzzAAA")
    emulator.insert("Contact", [{"LastName": "Twin", "Email": "twin@example.org"}] * 2)
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf.Contact.upsert("Email/twin@example.org", {"Title": "x"})
    emulator.expire_tokens()
    with pytest.raises(SalesforceExpiredSession):
        sf.limits()


def test_given_username_password_and_token_when_logging_in_then_soap_login_reaches_the_emulator(
    session: requests.Session, emulator: SalesforceEmulator
) -> None:
    sf = Salesforce(
        username=DEFAULT_USERNAME,
        password=DEFAULT_PASSWORD,
        security_token=DEFAULT_SECURITY_TOKEN,
        session=session,
        version="62.0",
    )
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 2500
    emulator.expire_tokens()  # simple-salesforce logs in again on INVALID_SESSION_ID and retries
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 100
    with pytest.raises(SalesforceAuthenticationFailed):
        Salesforce(
            username=DEFAULT_USERNAME, password="wrong", security_token="x", session=session, version="62.0"
        )


def test_given_a_connected_app_when_logging_in_with_oauth_password_flow_then_it_works(
    session: requests.Session,
) -> None:
    sf = Salesforce(
        username=DEFAULT_USERNAME,
        password=DEFAULT_PASSWORD + DEFAULT_SECURITY_TOKEN,
        consumer_key=DEFAULT_CLIENT_ID,
        consumer_secret=DEFAULT_CLIENT_SECRET,
        session=session,
        version="62.0",
    )
    assert sf.Account.metadata()["objectDescribe"]["keyPrefix"] == "001"
