"""Salesforce emulator: SOQL semantics, paging, relationship fields, queryAll and query errors."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from crmhub.emulators import SalesforceEmulator, serve_in_thread

from .conftest import frozen_clock

# Five accounts with the values the semantics table needs (the clock stands at Wed 2024-05-15 12:00Z).
ACCOUNTS = [
    {
        "Name": "Acme Banking",
        "Industry": "Banking",
        "Products__c": "Analytics;CRM",
        "NumberOfEmployees": 50,
        "Partner_Status__c": "Active",
        "Customer_Since__c": "2024-05-15",
        "Type": "Prospect",
    },
    {
        "Name": "acme labs",
        "Industry": "Technology",
        "Products__c": "CRM",
        "NumberOfEmployees": 500,
        "Partner_Status__c": "Pending",
        "Customer_Since__c": "2024-05-14",
    },
    {"Name": "Beta 100% Corp", "Customer_Since__c": "2024-04-20"},
    {
        "Name": "Gamma_Co",
        "Industry": "banking",
        "Products__c": "Payments",
        "NumberOfEmployees": 10,
        "Customer_Since__c": "2023-12-01",
    },
    {
        "Name": "Delta O'Neil",
        "Industry": "Retail",
        "Products__c": "Analytics;Payments;CRM",
        "NumberOfEmployees": 2000,
        "Customer_Since__c": "2024-05-20",
    },
]


@pytest.fixture(scope="module")
def table_client() -> Iterator[httpx.Client]:
    """A client of an org holding exactly :data:`ACCOUNTS` (plus two contacts)."""
    emulator = SalesforceEmulator(accounts=0, contacts=0, users=2, seed=1, clock=frozen_clock())
    ids = emulator.insert("Account", ACCOUNTS)
    emulator.insert(
        "Contact",
        [{"LastName": "Linked", "AccountId": ids[0], "Email": "linked@acme.example"}, {"LastName": "Loner"}],
    )
    with (
        serve_in_thread(emulator.app) as url,
        httpx.Client(
            base_url=f"{url}/services/data/v62.0",
            headers={"Authorization": f"Bearer {emulator.issue_token()}"},
        ) as client,
    ):
        yield client


def names(client: httpx.Client, where: str, order: str = "") -> list[str]:
    response = client.get("/query", params={"q": f"SELECT Name FROM Account WHERE {where} {order}"})
    assert response.status_code == 200, response.text
    return [r["Name"] for r in response.json()["records"]]


SEMANTICS = [
    ("equals is case-insensitive", "Industry = 'Banking'", {"Acme Banking", "Gamma_Co"}),
    ("not-equals matches nulls", "Industry != 'Banking'", {"acme labs", "Beta 100% Corp", "Delta O'Neil"}),
    (
        "angle not-equals matches nulls",
        "Industry <> 'banking'",
        {"acme labs", "Beta 100% Corp", "Delta O'Neil"},
    ),
    ("equals null tests nullness", "Industry = null", {"Beta 100% Corp"}),
    (
        "not equals null tests non-nullness",
        "Industry != null",
        {"Acme Banking", "acme labs", "Gamma_Co", "Delta O'Neil"},
    ),
    ("empty string is null", "Industry = ''", {"Beta 100% Corp"}),
    ("IN ignores case", "Industry IN ('banking', 'RETAIL')", {"Acme Banking", "Gamma_Co", "Delta O'Neil"}),
    ("NOT IN matches nulls", "Industry NOT IN ('Banking')", {"acme labs", "Beta 100% Corp", "Delta O'Neil"}),
    (
        "NOT IN with null in the list excludes nulls",
        "Industry NOT IN ('Banking', null)",
        {"acme labs", "Delta O'Neil"},
    ),
    ("LIKE is case-insensitive", "Name LIKE 'ACME%'", {"Acme Banking", "acme labs"}),
    ("LIKE underscore matches one character", "Name LIKE 'Gamma_Co'", {"Gamma_Co"}),
    ("LIKE with escaped percent matches a literal percent", "Name LIKE '%100\\% Corp'", {"Beta 100% Corp"}),
    ("LIKE with escaped underscore matches a literal underscore", "Name LIKE '%\\_%'", {"Gamma_Co"}),
    ("string escape of a quote", "Name = 'delta o\\'neil'", {"Delta O'Neil"}),
    ("unicode escape", "Name = 'Acme \\u0042anking'", {"Acme Banking"}),
    ("INCLUDES one value", "Products__c INCLUDES ('crm')", {"Acme Banking", "acme labs", "Delta O'Neil"}),
    (
        "INCLUDES with a semicolon needs all values",
        "Products__c INCLUDES ('Analytics;Payments')",
        {"Delta O'Neil"},
    ),
    (
        "INCLUDES with several items is OR",
        "Products__c INCLUDES ('Payments', 'Analytics;CRM')",
        {"Acme Banking", "Gamma_Co", "Delta O'Neil"},
    ),
    ("EXCLUDES matches nulls", "Products__c EXCLUDES ('CRM')", {"Beta 100% Corp", "Gamma_Co"}),
    ("multipicklist equals compares the set", "Products__c = 'CRM;Analytics'", {"Acme Banking"}),
    ("greater than skips nulls", "NumberOfEmployees > 100", {"acme labs", "Delta O'Neil"}),
    (
        "OR with null test",
        "NumberOfEmployees < 100 OR NumberOfEmployees = null",
        {"Acme Banking", "Beta 100% Corp", "Gamma_Co"},
    ),
    (
        "NOT of equals matches nulls",
        "NOT Industry = 'Banking'",
        {"acme labs", "Beta 100% Corp", "Delta O'Neil"},
    ),
    (
        "parentheses group OR inside AND",
        "(Industry = 'Banking' OR Industry = 'Retail') AND NumberOfEmployees >= 50",
        {"Acme Banking", "Delta O'Neil"},
    ),
    ("restricted picklist equals ignores case", "Partner_Status__c = 'active'", {"Acme Banking"}),
    ("TODAY on a date field", "Customer_Since__c = TODAY", {"Acme Banking"}),
    ("YESTERDAY", "Customer_Since__c = YESTERDAY", {"acme labs"}),
    ("THIS_WEEK starts on Sunday", "Customer_Since__c = THIS_WEEK", {"Acme Banking", "acme labs"}),
    ("NEXT_WEEK", "Customer_Since__c = NEXT_WEEK", {"Delta O'Neil"}),
    ("LAST_MONTH", "Customer_Since__c = LAST_MONTH", {"Beta 100% Corp"}),
    ("LAST_YEAR", "Customer_Since__c = LAST_YEAR", {"Gamma_Co"}),
    (
        "LAST_N_DAYS includes today",
        "Customer_Since__c = LAST_N_DAYS:30",
        {"Acme Banking", "acme labs", "Beta 100% Corp"},
    ),
    ("greater than TODAY is after today", "Customer_Since__c > TODAY", {"Delta O'Neil"}),
    ("date literal comparison", "Customer_Since__c < 2024-01-01", {"Gamma_Co"}),
    (
        "TODAY on a datetime field",
        "CreatedDate = TODAY",
        {"Acme Banking", "acme labs", "Beta 100% Corp", "Gamma_Co", "Delta O'Neil"},
    ),
    (
        "datetime literal with Z",
        "CreatedDate > 2024-05-15T11:00:00Z",
        {"Acme Banking", "acme labs", "Beta 100% Corp", "Gamma_Co", "Delta O'Neil"},
    ),
    ("datetime literal with an offset", "CreatedDate < 2024-05-15T12:30:00+01:00", set()),
    (
        "datetime literal with millis and +0000",
        "CreatedDate = 2024-05-15T12:00:00.000+0000",
        {"Acme Banking", "acme labs", "Beta 100% Corp", "Gamma_Co", "Delta O'Neil"},
    ),
    (
        "relationship path in WHERE",
        "Owner.Username = 'ADMIN@example.com' AND Type = 'Prospect'",
        {"Acme Banking"},
    ),
    ("boolean literal", "IsDeleted = FALSE AND NumberOfEmployees = 10", {"Gamma_Co"}),
]


@pytest.mark.parametrize(
    ("where", "expected"), [(w, e) for _, w, e in SEMANTICS], ids=[s[0] for s in SEMANTICS]
)
def test_given_known_accounts_when_filtering_then_salesforce_semantics_apply(
    table_client: httpx.Client, where: str, expected: set[str]
) -> None:
    assert set(names(table_client, where)) == expected


ORDERINGS = [
    (
        "nulls sort first by default",
        "ORDER BY NumberOfEmployees",
        ["Beta 100% Corp", "Gamma_Co", "Acme Banking", "acme labs", "Delta O'Neil"],
    ),
    (
        "descending with nulls last",
        "ORDER BY NumberOfEmployees DESC NULLS LAST",
        ["Delta O'Neil", "acme labs", "Acme Banking", "Gamma_Co", "Beta 100% Corp"],
    ),
    (
        "text sorts case-insensitively",
        "ORDER BY Name",
        ["Acme Banking", "acme labs", "Beta 100% Corp", "Delta O'Neil", "Gamma_Co"],
    ),
    (
        "several keys, descending puts nulls first",
        "ORDER BY Industry DESC, Name",
        ["Beta 100% Corp", "acme labs", "Delta O'Neil", "Acme Banking", "Gamma_Co"],
    ),
    ("limit and offset", "ORDER BY Name LIMIT 2 OFFSET 1", ["acme labs", "Beta 100% Corp"]),
]


@pytest.mark.parametrize(
    ("order", "expected"), [(o, e) for _, o, e in ORDERINGS], ids=[o[0] for o in ORDERINGS]
)
def test_given_known_accounts_when_ordering_then_records_come_in_soql_order(
    table_client: httpx.Client, order: str, expected: list[str]
) -> None:
    assert names(table_client, "Name != null", order) == expected


def test_when_selecting_relationship_paths_then_nested_objects_have_attributes(
    table_client: httpx.Client,
) -> None:
    body = table_client.get(
        "/query",
        params={"q": "SELECT LastName, Account.Name, Account.Owner.Username FROM Contact ORDER BY LastName"},
    ).json()
    linked, loner = body["records"]
    assert linked["Account"]["attributes"]["type"] == "Account"
    assert linked["Account"]["attributes"]["url"].startswith("/services/data/v62.0/sobjects/Account/001")
    assert linked["Account"]["Name"] == "Acme Banking"
    assert linked["Account"]["Owner"]["attributes"]["type"] == "User"
    assert linked["Account"]["Owner"]["Username"] == "admin@example.com"
    assert loner["Account"] is None


def test_when_counting_then_total_size_is_the_count_and_no_records(table_client: httpx.Client) -> None:
    body = table_client.get(
        "/query", params={"q": "SELECT COUNT() FROM Account WHERE Industry = 'Banking'"}
    ).json()
    assert body == {"totalSize": 2, "done": True, "records": []}


def test_when_field_names_use_other_case_then_response_uses_describe_names(
    table_client: httpx.Client,
) -> None:
    record = table_client.get(
        "/query", params={"q": "select name, INDUSTRY from account where name = 'gamma_co'"}
    ).json()["records"][0]
    assert list(record) == ["attributes", "Name", "Industry"]


MALFORMED = [
    ("missing field list", "SELECT FROM Account", "MALFORMED_QUERY"),
    ("misspelled FROM", "SELECT Id FORM Account", "MALFORMED_QUERY"),
    (
        "AND and OR mixed without parentheses",
        "SELECT Id FROM Account WHERE Name = 'x' AND Industry = 'y' OR Type = 'z'",
        "MALFORMED_QUERY",
    ),
    ("unterminated string", "SELECT Id FROM Account WHERE Name = 'oops", "MALFORMED_QUERY"),
    ("illegal escape", "SELECT Id FROM Account WHERE Name = 'a\\qb'", "MALFORMED_QUERY"),
    ("duplicate field", "SELECT Id, Name, id FROM Account", "MALFORMED_QUERY"),
    ("unsupported GROUP BY", "SELECT Industry FROM Account GROUP BY Industry", "MALFORMED_QUERY"),
    (
        "date literal without its number",
        "SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS",
        "MALFORMED_QUERY",
    ),
    ("offset over 2000", "SELECT Id FROM Account OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE"),
    ("unknown field", "SELECT Id, Bogus__c FROM Account", "INVALID_FIELD"),
    ("unknown relationship", "SELECT Id FROM Account WHERE Parent.Name = 'x'", "INVALID_FIELD"),
    ("unknown object", "SELECT Id FROM Opportunityx", "INVALID_TYPE"),
    ("quoted number", "SELECT Id FROM Account WHERE NumberOfEmployees = '10'", "INVALID_FIELD"),
    ("date on a datetime field", "SELECT Id FROM Account WHERE CreatedDate = 2024-01-01", "INVALID_FIELD"),
    ("INCLUDES on a text field", "SELECT Id FROM Account WHERE Name INCLUDES ('x')", "INVALID_FIELD"),
    ("ORDER BY a multipicklist", "SELECT Id FROM Account ORDER BY Products__c", "INVALID_FIELD"),
    ("malformed id literal", "SELECT Id FROM Account WHERE Id = '001abc'", "INVALID_QUERY_FILTER_OPERATOR"),
]


@pytest.mark.parametrize(("query", "code"), [(q, c) for _, q, c in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_given_a_bad_query_when_running_it_then_400_with_salesforce_error_code(
    table_client: httpx.Client, query: str, code: str
) -> None:
    response = table_client.get("/query", params={"q": query})
    assert response.status_code == 400
    [error] = response.json()
    assert error["errorCode"] == code
    assert re.search(r"ERROR at Row:1:Column:\d+", error["message"]) or code in ("MALFORMED_QUERY",)


def test_given_an_unknown_field_when_querying_then_message_points_at_it(table_client: httpx.Client) -> None:
    [error] = table_client.get("/query", params={"q": "SELECT Id, Bogus__c FROM Account"}).json()
    assert "No such column 'Bogus__c' on entity 'Account'" in error["message"]
    assert "ERROR at Row:1:Column:12" in error["message"]


# -- paging ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_client() -> Iterator[httpx.Client]:
    emulator = SalesforceEmulator(accounts=4500, contacts=0, users=3, seed=3, clock=frozen_clock())
    with (
        serve_in_thread(emulator.app) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {emulator.issue_token()}"}) as client,
    ):
        yield client


def test_given_4500_accounts_when_querying_then_pages_of_2000_follow_next_records_url(
    big_client: httpx.Client,
) -> None:
    response = big_client.get("/services/data/v62.0/query", params={"q": "SELECT Id, Name FROM Account"})
    sizes, ids = [], []
    while True:
        body = response.json()
        assert body["totalSize"] == 4500
        sizes.append(len(body["records"]))
        ids.extend(r["Id"] for r in body["records"])
        if body["done"]:
            assert "nextRecordsUrl" not in body
            break
        assert re.fullmatch(r"/services/data/v62\.0/query/01g[0-9A-Za-z]{15}-\d+", body["nextRecordsUrl"])
        response = big_client.get(body["nextRecordsUrl"])
    assert sizes == [2000, 2000, 500]
    assert len(set(ids)) == 4500


def test_given_a_batch_size_header_when_querying_then_pages_have_that_size(big_client: httpx.Client) -> None:
    response = big_client.get(
        "/services/data/v62.0/query",
        params={"q": "SELECT Id FROM Account ORDER BY Name LIMIT 450"},
        headers={"Sforce-Query-Options": "batchSize=200"},
    )
    first = response.json()
    assert len(first["records"]) == 200
    assert first["nextRecordsUrl"].endswith("-200")
    second = big_client.get(first["nextRecordsUrl"]).json()
    third = big_client.get(second["nextRecordsUrl"]).json()
    assert (len(second["records"]), len(third["records"]), third["done"]) == (200, 50, True)


def test_given_a_too_small_batch_size_when_querying_then_salesforce_minimum_200_applies(
    big_client: httpx.Client,
) -> None:
    body = big_client.get(
        "/services/data/v62.0/query",
        params={"q": "SELECT Id FROM Account"},
        headers={"Sforce-Query-Options": "batchSize=5"},
    ).json()
    assert len(body["records"]) == 200


def test_given_an_unknown_locator_when_fetching_more_then_invalid_query_locator(
    big_client: httpx.Client,
) -> None:
    response = big_client.get("/services/data/v62.0/query/01g5g0000000999AAA-2000")
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_given_records_ordered_by_modstamp_when_paging_then_order_is_modstamp_then_id(
    big_client: httpx.Client,
) -> None:
    body = big_client.get(
        "/services/data/v62.0/query",
        params={"q": "SELECT Id, SystemModstamp FROM Account ORDER BY SystemModstamp, Id LIMIT 300"},
    ).json()
    keys = [(r["SystemModstamp"], r["Id"]) for r in body["records"]]
    assert keys == sorted(keys)


# -- deleted rows and ties ---------------------------------------------------------------------------------------


def test_given_a_deleted_account_when_querying_then_only_query_all_returns_it_marked_deleted(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    victim = sf.ids("Account", limit=1)[0]
    sf.delete("Account", victim)
    soql = f"SELECT Id, IsDeleted FROM Account WHERE Id = '{victim}'"
    assert sf_client.get("/query", params={"q": soql}).json()["totalSize"] == 0
    rows = sf_client.get("/queryAll", params={"q": soql}).json()["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in rows] == [(victim, True)]


def test_given_5000_records_sharing_a_modstamp_when_reading_incrementally_then_none_is_lost_or_repeated() -> (
    None
):
    emulator = SalesforceEmulator(accounts=6000, contacts=0, users=1, seed=5, clock=frozen_clock())
    tied = emulator.set_modstamp("Account", "2024-05-01T00:00:00Z", count=5000)
    with (
        serve_in_thread(emulator.app) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {emulator.issue_token()}"}) as client,
    ):
        soql = (
            "SELECT Id FROM Account WHERE SystemModstamp = 2024-05-01T00:00:00Z ORDER BY SystemModstamp, Id"
        )
        response = client.get("/services/data/v62.0/query", params={"q": soql})
        seen: list[str] = []
        while True:
            body = response.json()
            seen.extend(r["Id"] for r in body["records"])
            if body["done"]:
                break
            response = client.get(body["nextRecordsUrl"])
    assert len(seen) == 5000
    assert set(seen) == set(tied)
    assert seen == sorted(seen)


def test_given_a_modstamp_window_when_querying_then_only_records_inside_it_come_back(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    changed = sf.touch("Account", count=3)
    body = sf_client.get(
        "/query", params={"q": "SELECT Id FROM Account WHERE SystemModstamp >= 2024-05-15T12:00:00Z"}
    ).json()
    assert {r["Id"] for r in body["records"]} == set(changed)
