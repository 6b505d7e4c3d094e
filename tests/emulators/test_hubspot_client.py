"""The third-party hubspot-api-client, unchanged, against the HubSpot emulator (host set in its config)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hubspot import HubSpot
from hubspot.crm.companies import (
    ApiException,
    BatchInputSimplePublicObjectBatchInputUpsert,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)

from crmhub.emulators import HubSpotEmulator, serve_in_thread
from crmhub.emulators.hubspot import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN

from .conftest import frozen_clock


@pytest.fixture
def emulator() -> HubSpotEmulator:
    return HubSpotEmulator(companies=250, contacts=50, owners=3, seed=13, clock=frozen_clock())


@pytest.fixture
def url(emulator: HubSpotEmulator) -> Iterator[str]:
    with serve_in_thread(emulator.app) as base:
        yield base


@pytest.fixture
def client(emulator: HubSpotEmulator, url: str) -> HubSpot:
    return HubSpot(access_token=emulator.private_app_token, host=url)


def test_when_paging_with_the_official_client_then_every_company_arrives(client: HubSpot) -> None:
    first = client.crm.companies.basic_api.get_page(limit=100, properties=["name", "domain"])
    assert len(first.results) == 100 and first.paging.next.after
    everything = client.crm.companies.get_all(properties=["name"])
    assert len(everything) == 250 and len({c.id for c in everything}) == 250
    assert everything[0].properties["name"]


def test_when_reading_properties_with_the_official_client_then_definitions_parse(client: HubSpot) -> None:
    props = {p.name: p for p in client.crm.properties.core_api.get_all("companies").results}
    assert props["products"].field_type == "checkbox"
    assert props["hub_id"].has_unique_value is True


def test_when_writing_with_the_official_client_then_create_update_upsert_and_archive_work(
    client: HubSpot, emulator: HubSpotEmulator
) -> None:
    api = client.crm.companies
    created = api.basic_api.create(SimplePublicObjectInputForCreate(properties={"name": "Official Co"}))
    assert created.properties["name"] == "Official Co"
    updated = api.basic_api.update(created.id, SimplePublicObjectInput(properties={"industry": "RETAIL"}))
    assert updated.properties["industry"] == "RETAIL"
    upserted = api.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id="HUB-OFFICIAL", id_property="hub_id", properties={"name": "U"}
                )
            ]
        )
    )
    assert upserted.results[0].new is True
    api.basic_api.archive(created.id)
    assert emulator.get("companies", created.id) is None


def test_when_searching_with_the_official_client_then_total_and_results_come_back(client: HubSpot) -> None:
    request = PublicObjectSearchRequest(
        filter_groups=[FilterGroup(filters=[Filter(property_name="industry", operator="HAS_PROPERTY")])],
        properties=["name", "industry"],
        limit=200,
    )
    page = client.crm.companies.search_api.do_search(public_object_search_request=request)
    assert 0 < len(page.results) <= page.total < 250
    assert all(r.properties["industry"] for r in page.results)


def test_given_errors_when_using_the_official_client_then_api_exceptions_carry_hubspots_bodies(
    client: HubSpot, emulator: HubSpotEmulator, url: str
) -> None:
    with pytest.raises(ApiException) as invalid:
        client.crm.companies.basic_api.create(SimplePublicObjectInputForCreate(properties={"bogus": "x"}))
    assert invalid.value.status == 400 and "PROPERTY_DOESNT_EXIST" in invalid.value.body
    with pytest.raises(ApiException) as missing:
        client.crm.companies.basic_api.get_by_id("1")
    assert missing.value.status == 404
    with pytest.raises(ApiException) as unauthorized:
        HubSpot(access_token="nope", host=url).crm.companies.basic_api.get_page()
    assert unauthorized.value.status == 401 and "INVALID_AUTHENTICATION" in unauthorized.value.body


def test_when_refreshing_a_token_with_the_official_oauth_api_then_the_new_token_reads_contacts(
    emulator: HubSpotEmulator, url: str
) -> None:
    oauth = HubSpot(host=url).oauth.tokens_api
    tokens = oauth.create(
        grant_type="refresh_token",
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
        refresh_token=DEFAULT_REFRESH_TOKEN,
    )
    contacts = HubSpot(access_token=tokens.access_token, host=url).crm.contacts.basic_api.get_page(limit=10)
    assert len(contacts.results) == 10
