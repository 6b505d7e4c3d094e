"""What the contract cannot say about HubSpot: the 10,000-result search cap, its error bodies, OAuth,
batch splitting and result matching, archive, filter-group limits.

Emulator cases reach the HubSpot emulator over loopback HTTP; two cases that need HubSpot behaviour
the emulator does not have (a batch refused as a whole, results in another order than the inputs)
use an ``httpx.MockTransport`` that fails the test when an expected call did not happen.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest

from crmhub.connectors import registry
from crmhub.connectors.base import REMOTE_ID
from crmhub.connectors.http import Action
from crmhub.connectors.hubspot import HubSpotConnector, HubSpotCredentials, HubSpotSettings
from crmhub.connectors.hubspot.connector import HUBSPOT_ERRORS, value_type
from crmhub.emulators._common.clock import from_ms
from crmhub.emulators.hubspot import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PRIVATE_APP_TOKEN,
    HubSpotEmulator,
)
from crmhub.emulators.serve import serve_in_thread
from crmhub.expr import compile_converter, compile_python, parse

from .rigs import read_all, recording_retry


@contextlib.contextmanager
def hubspot(
    emulator: HubSpotEmulator,
    *,
    credentials: HubSpotCredentials | None = None,
    auth_method: str = "private_app",
) -> Iterator[tuple[HubSpotConnector, list[dict[str, Any]]]]:
    """A connector on ``emulator`` and the log of the JSON bodies it sent (method, path, body)."""
    sent: list[dict[str, Any]] = []

    def log(request: httpx.Request) -> None:
        if request.url.path != "/oauth/v1/token":  # a form, and secret
            body = orjson.loads(request.content) if request.content else None
            sent.append({"method": request.method, "path": request.url.path, "body": body})

    with serve_in_thread(emulator.app) as url, httpx.Client(event_hooks={"request": [log]}) as http:
        connector = HubSpotConnector(
            HubSpotSettings(base_url=url, auth_method=auth_method),  # type: ignore[arg-type]
            credentials or HubSpotCredentials(access_token=DEFAULT_PRIVATE_APP_TOKEN),
            retry=recording_retry([]),
            http=http,
        )
        yield connector, sent


def _searches(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s["body"] for s in sent if s["path"].endswith("/search")]


# -- the 10,000-result cap ----------------------------------------------------------------------------


def test_given_more_than_10000_results_and_10300_sharing_one_modstamp_when_read_then_windows_and_id_slices_read_each_once_in_order() -> (
    None
):
    emulator = HubSpotEmulator(companies=10_700, contacts=0, owners=2, seed=3)
    tie = from_ms(emulator.clock.now_ms() - 600_000)
    tied = set(emulator.set_modstamp("companies", tie, count=10_300))
    moved = emulator.touch("companies", ids=sorted(tied)[:50])  # 50 of the tied move after the tie
    with hubspot(emulator) as (connector, sent):
        records, _ = read_all(connector.read("companies", ["name"]))
    ids = [r.id for r in records]
    keys = [(r.modstamp, int(r.id)) for r in records]
    assert len(ids) == len(set(ids)) == emulator.count("companies") == 10_700
    assert keys == sorted(keys)
    assert set(ids[-50:]) == set(moved)
    assert len([r for r in records if r.id in tied and r.id not in moved]) == 10_250
    searches = _searches(sent)
    assert all(int(b.get("after", 0)) + b["limit"] <= 10_000 for b in searches)
    filters = [f for b in searches for g in b["filterGroups"] for f in g["filters"]]
    assert {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(_ms(tie))} in filters
    assert any(f["propertyName"] == "hs_object_id" and f["operator"] == "GT" for f in filters)
    assert {"propertyName": "hs_lastmodifieddate", "operator": "EQ", "value": str(_ms(tie))} in filters


def _ms(value: Any) -> int:
    from crmhub.connectors.hubspot.connector import to_ms

    return to_ms(value)


def test_given_a_window_with_sub_millisecond_bounds_when_read_then_only_records_inside_it_come() -> None:
    emulator = HubSpotEmulator(companies=300, contacts=0, owners=2, seed=3)
    half_ms = timedelta(microseconds=500)
    with hubspot(emulator) as (connector, sent):
        everything, _ = read_all(connector.read("companies", ["name"]))
        first, last = everything[100].modstamp, everything[200].modstamp
        assert first and last
        # since is half a millisecond after record 100 (which is out), until half a millisecond after
        # record 200 (which is in): HubSpot stamps are whole milliseconds.
        window, _ = read_all(
            connector.read(
                "companies", ["name"], since=_dt(first) + half_ms, until=_dt(last) + half_ms, page_size=40
            )
        )
    assert [r.id for r in window] == [r.id for r in everything[101:201]]
    bounds = _searches(sent)[-1]["filterGroups"][0]["filters"]
    assert bounds == [
        {
            "propertyName": "hs_lastmodifieddate",
            "operator": "BETWEEN",
            "value": str(_ms(_dt(first)) + 1),
            "highValue": str(_ms(_dt(last))),
        }
    ]


def _dt(text: str) -> Any:
    from .rigs import utc

    return utc(text)


# -- filters --------------------------------------------------------------------------------------------


def test_given_a_filter_mixing_an_association_path_in_an_or_when_read_then_it_is_evaluated_locally_and_exactly() -> (
    None
):
    emulator = HubSpotEmulator(companies=40, contacts=400, owners=3, seed=5)
    text = (
        '(associatedcompany.industry IN ("BANKING", "RETAIL", "INTERNET") OR firstname LIKE "A%") '
        'AND lifecyclestage != "customer"'
    )
    with hubspot(emulator) as (connector, sent):
        fields = ["firstname", "lifecyclestage", "associatedcompany.industry"]
        everything, _ = read_all(connector.read("contacts", fields))
        filtered, _ = read_all(connector.read("contacts", ["email"], filter=parse(text)))
    evaluate = compile_python(parse(text))
    text_value = compile_converter("text", None, field="x")  # type: ignore[arg-type]
    expected = {r.id for r in everything if evaluate({k: text_value(v) for k, v in r.values.items()}) is True}
    assert 0 < len(expected) < len(everything)
    assert {r.id for r in filtered} == expected
    assert all(set(r.values) == {"email"} for r in filtered)
    pushed = _searches(sent)[-1]["filterGroups"]
    assert pushed and all(
        f["propertyName"] != "associatedcompany.industry" for g in pushed for f in g["filters"]
    )


def test_given_a_filter_with_more_conditions_than_a_search_takes_then_each_group_stays_within_hubspot_limits() -> (
    None
):
    emulator = HubSpotEmulator(companies=500, contacts=0, owners=3, seed=5)
    text = (
        "numberofemployees > 5 AND numberofemployees < 90000 AND annualrevenue > 1000 "
        'AND industry != "RETAIL" AND type != "VENDOR" AND country != "France" AND city != "Paris"'
    )
    with hubspot(emulator) as (connector, sent):
        fields = ["numberofemployees", "annualrevenue", "industry", "type", "country", "city"]
        everything, _ = read_all(connector.read("companies", fields))
        filtered, _ = read_all(connector.read("companies", ["name"], filter=parse(text)))
    groups = _searches(sent)[-1]["filterGroups"]
    assert all(len(g["filters"]) <= 6 for g in groups)
    assert sum(len(g["filters"]) for g in groups) <= 18
    description_types = {"numberofemployees": "number", "annualrevenue": "number"}
    converters = {
        f: compile_converter(description_types.get(f, "text"), None, field=f)  # type: ignore[arg-type]
        for f in fields
    }
    evaluate = compile_python(parse(text))
    expected = {
        r.id for r in everything if evaluate({k: converters[k](v) for k, v in r.values.items()}) is True
    }
    assert 0 < len(expected) < len(everything)
    assert {r.id for r in filtered} == expected


# -- errors, limits, auth --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "action"),
    [
        pytest.param(
            429,
            {"status": "error", "errorType": "RATE_LIMIT", "policyName": "DAILY", "message": "daily"},
            Action.LIMIT,
            id="a 429 for the daily policy stops the run",
        ),
        pytest.param(
            429,
            {
                "status": "error",
                "errorType": "RATE_LIMIT",
                "policyName": "TEN_SECONDLY_ROLLING",
                "message": "x",
            },
            Action.RETRY,
            id="a 429 for the burst policy is waited out",
        ),
        pytest.param(
            401,
            {"status": "error", "category": "EXPIRED_AUTHENTICATION", "message": "expired 3 second(s) ago"},
            Action.REFRESH,
            id="an expired token is refreshed",
        ),
        pytest.param(
            409,
            {"status": "error", "category": "CONFLICT", "message": "exists"},
            Action.SKIP,
            id="a conflict skips",
        ),
        pytest.param(
            400,
            {"status": "error", "category": "VALIDATION_ERROR", "message": "bad filter"},
            Action.FAIL,
            id="a validation error fails",
        ),
        pytest.param(
            503,
            {"status": "error", "category": "SERVICE_UNAVAILABLE", "message": "later"},
            Action.RETRY,
            id="an unavailable service is retried",
        ),
    ],
)
def test_hubspot_error_bodies_map_to_actions(status: int, body: dict[str, Any], action: Action) -> None:
    verdict = HUBSPOT_ERRORS.classify(httpx.Response(status, json=body))
    assert verdict.action is action
    assert verdict.message == body["message"]


@pytest.mark.parametrize(
    ("prop_type", "field_type", "expected"),
    [
        pytest.param("number", "number", "number", id="number is a number"),
        pytest.param("date", "date", "date", id="date is a date"),
        pytest.param("datetime", "date", "datetime", id="datetime is a datetime"),
        pytest.param("bool", "booleancheckbox", "boolean", id="bool is a boolean"),
        pytest.param("enumeration", "booleancheckbox", "boolean", id="a boolean checkbox is a boolean"),
        pytest.param("enumeration", "checkbox", "multi_text", id="a multi checkbox is multi text"),
        pytest.param("enumeration", "select", "text", id="a select is text"),
        pytest.param("string", "textarea", "text", id="a string is text"),
    ],
)
def test_hubspot_property_types_map_to_hub_value_types(
    prop_type: str, field_type: str, expected: str
) -> None:
    assert value_type(prop_type, field_type) == expected


def test_given_rate_limit_headers_when_called_then_usage_reports_the_daily_remaining() -> None:
    emulator = HubSpotEmulator(companies=20, contacts=0, owners=2, daily_limit=1000)
    with hubspot(emulator) as (connector, _):
        check = connector.test()
        read_all(connector.read("companies", ["name"]))
    reported = connector.usage.reported
    assert check.ok and check.details["daily_api_max"] == 1000
    assert reported["daily_limit"] == 1000
    assert reported["daily_remaining"] == emulator.usage.remaining
    assert reported["daily_used"] == emulator.usage.used == connector.usage.calls


@pytest.mark.parametrize(
    ("auth_method", "credentials", "says"),
    [
        pytest.param(
            "private_app",
            HubSpotCredentials(access_token="pat-na1-wrong"),
            "Authentication credentials not found",
            id="a wrong private app token is named",
        ),
        pytest.param(
            "oauth",
            HubSpotCredentials(
                client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET, refresh_token="revoked"
            ),
            "BAD_REFRESH_TOKEN",
            id="a refresh token that is not accepted is named",
        ),
        pytest.param(
            "oauth",
            HubSpotCredentials(client_id=DEFAULT_CLIENT_ID),
            "lacks client_secret, refresh_token",
            id="missing oauth credentials are listed",
        ),
    ],
)
def test_given_bad_credentials_when_tested_then_the_check_says_what_is_wrong_without_secrets(
    auth_method: str, credentials: HubSpotCredentials, says: str
) -> None:
    emulator = HubSpotEmulator(companies=1, contacts=0, owners=1)
    with hubspot(emulator, credentials=credentials, auth_method=auth_method) as (connector, _):
        check = connector.test()
    assert not check.ok
    assert says in check.message
    assert "revoked" not in check.message and "pat-na1-wrong" not in check.message


def test_the_registry_creates_a_hubspot_connector_with_secret_credentials() -> None:
    spec = registry.get("hubspot")
    fields = spec.fields()
    assert {f["name"] for f in fields["credentials"] if f["secret"]} == {
        "access_token",
        "client_id",
        "client_secret",
        "refresh_token",
    }
    connector = spec.create({"base_url": "http://127.0.0.1:9"}, {"access_token": "pat-x"})
    try:
        assert isinstance(connector, HubSpotConnector)
        assert connector.settings.base_url == "http://127.0.0.1:9"
    finally:
        connector.close()


# -- writes ------------------------------------------------------------------------------------------------


def test_given_150_records_when_created_then_two_batches_go_and_every_record_has_its_result_in_order() -> (
    None
):
    emulator = HubSpotEmulator(companies=0, contacts=0, owners=1)
    records = [{"email": f"person{i}@example.com", "firstname": f"P{i}"} for i in range(150)]
    records[120]["email"] = "not an email"
    with hubspot(emulator) as (connector, sent):
        results = connector.write("contacts", records, mode="create")
    batches = [s for s in sent if s["path"].endswith("/batch/create")]
    assert [len(b["body"]["inputs"]) for b in batches] == [100, 50]
    assert [r.index for r in results] == list(range(150))
    assert [i for i, r in enumerate(results) if not r.ok] == [120]
    assert results[120].error_code == "INVALID_EMAIL" and results[120].fields == ("email",)
    for i in (0, 99, 100, 149):
        assert results[i].remote_id is not None
        assert (
            emulator.get("contacts", results[i].remote_id)["properties"]["email"] == f"person{i}@example.com"
        )


def test_given_an_update_by_a_unique_property_when_written_then_records_are_found_by_it() -> None:
    emulator = HubSpotEmulator(companies=10, contacts=0, owners=1)
    keyed = [i for i in emulator.ids("companies") if emulator.get("companies", i)["properties"]["hub_id"]]
    key = emulator.get("companies", keyed[0])["properties"]["hub_id"]
    with hubspot(emulator) as (connector, _):
        results = connector.write(
            "companies",
            [{REMOTE_ID: key, "name": "By Hub Id"}, {REMOTE_ID: "HUB-NOPE", "name": "x"}, {"name": "no key"}],
            mode="update",
            match="hub_id",
        )
        with pytest.raises(Exception, match="not a unique property"):
            connector.write("companies", [{REMOTE_ID: "x", "name": "y"}], mode="update", match="name")
    assert [r.ok for r in results] == [True, False, False]
    assert results[0].remote_id == keyed[0]
    assert results[2].error_code == "MISSING_ID"
    assert emulator.get("companies", keyed[0])["properties"]["name"] == "By Hub Id"


def test_given_records_when_archived_then_they_are_gone_and_batch_read_skips_them() -> None:
    emulator = HubSpotEmulator(companies=10, contacts=0, owners=1)
    ids = emulator.ids("companies")
    with hubspot(emulator) as (connector, _):
        archived = connector.archive("companies", ids[:2])
        found = connector.batch_read("companies", ids[:4], ["name", "domain"])
    assert [r.ok for r in archived] == [True, True]
    assert emulator.count("companies") == 8
    assert [r.id for r in found] == ids[2:4]
    assert found[0].values["name"] == emulator.get("companies", ids[2])["properties"]["name"]
    assert found[0].modstamp is not None


class _StrictHubSpot:
    """A mock HubSpot that refuses a batch with any bad input as a whole (400) and answers the good
    ones in reverse order with their ``objectWriteTraceId`` — behaviour the emulator does not have."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/crm/v3/properties/companies":
            props = [
                {"name": n, "type": t, "fieldType": "text", "options": []}
                for n, t in (
                    ("name", "string"),
                    ("numberofemployees", "number"),
                    ("hs_lastmodifieddate", "datetime"),
                )
            ]
            return httpx.Response(200, json={"results": props})
        assert request.url.path == "/crm/v3/objects/companies/batch/create", request.url.path
        inputs = orjson.loads(request.content)["inputs"]
        self.batches.append(len(inputs))
        if any(not str(i["properties"].get("numberofemployees", "0")).isdigit() for i in inputs):
            return httpx.Response(
                400,
                json={
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": "Property values were not valid",
                },
            )
        results = [
            {
                "id": str(900 + int(i["objectWriteTraceId"])),
                "objectWriteTraceId": i["objectWriteTraceId"],
                "properties": {},
            }
            for i in reversed(inputs)
        ]
        return httpx.Response(201, json={"status": "COMPLETE", "results": results})


