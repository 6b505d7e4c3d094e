"""The Zoho emulator's wire protocol, by plain HTTP: paging rules, COQL limits, error bodies, credits."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from crmhub.emulators.serve import serve_in_thread
from crmhub.emulators.zoho import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    ZohoEmulator,
)


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[ZohoEmulator, httpx.Client]]:
    emulator = ZohoEmulator(accounts=2500, contacts=10, leads=0, users=2, seed=5)
    with serve_in_thread(emulator.app) as url:
        token = httpx.post(
            f"{url}/oauth/v2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
                "refresh_token": DEFAULT_REFRESH_TOKEN,
            },
        ).json()
        assert token["api_domain"] == url and token["expires_in"] == 3600
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Zoho-oauthtoken {token['access_token']}"}
        ) as client:
            yield emulator, client


def _error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert body["status"] == "error" and "message" in body and "details" in body
    return response.status_code, body["code"]


def test_given_2500_records_when_listed_then_page_reaches_2000_and_page_token_the_rest(
    api: tuple[ZohoEmulator, httpx.Client],
) -> None:
    emulator, client = api
    ids: list[str] = []
    info: dict[str, object] = {}
    for page in range(1, 11):
        body = client.get(
            "/crm/v8/Accounts", params={"fields": "Account_Name", "per_page": 200, "page": page}
        ).json()
        ids += [r["id"] for r in body["data"]]
        info = body["info"]
    assert len(ids) == 2000 and info["more_records"] is True
    beyond = client.get("/crm/v8/Accounts", params={"fields": "Account_Name", "per_page": 200, "page": 11})
    assert _error(beyond) == (400, "DISCRETE_PAGINATION_LIMIT_EXCEEDED")
    both = client.get(
        "/crm/v8/Accounts", params={"fields": "id", "page": 2, "page_token": str(info["next_page_token"])}
    )
    assert both.status_code == 400
    token = info["next_page_token"]
    while token:
        body = client.get("/crm/v8/Accounts", params={"fields": "Account_Name", "page_token": token}).json()
        ids += [r["id"] for r in body["data"]]
        token = body["info"]["next_page_token"]
    assert ids == emulator.ids("Accounts")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "REQUIRED_PARAM_MISSING"),
        ({"fields": "Account_Name", "per_page": 201}, "INVALID_DATA"),
        ({"fields": "Nope"}, "INVALID_DATA"),
    ],
    ids=["fields is mandatory", "per_page at most 200", "unknown field"],
)
def test_bad_listing_parameters_are_refused_with_zohos_codes(
    api: tuple[ZohoEmulator, httpx.Client], params: dict[str, object], code: str
) -> None:
    _, client = api
    assert _error(client.get("/crm/v8/Accounts", params=params)) == (400, code)


def test_given_nothing_to_list_then_the_answer_is_204_and_304_after_if_modified_since(
    api: tuple[ZohoEmulator, httpx.Client],
) -> None:
    _, client = api
    assert client.get("/crm/v8/Leads", params={"fields": "Last_Name"}).status_code == 204
    later = client.get(
        "/crm/v8/Accounts",
        params={"fields": "id"},
        headers={"If-Modified-Since": "2099-01-01T00:00:00+00:00"},
    )
    assert later.status_code == 304 and later.content == b""


@pytest.mark.parametrize(
    ("query", "code"),
    [
        (
            "select Account_Name from Accounts where Employees > 1 and Employees < 9 and Industry is null",
            "SYNTAX_ERROR",
        ),
        ("select " + ", ".join(["Account_Name"] * 51) + " from Accounts", "LIMIT_EXCEEDED"),
        ("select Account_Name from Accounts limit 99000, 2000", "LIMIT_EXCEEDED"),
        ("select Account_Name from Accounts limit 2001", "LIMIT_EXCEEDED"),
        (
            "select Account_Name from Accounts where Employees in ("
            + ", ".join(str(i) for i in range(51))
            + ")",
            "LIMIT_EXCEEDED",
        ),
        ("select Account_Name from Accounts where Description = 'x'", "INVALID_QUERY"),
        ("select Nope from Accounts", "INVALID_QUERY"),
        ("select Account_Name from Nopes", "INVALID_QUERY"),
    ],
    ids=[
        "three criteria need brackets",
        "at most 50 fields",
        "offset plus limit at most 100000",
        "at most 2000 rows a call",
        "in takes at most 50 values",
        "multi-line fields are not criteria",
        "unknown field",
        "unknown module",
    ],
)
def test_coql_limits_are_enforced_with_zohos_codes(
    api: tuple[ZohoEmulator, httpx.Client], query: str, code: str
) -> None:
    _, client = api
    assert _error(client.post("/crm/v8/coql", json={"select_query": query})) == (400, code)


def test_a_bracketed_coql_query_with_a_lookup_path_answers_rows_and_more_records(
    api: tuple[ZohoEmulator, httpx.Client],
) -> None:
    emulator, client = api
    query = (
        "select Last_Name, Account_Name, Account_Name.Account_Name from Contacts "
        "where ((Account_Name is not null and Last_Name is not null) and id > 0) order by id asc limit 0, 3"
    )
    body = client.post("/crm/v8/coql", json={"select_query": query}).json()
    first = body["data"][0]
    contact = emulator.get("Contacts", first["id"])
    assert contact is not None
    assert first["Account_Name"] == {"id": contact["Account_Name"]["id"]}  # a plain lookup is {id}
    assert first["Account_Name.Account_Name"] == contact["Account_Name"]["name"]
    assert body["info"] == {"count": 3, "more_records": True}


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"Authorization": "Zoho-oauthtoken 1000.nope"}, "INVALID_TOKEN"),
        ({"Authorization": ""}, "AUTHENTICATION_FAILURE"),
    ],
    ids=["a token never issued", "no token"],
)
def test_calls_without_a_valid_token_get_401_with_zohos_body(
    api: tuple[ZohoEmulator, httpx.Client], headers: dict[str, str], code: str
) -> None:
    _, client = api
    assert _error(client.get("/crm/v8/settings/modules", headers=headers)) == (401, code)


def test_unknown_urls_and_methods_get_zohos_error_bodies(api: tuple[ZohoEmulator, httpx.Client]) -> None:
    _, client = api
    assert _error(client.get("/crm/v8/Accounts/1/2/3")) == (404, "INVALID_URL_PATTERN")
    assert _error(client.patch("/crm/v8/Accounts")) == (405, "INVALID_REQUEST_METHOD")
    assert _error(client.get("/crm/v8/Nopes", params={"fields": "id"})) == (400, "INVALID_MODULE")


def test_given_the_credits_run_out_then_calls_get_limit_reached_until_a_new_day() -> None:
    emulator = ZohoEmulator(accounts=10, contacts=0, leads=0, users=1, daily_credits=4)
    with serve_in_thread(emulator.app) as url:
        client = httpx.Client(
            base_url=url, headers={"Authorization": f"Zoho-oauthtoken {emulator.issue_token()}"}
        )
        query = {"select_query": "select Account_Name from Accounts limit 1000"}  # 2 credits a call
        assert client.post("/crm/v8/coql", json=query).status_code == 200
        assert client.post("/crm/v8/coql", json=query).status_code == 200
        assert _error(client.post("/crm/v8/coql", json=query)) == (429, "LIMIT_REACHED")
        emulator.reset_daily_usage()
        assert client.post("/crm/v8/coql", json=query).status_code == 200
        client.close()
    assert emulator.usage.used == 2
