"""HubSpot emulator: auth, objects, paging, properties, search semantics and limits, batch, associations."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from crmhub.emulators import HubSpotEmulator, serve_in_thread
from crmhub.emulators.hubspot import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN

from .conftest import NOW, frozen_clock

REFRESH_FORM = {
    "grant_type": "refresh_token",
    "client_id": DEFAULT_CLIENT_ID,
    "client_secret": DEFAULT_CLIENT_SECRET,
    "refresh_token": DEFAULT_REFRESH_TOKEN,
}

# -- auth ---------------------------------------------------------------------------------------------------------


def test_given_no_token_when_calling_then_401_with_hubspots_invalid_authentication_body(hs_url: str) -> None:
    response = httpx.get(f"{hs_url}/crm/v3/objects/companies")
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == "error" and body["category"] == "INVALID_AUTHENTICATION"
    assert body["message"].startswith("Authentication credentials not found.")
    assert re.fullmatch(r"[0-9a-f-]{36}", body["correlationId"])


def test_given_a_refresh_token_when_exchanging_then_the_access_token_works_until_it_expires(
    hs: HubSpotEmulator, hs_url: str
) -> None:
    token = httpx.post(f"{hs_url}/oauth/v1/token", data=REFRESH_FORM)
    assert token.status_code == 200
    body = token.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 1800 and body["refresh_token"]
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    ok = httpx.get(f"{hs_url}/crm/v3/objects/contacts", headers=headers)
    assert ok.status_code == 200
    assert "X-HubSpot-RateLimit-Daily" not in ok.headers  # OAuth apps get no daily headers
    hs.clock.advance(1805)
    expired = httpx.get(f"{hs_url}/crm/v3/objects/contacts", headers=headers)
    assert expired.status_code == 401
    assert expired.json()["category"] == "EXPIRED_AUTHENTICATION"
    assert expired.json()["message"] == "The OAuth token used to make this call expired 5 second(s) ago."
    assert expired.json()["context"] == {"expire time": ["2024-05-15T12:30:00.000Z"]}


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"refresh_token": "forged"}, "BAD_REFRESH_TOKEN"),
        ({"client_id": "other"}, "BAD_CLIENT_ID"),
        ({"grant_type": "authorization_code", "code": "wrong"}, "BAD_AUTH_CODE"),
    ],
    ids=["unknown refresh token", "unknown client", "unknown authorization code"],
)
def test_given_bad_oauth_input_when_exchanging_then_400(
    hs_url: str, change: dict[str, str], status: str
) -> None:
    response = httpx.post(f"{hs_url}/oauth/v1/token", data={**REFRESH_FORM, **change})
    assert response.status_code == 400 and response.json()["status"] == status


# -- objects and paging ---------------------------------------------------------------------------------------------


def test_given_300_companies_when_listing_with_limit_100_then_three_pages_linked_by_after(
    hs_ro_client: httpx.Client,
) -> None:
    page = hs_ro_client.get(
        "/crm/v3/objects/companies", params={"limit": 100, "properties": "name,industry"}
    ).json()
    ids: list[str] = []
    pages = 0
    while True:
        pages += 1
        ids.extend(r["id"] for r in page["results"])
        assert all(
            set(r["properties"]) == {"name", "industry", "createdate", "hs_lastmodifieddate", "hs_object_id"}
            for r in page["results"]
        )
        if "paging" not in page:
            break
        nxt = page["paging"]["next"]
        assert nxt["link"].endswith(f"after={nxt['after']}") and "limit=100" in nxt["link"]
        page = hs_ro_client.get(nxt["link"]).json()
    assert pages == 3 and len(set(ids)) == 300
    assert ids == sorted(ids, key=int)


def test_when_asking_for_more_than_100_then_the_page_is_capped_at_100(hs_ro_client: httpx.Client) -> None:
    assert len(hs_ro_client.get("/crm/v3/objects/contacts", params={"limit": 500}).json()["results"]) == 100


def test_when_listing_without_properties_then_the_default_properties_come_back(
    hs_ro_client: httpx.Client,
) -> None:
    [contact] = hs_ro_client.get("/crm/v3/objects/contacts", params={"limit": 1}).json()["results"]
    assert set(contact["properties"]) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    assert set(contact) == {"id", "properties", "createdAt", "updatedAt", "archived"}
    assert contact["archived"] is False
    assert contact["properties"]["hs_object_id"] == contact["id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", contact["updatedAt"])


def test_when_reading_a_multi_checkbox_then_values_are_semicolon_joined_strings(
    hs_ro_client: httpx.Client,
) -> None:
    results = hs_ro_client.get(
        "/crm/v3/objects/companies", params={"limit": 100, "properties": "products,numberofemployees"}
    ).json()["results"]
    values = [r["properties"]["products"] for r in results if r["properties"]["products"]]
    assert any(";" in v for v in values)
    assert all(isinstance(r["properties"]["numberofemployees"], str) for r in results)


def test_when_reading_with_associations_then_contacts_list_their_company(hs_ro_client: httpx.Client) -> None:
    results = hs_ro_client.get(
        "/crm/v3/objects/contacts", params={"limit": 10, "associations": "companies"}
    ).json()["results"]
    linked = [r for r in results if "associations" in r]
    assert linked
    types = {a["type"] for a in linked[0]["associations"]["companies"]["results"]}
    assert types == {"contact_to_company", "contact_to_company_unlabeled"}


def test_when_creating_updating_and_archiving_a_company_then_archived_reads_show_it(
    hs: HubSpotEmulator, hs_client: httpx.Client
) -> None:
    created = hs_client.post(
        "/crm/v3/objects/companies",
        json={"properties": {"name": "Initech", "hub_id": "HUB-INIT", "numberofemployees": 12}},
    )
    assert created.status_code == 201
    company = created.json()
    assert company["properties"]["name"] == "Initech" and company["properties"]["numberofemployees"] == "12"
    hs.clock.advance(10)
    updated = hs_client.patch(
        f"/crm/v3/objects/companies/{company['id']}", json={"properties": {"partner_status": "Active"}}
    ).json()
    assert updated["properties"]["partner_status"] == "Active"
    assert updated["updatedAt"] > company["updatedAt"]
    by_hub = hs_client.get("/crm/v3/objects/companies/HUB-INIT", params={"idProperty": "hub_id"}).json()
    assert by_hub["id"] == company["id"]
    assert hs_client.delete(f"/crm/v3/objects/companies/{company['id']}").status_code == 204
    missing = hs_client.get(f"/crm/v3/objects/companies/{company['id']}")
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"
    archived = hs_client.get("/crm/v3/objects/companies", params={"archived": "true"}).json()["results"]
    assert [(a["id"], a["archived"]) for a in archived] == [(company["id"], True)]
    assert archived[0]["archivedAt"] == "2024-05-15T12:00:10.001Z"


INVALID = [
    ("unknown property", {"bogus": "x"}, "PROPERTY_DOESNT_EXIST"),
    ("read-only property", {"createdate": "2024-01-01"}, "READ_ONLY_VALUE"),
    ("option not allowed", {"partner_status": "Gold"}, "INVALID_OPTION"),
    ("checkbox option not allowed", {"products": "crm;teleportation"}, "INVALID_OPTION"),
    ("not a number", {"numberofemployees": "many"}, "INVALID_DECIMAL"),
    ("unknown owner", {"hubspot_owner_id": "1"}, "INVALID_OWNER_ID"),
]


@pytest.mark.parametrize(("props", "code"), [(p, c) for _, p, c in INVALID], ids=[i[0] for i in INVALID])
def test_given_invalid_properties_when_creating_then_400_validation_error(
    hs_client: httpx.Client, props: dict[str, str], code: str
) -> None:
    response = hs_client.post("/crm/v3/objects/companies", json={"properties": {"name": "X", **props}})
    assert response.status_code == 400
    body = response.json()
    assert body["category"] == "VALIDATION_ERROR" and body["status"] == "error"
    assert body["message"].startswith("Property values were not valid: ")
    assert f'"error":"{code}"' in body["message"]


def test_given_an_existing_email_when_creating_a_contact_then_409_conflict(
    hs: HubSpotEmulator, hs_client: httpx.Client
) -> None:
    email = hs.get("contacts", hs.ids("contacts", limit=1)[0])["properties"]["email"]
    response = hs_client.post("/crm/v3/objects/contacts", json={"properties": {"email": email.upper()}})
    assert response.status_code == 409
    assert response.json()["category"] == "CONFLICT"
    assert response.json()["message"].startswith("Contact already exists. Existing ID: ")


def test_when_listing_properties_then_definitions_carry_type_field_type_options_and_flags(
    hs_ro_client: httpx.Client,
) -> None:
    props = {p["name"]: p for p in hs_ro_client.get("/crm/v3/properties/companies").json()["results"]}
    assert {
        "name",
        "domain",
        "industry",
        "partner_status",
        "products",
        "hub_id",
        "hs_lastmodifieddate",
    } <= set(props)
    assert (props["products"]["type"], props["products"]["fieldType"]) == ("enumeration", "checkbox")
    assert [o["value"] for o in props["partner_status"]["options"]] == ["Active", "Inactive", "Pending"]
    assert props["hub_id"]["hasUniqueValue"] is True
    assert props["createdate"]["modificationMetadata"]["readOnlyValue"] is True
    assert props["name"]["modificationMetadata"]["readOnlyValue"] is False
    single = hs_ro_client.get("/crm/v3/properties/contacts/email").json()
    assert single["name"] == "email"
    assert hs_ro_client.get("/crm/v3/properties/contacts/nope").status_code == 404


def test_when_listing_owners_then_each_has_id_email_and_names(hs_ro_client: httpx.Client) -> None:
    owners = hs_ro_client.get("/crm/v3/owners").json()["results"]
    assert len(owners) == 5
    assert {"id", "email", "firstName", "lastName", "userId", "archived"} <= set(owners[0])
    by_email = hs_ro_client.get("/crm/v3/owners", params={"email": owners[2]["email"]}).json()["results"]
    assert [o["id"] for o in by_email] == [owners[2]["id"]]


# -- search ----------------------------------------------------------------------------------------------------------

COMPANIES = [
    {
        "name": "Acme Banking",
        "industry": "BANKING",
        "numberofemployees": "50",
        "partner_status": "Active",
        "products": "analytics;crm",
        "city": "Berlin",
        "customer_since": "2024-05-15",
        "hub_id": "HUB-A",
    },
    {
        "name": "acme labs",
        "industry": "COMPUTER_SOFTWARE",
        "numberofemployees": "500",
        "partner_status": "Pending",
        "products": "crm",
        "city": "berlin",
    },
    {"name": "Beta Corp"},
    {
        "name": "Gamma Co",
        "industry": "BANKING",
        "numberofemployees": "10",
        "products": "payments",
        "city": "Paris",
    },
    {
        "name": "Delta Retail",
        "industry": "RETAIL",
        "numberofemployees": "2000",
        "products": "analytics;payments;crm",
        "city": "Madrid",
        "domain": "delta-retail.example",
    },
]


@pytest.fixture(scope="module")
def search_client() -> Iterator[httpx.Client]:
    emulator = HubSpotEmulator(companies=0, contacts=0, owners=2, seed=1, clock=frozen_clock())
    emulator.insert("companies", COMPANIES)
    with (
        serve_in_thread(emulator.app) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {emulator.private_app_token}"}
        ) as client,
    ):
        yield client


def search(client: httpx.Client, *groups: list[dict[str, object]], **extra: object) -> list[str]:
    body = {"filterGroups": [{"filters": g} for g in groups], "properties": ["name"], "limit": 100, **extra}
    response = client.post("/crm/v3/objects/companies/search", json=body)
    assert response.status_code == 200, response.text
    return [r["properties"]["name"] for r in response.json()["results"]]


def f(prop: str, op: str, value: object = None, **extra: object) -> dict[str, object]:
    out: dict[str, object] = {"propertyName": prop, "operator": op, **extra}
    if value is not None:
        out["value"] = value
    return out


ALL = {"Acme Banking", "acme labs", "Beta Corp", "Gamma Co", "Delta Retail"}
NOW_MS = int(NOW.timestamp() * 1000)
SEARCHES = [
    ("EQ ignores case", [f("name", "EQ", "ACME BANKING")], {"Acme Banking"}),
    (
        "NEQ matches unset values",
        [f("industry", "NEQ", "BANKING")],
        {"acme labs", "Beta Corp", "Delta Retail"},
    ),
    (
        "IN on a string property matches lower-case values",
        [f("city", "IN", values=["berlin"])],
        {"Acme Banking", "acme labs"},
    ),
    ("IN on a string property does not match upper-case values", [f("city", "IN", values=["Berlin"])], set()),
    (
        "IN on an enumeration ignores case",
        [f("industry", "IN", values=["retail", "BANKING"])],
        {"Acme Banking", "Gamma Co", "Delta Retail"},
    ),
    (
        "NOT_IN matches unset values",
        [f("industry", "NOT_IN", values=["BANKING"])],
        {"acme labs", "Beta Corp", "Delta Retail"},
    ),
    ("HAS_PROPERTY", [f("industry", "HAS_PROPERTY")], ALL - {"Beta Corp"}),
    ("NOT_HAS_PROPERTY", [f("industry", "NOT_HAS_PROPERTY")], {"Beta Corp"}),
    (
        "GT compares numbers and skips unset",
        [f("numberofemployees", "GT", "100")],
        {"acme labs", "Delta Retail"},
    ),
    ("LT compares numbers", [f("numberofemployees", "LT", 100)], {"Acme Banking", "Gamma Co"}),
    (
        "BETWEEN is inclusive",
        [f("numberofemployees", "BETWEEN", "10", highValue="500")],
        {"Acme Banking", "acme labs", "Gamma Co"},
    ),
    ("CONTAINS_TOKEN matches a word", [f("name", "CONTAINS_TOKEN", "acme")], {"Acme Banking", "acme labs"}),
    ("CONTAINS_TOKEN with a wildcard", [f("name", "CONTAINS_TOKEN", "*bank*")], {"Acme Banking"}),
    (
        "CONTAINS_TOKEN wildcard on the whole value",
        [f("domain", "CONTAINS_TOKEN", "*retail.example")],
        {"Delta Retail"},
    ),
    (
        "NOT_CONTAINS_TOKEN",
        [f("name", "NOT_CONTAINS_TOKEN", "acme")],
        {"Beta Corp", "Gamma Co", "Delta Retail"},
    ),
    (
        "EQ on a multi-checkbox matches one selected value",
        [f("products", "EQ", "crm")],
        {"Acme Banking", "acme labs", "Delta Retail"},
    ),
    (
        "IN on a multi-checkbox matches any selected value",
        [f("products", "IN", values=["payments"])],
        {"Gamma Co", "Delta Retail"},
    ),
    (
        "filters in a group are ANDed",
        [f("industry", "EQ", "BANKING"), f("numberofemployees", "GTE", 50)],
        {"Acme Banking"},
    ),
    ("datetime accepts epoch milliseconds", [f("createdate", "GTE", str(NOW_MS))], ALL),
    ("datetime accepts ISO 8601", [f("hs_lastmodifieddate", "LT", "2024-01-01T00:00:00Z")], set()),
    ("date property with EQ", [f("customer_since", "EQ", "2024-05-15")], {"Acme Banking"}),
]


@pytest.mark.parametrize(
    ("filters", "expected"), [(s[1], s[2]) for s in SEARCHES], ids=[s[0] for s in SEARCHES]
)
def test_given_known_companies_when_searching_then_hubspot_operator_semantics_apply(
    search_client: httpx.Client, filters: list[dict[str, object]], expected: set[str]
) -> None:
    assert set(search(search_client, filters)) == expected


def test_when_searching_with_two_groups_then_groups_are_ored(search_client: httpx.Client) -> None:
    found = search(search_client, [f("industry", "EQ", "RETAIL")], [f("numberofemployees", "LT", 20)])
    assert set(found) == {"Delta Retail", "Gamma Co"}


def test_when_searching_with_a_query_string_then_words_prefix_match(search_client: httpx.Client) -> None:
    assert set(search(search_client, query="acm")) == {"Acme Banking", "acme labs"}


def test_when_sorting_descending_then_unset_values_come_last(search_client: httpx.Client) -> None:
    found = search(search_client, sorts=[{"propertyName": "numberofemployees", "direction": "DESCENDING"}])
    assert found == ["Delta Retail", "acme labs", "Acme Banking", "Gamma Co", "Beta Corp"]


def test_when_searching_then_total_and_always_included_properties_come_back(
    search_client: httpx.Client,
) -> None:
    body = search_client.post(
        "/crm/v3/objects/companies/search",
        json={
            "filterGroups": [{"filters": [f("industry", "HAS_PROPERTY")]}],
            "limit": 2,
            "properties": ["city"],
        },
    ).json()
    assert body["total"] == 4
    assert body["paging"]["next"]["after"] == "2"
    assert set(body["results"][0]["properties"]) == {
        "city",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
    }


LIMITS = [
    ("six filter groups", {"filterGroups": [{"filters": [f("name", "HAS_PROPERTY")]}] * 6}),
    ("eleven filters in one group", {"filterGroups": [{"filters": [f("name", "HAS_PROPERTY")] * 11}]}),
    ("twenty-six filters in all", {"filterGroups": [{"filters": [f("name", "HAS_PROPERTY")] * 9}] * 3}),
    ("limit over 200", {"limit": 201}),
    ("after past 10,000", {"after": "10000"}),
    ("unknown operator", {"filterGroups": [{"filters": [f("name", "LIKE", "x")]}]}),
    ("IN without values", {"filterGroups": [{"filters": [f("name", "IN")]}]}),
    ("unknown property", {"filterGroups": [{"filters": [f("bogus", "EQ", "x")]}]}),
]


@pytest.mark.parametrize("body", [b for _, b in LIMITS], ids=[name for name, _ in LIMITS])
def test_given_a_search_over_hubspots_limits_when_posting_then_400_validation_error(
    search_client: httpx.Client, body: dict[str, object]
) -> None:
    response = search_client.post("/crm/v3/objects/companies/search", json=body)
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_given_more_than_10000_matches_when_paging_a_search_then_total_counts_all_and_page_10001_is_refused() -> (
    None
):
    emulator = HubSpotEmulator(companies=10_050, contacts=0, owners=1, seed=2, clock=frozen_clock())
    with (
        serve_in_thread(emulator.app) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {emulator.private_app_token}"}
        ) as client,
    ):
        body = {"filterGroups": [{"filters": [f("name", "HAS_PROPERTY")]}], "limit": 200}
        after: str | None = "0"
        seen = 0
        while after is not None:
            response = client.post("/crm/v3/objects/companies/search", json={**body, "after": after})
            if int(after) >= 10_000:
                assert response.status_code == 400
                assert response.json()["category"] == "VALIDATION_ERROR"
                break
            page = response.json()
            assert page["total"] == 10_050
            seen += len(page["results"])
            after = page.get("paging", {}).get("next", {}).get("after")
    assert seen == 10_000


# -- batch -------------------------------------------------------------------------------------------------------------


def test_given_one_invalid_input_when_batch_creating_then_207_with_per_record_errors(
    hs: HubSpotEmulator, hs_client: httpx.Client
) -> None:
    inputs = [
        {"properties": {"name": "Batch One"}},
        {"properties": {"name": "Batch Two", "partner_status": "Gold"}},
        {"properties": {"name": "Batch Three"}},
    ]
    response = hs_client.post("/crm/v3/objects/companies/batch/create", json={"inputs": inputs})
    assert response.status_code == 207
    body = response.json()
    assert body["status"] == "COMPLETE" and body["numErrors"] == 1
    assert [r["properties"]["name"] for r in body["results"]] == ["Batch One", "Batch Three"]
    [error] = body["errors"]
    assert {"status", "category", "message", "context", "links", "errors"} <= set(error)
    assert error["category"] == "VALIDATION_ERROR" and error["context"] == {
        "propertyName": ["partner_status"]
    }
    assert {"startedAt", "completedAt"} <= set(body)


def test_given_all_valid_inputs_when_batch_creating_then_201(hs_client: httpx.Client) -> None:
    response = hs_client.post(
        "/crm/v3/objects/contacts/batch/create",
        json={"inputs": [{"properties": {"email": "new@example.org"}}]},
    )
    assert response.status_code == 201 and "errors" not in response.json()


def test_given_a_missing_id_when_batch_reading_then_207_object_not_found_with_the_id(
    hs: HubSpotEmulator, hs_client: httpx.Client
) -> None:
    [known] = hs.ids("companies", limit=1)
    body = hs_client.post(
        "/crm/v3/objects/companies/batch/read",
        json={"inputs": [{"id": known}, {"id": "99"}], "properties": ["name"]},
    )
    assert body.status_code == 207
    assert [r["id"] for r in body.json()["results"]] == [known]
    assert body.json()["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert body.json()["errors"][0]["context"] == {"ids": ["99"]}


def test_when_batch_upserting_by_a_unique_property_then_new_tells_created_from_updated(
    hs: HubSpotEmulator, hs_client: httpx.Client
) -> None:
    hs.insert("companies", [{"name": "Known", "hub_id": "HUB-UP-1"}])
    inputs = [
        {"id": "HUB-UP-1", "idProperty": "hub_id", "properties": {"name": "Known renamed"}},
        {"id": "HUB-UP-2", "idProperty": "hub_id", "properties": {"name": "Fresh"}},
        {"id": "HUB-UP-3", "idProperty": "name", "properties": {}},
    ]
    response = hs_client.post("/crm/v3/objects/companies/batch/upsert", json={"inputs": inputs})
    assert response.status_code == 207
    body = response.json()
    assert [(r["properties"]["hub_id"], r["new"]) for r in body["results"]] == [
        ("HUB-UP-1", False),
        ("HUB-UP-2", True),
    ]
    assert body["numErrors"] == 1


def test_when_batch_updating_and_archiving_then_records_change_and_disappear(
    hs: HubSpotEmulator, hs_client: httpx.Client
) -> None:
    a, b = hs.ids("contacts", limit=2)
    updated = hs_client.post(
        "/crm/v3/objects/contacts/batch/update",
        json={"inputs": [{"id": a, "properties": {"jobtitle": "CEO"}}, {"id": "5", "properties": {}}]},
    )
    assert updated.status_code == 207 and updated.json()["results"][0]["properties"]["jobtitle"] == "CEO"
    assert (
        hs_client.post(
            "/crm/v3/objects/contacts/batch/archive", json={"inputs": [{"id": a}, {"id": b}]}
        ).status_code
        == 204
    )
    assert hs.count("contacts") == 598


def test_given_101_inputs_when_batch_creating_then_400(hs_client: httpx.Client) -> None:
    inputs = [{"properties": {"name": f"C{i}"}} for i in range(101)]
    response = hs_client.post("/crm/v3/objects/companies/batch/create", json={"inputs": inputs})
    assert response.status_code == 400 and response.json()["category"] == "VALIDATION_ERROR"


# -- associations --------------------------------------------------------------------------------------------------------


def test_when_reading_v4_associations_then_seeded_contacts_have_their_primary_company(
    hs: HubSpotEmulator, hs_client: httpx.Client
) -> None:
    contact = hs.ids("contacts", limit=1)[0]
    body = hs_client.get(f"/crm/v4/objects/contacts/{contact}/associations/companies").json()
    [link] = body["results"]
    assert {t["typeId"] for t in link["associationTypes"]} == {1, 279}
    back = hs_client.get(f"/crm/v4/objects/company/{link['toObjectId']}/associations/contact").json()[
        "results"
    ]
    assert int(contact) in {r["toObjectId"] for r in back}


def test_when_associating_a_new_contact_with_a_company_then_both_sides_see_it(
    hs: HubSpotEmulator, hs_client: httpx.Client
) -> None:
    contact = hs_client.post(
        "/crm/v3/objects/contacts", json={"properties": {"email": "solo@example.org"}}
    ).json()["id"]
    company = hs.ids("companies", limit=3)[2]
    put = hs_client.put(f"/crm/v4/objects/contact/{contact}/associations/default/company/{company}")
    assert put.status_code == 200 and put.json()["status"] == "COMPLETE"
    batch = hs_client.post(
        "/crm/v4/associations/contacts/companies/batch/read", json={"inputs": [{"id": contact}]}
    ).json()
    assert batch["results"][0]["to"][0]["toObjectId"] == int(company)
    search = hs_client.post(
        "/crm/v3/objects/contacts/search",
        json={
            "filterGroups": [
                {"filters": [{"propertyName": "associations.company", "operator": "EQ", "value": company}]}
            ]
        },
    ).json()
    assert contact in {r["id"] for r in search["results"]}


def test_when_creating_a_contact_with_associations_then_the_primary_company_is_set(
    hs: HubSpotEmulator, hs_client: httpx.Client
) -> None:
    company = hs.ids("companies", limit=1)[0]
    created = hs_client.post(
        "/crm/v3/objects/contacts",
        json={
            "properties": {"email": "primary@example.org"},
            "associations": [
                {
                    "to": {"id": company},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
                }
            ],
        },
    ).json()
    read = hs_client.get(
        f"/crm/v3/objects/contacts/{created['id']}", params={"properties": "associatedcompanyid"}
    ).json()
    assert read["properties"]["associatedcompanyid"] == company


# -- limits, headers, faults --------------------------------------------------------------------------------------------


def test_when_calling_with_the_private_app_token_then_rate_limit_headers_come_back(
    hs_client: httpx.Client,
) -> None:
    headers = hs_client.get("/crm/v3/objects/companies").headers
    assert headers["X-HubSpot-RateLimit-Daily"] == "250000"
    assert headers["X-HubSpot-RateLimit-Daily-Remaining"] == "249999"
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert int(headers["X-HubSpot-RateLimit-Max"]) >= int(headers["X-HubSpot-RateLimit-Remaining"]) > 0


def test_given_the_daily_limit_is_reached_when_calling_then_429_daily_policy(
    hs: HubSpotEmulator, hs_client: httpx.Client
) -> None:
    hs.set_daily_limit(1)
    assert hs_client.get("/crm/v3/objects/companies").status_code == 200
    refused = hs_client.get("/crm/v3/objects/companies")
    assert refused.status_code == 429
    body = refused.json()
    assert (body["errorType"], body["policyName"], body["message"]) == (
        "RATE_LIMIT",
        "DAILY",
        "You have reached your daily limit.",
    )


def test_given_a_burst_limit_when_exceeding_it_then_429_ten_secondly_rolling() -> None:
    emulator = HubSpotEmulator(companies=5, contacts=0, owners=1, burst_limit=3, clock=frozen_clock())
    with (
        serve_in_thread(emulator.app) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {emulator.private_app_token}"}
        ) as client,
    ):
        statuses = [client.get("/crm/v3/objects/companies").status_code for _ in range(4)]
        last = client.get("/crm/v3/objects/companies")
    assert statuses == [200, 200, 200, 429]
    assert last.json()["policyName"] == "TEN_SECONDLY_ROLLING" and last.headers["Retry-After"] == "1"


def test_given_a_search_rate_limit_when_searching_fast_then_429_secondly() -> None:
    emulator = HubSpotEmulator(companies=5, contacts=0, owners=1, search_rate_limit=2, clock=frozen_clock())
    with (
        serve_in_thread(emulator.app) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {emulator.private_app_token}"}
        ) as client,
    ):
        statuses = [client.post("/crm/v3/objects/companies/search", json={}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


@pytest.mark.parametrize(("kind", "status"), [("rate_limit", 429), ("unavailable", 503)])
def test_given_an_injected_fault_when_calling_then_hubspot_error_with_retry_after(
    hs: HubSpotEmulator, hs_client: httpx.Client, kind: str, status: int
) -> None:
    hs.inject_fault(kind)  # type: ignore[arg-type]
    response = hs_client.get("/crm/v3/objects/companies")
    assert response.status_code == status
    assert response.headers["Retry-After"] == "1"
    assert response.json()["status"] == "error"
    assert hs_client.get("/crm/v3/objects/companies").status_code == 200


def test_given_an_injected_token_expiry_when_an_oauth_client_calls_then_401_expired(
    hs: HubSpotEmulator, hs_url: str
) -> None:
    headers = {"Authorization": f"Bearer {hs.issue_token()}"}
    hs.inject_fault("expired_token")
    response = httpx.get(f"{hs_url}/crm/v3/objects/companies", headers=headers)
    assert response.status_code == 401 and response.json()["category"] == "EXPIRED_AUTHENTICATION"


def test_given_a_malformed_page_fault_when_listing_then_the_json_is_cut(
    hs: HubSpotEmulator, hs_client: httpx.Client
) -> None:
    hs.inject_fault("malformed")
    response = hs_client.get("/crm/v3/objects/companies", params={"limit": 50})
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_when_touching_over_http_then_search_by_modified_date_finds_exactly_those(
    hs: HubSpotEmulator, hs_url: str, hs_client: httpx.Client
) -> None:
    hs.clock.advance(60)
    touched = httpx.post(f"{hs_url}/__emulator/records/companies/touch", json={"count": 4}).json()["ids"]
    body = hs_client.post(
        "/crm/v3/objects/companies/search",
        json={
            "filterGroups": [{"filters": [f("hs_lastmodifieddate", "GTE", "2024-05-15T12:01:00Z")]}],
            "limit": 100,
        },
    ).json()
    assert {r["id"] for r in body["results"]} == set(touched)
    state = httpx.get(f"{hs_url}/__emulator/state").json()
    assert state["records"]["companies"] == {"live": 300, "deleted": 0}