def test_given_a_batch_refused_as_a_whole_when_created_then_it_is_split_until_the_bad_record_stands_alone() -> (
    None
):
    mock = _StrictHubSpot()
    records = [{"name": f"C{i}", "numberofemployees": "lots" if i == 5 else i} for i in range(8)]
    with httpx.Client(transport=httpx.MockTransport(mock), base_url="https://api.hubapi.com") as http:
        connector = HubSpotConnector(
            HubSpotSettings(),
            HubSpotCredentials(access_token="pat-test"),
            retry=recording_retry([]),
            http=http,
        )
        results = connector.write("companies", records, mode="create")
    assert mock.batches == [8, 4, 4, 2, 1, 1, 2]  # halves (depth first) until record 5 is alone
    assert [r.ok for r in results] == [True] * 5 + [False] + [True] * 2
    assert results[5].error_code == "VALIDATION_ERROR" and results[5].message
    assert [r.remote_id for r in results if r.ok] == [str(900 + i) for i in (0, 1, 2, 3, 4, 6, 7)]


def test_given_a_contact_with_a_primary_and_a_second_company_when_read_then_the_path_follows_the_primary() -> (
    None
):
    emulator = HubSpotEmulator(companies=30, contacts=40, owners=2, seed=5)
    companies = emulator.ids("companies")
    contact = emulator.ids("contacts")[3]
    primary = emulator.get("contacts", contact)["properties"]["associatedcompanyid"]
    other = max(companies, key=int) if max(companies, key=int) != primary else min(companies, key=int)
    with hubspot(emulator) as (connector, _):
        # A second, unlabelled association (contact → company, type 279) through HubSpot's v4 API.
        connector.api.request(
            "PUT",
            f"/crm/v4/objects/contacts/{contact}/associations/companies/{other}",
            json=[{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
            what="associate",
        )
        records, _ = read_all(
            connector.read("contacts", ["associatedcompany.name", "associatedcompany.domain"])
        )
    found = next(r for r in records if r.id == contact)
    company = emulator.get("companies", primary)["properties"]
    assert found.values == {
        "associatedcompany.name": company["name"],
        "associatedcompany.domain": company["domain"],
    }
    assert company["name"] != emulator.get("companies", other)["properties"]["name"]


def test_given_a_207_whose_errors_come_in_another_order_when_updated_then_each_error_goes_to_its_record() -> (
    None
):
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/crm/v3/properties/companies":
            return httpx.Response(
                200, json={"results": [{"name": "name", "type": "string", "fieldType": "text"}]}
            )
        assert request.url.path == "/crm/v3/objects/companies/batch/update", request.url.path
        calls.append(len(orjson.loads(request.content)["inputs"]))
        errors = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"{i} is gone",
                "context": {"ids": [i]},
            }
            for i in ("300", "200")
        ]
        results = [{"id": "100", "properties": {"name": "A"}}]
        return httpx.Response(
            207, json={"status": "COMPLETE", "results": results, "numErrors": 2, "errors": errors}
        )

    records = [{REMOTE_ID: i, "name": "A"} for i in ("100", "200", "300")]
    with httpx.Client(transport=httpx.MockTransport(handler), base_url="https://api.hubapi.com") as http:
        connector = HubSpotConnector(
            HubSpotSettings(),
            HubSpotCredentials(access_token="pat-test"),
            retry=recording_retry([]),
            http=http,
        )
        results = connector.write("companies", records, mode="update")
    assert calls == [3]
    assert [(r.ok, r.message) for r in results] == [
        (True, None),
        (False, "200 is gone"),
        (False, "300 is gone"),
    ]


def test_given_the_related_record_cache_overflows_mid_read_then_every_path_value_stays_right(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from crmhub.connectors.hubspot import connector as module

    monkeypatch.setattr(module, "_COMPANY_CACHE_MAX", 5)
    emulator = HubSpotEmulator(companies=30, contacts=200, owners=2, seed=5)
    with hubspot(emulator) as (connector, sent):
        records, pages = read_all(
            connector.read("contacts", ["associatedcompanyid", "associatedcompany.name"], page_size=20)
        )
    names = {i: emulator.get("companies", i)["properties"]["name"] for i in emulator.ids("companies")}
    assert len(pages) == 10
    assert all(
        r.values["associatedcompany.name"] == names.get(r.values["associatedcompanyid"]) for r in records
    )
    assert sum(1 for r in records if r.values["associatedcompany.name"]) > 150
    company_reads = [s for s in sent if s["path"] == "/crm/v3/objects/companies/batch/read"]
    assert len(company_reads) == 10  # the cache was cleared, so each page fetched its companies again
