"""Salesforce emulator: usage headers, the daily limit, injected faults and the /__emulator endpoints."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from crmhub.emulators import FaultConfig, SalesforceEmulator, serve_in_thread

from .conftest import frozen_clock


def test_when_calling_the_api_then_every_response_reports_usage(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    first = sf_client.get("/limits")
    second = sf_client.get("/sobjects/Nope/describe")
    assert first.headers["Sforce-Limit-Info"] == "api-usage=1/100000"
    assert second.status_code == 404 and second.headers["Sforce-Limit-Info"] == "api-usage=2/100000"
    limits = sf_client.get("/limits").json()
    assert limits["DailyApiRequests"] == {"Max": 100000, "Remaining": 100000 - 3}
    assert sf.usage.used == 3


def test_given_the_daily_limit_is_reached_when_calling_then_403_request_limit_exceeded_until_reset(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    sf.set_daily_limit(2)
    assert [sf_client.get("/limits").status_code for _ in range(2)] == [200, 200]
    refused = sf_client.get("/limits")
    assert refused.status_code == 403
    assert refused.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=2/2"
    sf.reset_daily_usage()
    assert sf_client.get("/limits").status_code == 200


def test_given_injected_rate_limits_when_calling_then_429_with_retry_after(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    sf.inject_fault("rate_limit", 2)
    responses = [sf_client.get("/limits") for _ in range(3)]
    assert [r.status_code for r in responses] == [429, 429, 200]
    assert responses[0].headers["Retry-After"] == "1"
    assert responses[0].json()[0]["errorCode"] == "TOO_MANY_REQUESTS"


def test_given_injected_unavailability_when_calling_then_503_server_unavailable(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    sf.inject_fault("unavailable")
    response = sf_client.get("/limits")
    assert response.status_code == 503 and response.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"


def test_given_an_injected_token_expiry_when_calling_then_401_and_the_old_token_stays_dead(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    sf.inject_fault("expired_token")
    first = sf_client.get("/limits")
    assert first.status_code == 401 and first.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    assert sf_client.get("/limits").status_code == 401
    assert (
        sf_client.get("/limits", headers={"Authorization": f"Bearer {sf.issue_token()}"}).status_code == 200
    )


def test_given_an_injected_malformed_page_when_querying_then_200_with_truncated_json(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    sf.inject_fault("malformed")
    response = sf_client.get("/query", params={"q": "SELECT Id, Name FROM Account"})
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


def test_given_slow_responses_when_calling_then_the_answer_is_delayed(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    sf.set_faults(FaultConfig(slow_rate=1.0, slow_seconds=0.3))
    started = time.perf_counter()
    assert sf_client.get("/limits").status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_given_the_same_seed_when_rates_are_set_then_the_fault_sequence_repeats() -> None:
    def statuses() -> list[int]:
        emulator = SalesforceEmulator(
            accounts=1, contacts=0, users=1, fault=FaultConfig.uniform(0.3, seed=42)
        )
        with (
            serve_in_thread(emulator.app) as url,
            httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {emulator.issue_token()}"}
            ) as client,
        ):
            return [client.get("/services/data/v62.0/limits").status_code for _ in range(30)]

    first, second = statuses(), statuses()
    assert first == second
    assert {429, 503} & set(first) and 200 in first


def test_given_faults_when_calling_the_token_endpoint_then_it_is_never_faulted(
    sf: SalesforceEmulator, sf_url: str
) -> None:
    sf.set_faults(FaultConfig(rate_limit_rate=1.0))
    response = httpx.post(f"{sf_url}/services/oauth2/token", data={"grant_type": "nope"})
    assert response.status_code == 400


# -- /__emulator control endpoints --------------------------------------------------------------------------------


def test_when_touching_one_percent_over_http_then_that_many_records_change_and_move_their_modstamp(
    sf: SalesforceEmulator, sf_url: str, sf_client: httpx.Client
) -> None:
    response = httpx.post(f"{sf_url}/__emulator/records/Account/touch", json={"fraction": 0.01})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3 == len(body["ids"])
    soql = "SELECT Id FROM Account WHERE SystemModstamp >= 2024-05-15T12:00:00Z"
    assert {r["Id"] for r in sf_client.get("/query", params={"q": soql}).json()["records"]} == set(
        body["ids"]
    )


def test_when_posting_faults_over_http_then_the_next_calls_fail_accordingly(
    sf_url: str, sf_client: httpx.Client
) -> None:
    assert httpx.post(f"{sf_url}/__emulator/faults", json={"unavailable_rate": 1.0}).status_code == 200
    assert sf_client.get("/limits").status_code == 503
    assert httpx.delete(f"{sf_url}/__emulator/faults").status_code == 200
    assert sf_client.get("/limits").status_code == 200
    assert (
        httpx.post(f"{sf_url}/__emulator/faults/inject", json={"kind": "rate_limit", "count": 1}).status_code
        == 200
    )
    assert sf_client.get("/limits").status_code == 429
    bad = httpx.post(f"{sf_url}/__emulator/faults", json={"rate_limit_rate": 7})
    assert bad.status_code == 400 and "between 0 and 1" in bad.json()["error"]


def test_when_expiring_tokens_over_http_then_issued_tokens_stop_working(
    sf_url: str, sf_client: httpx.Client
) -> None:
    assert sf_client.get("/limits").status_code == 200
    assert httpx.post(f"{sf_url}/__emulator/tokens/expire").json() == {"expired": 1}
    assert sf_client.get("/limits").status_code == 401


def test_when_using_record_and_clock_endpoints_then_state_changes_as_asked(
    sf: SalesforceEmulator, sf_url: str
) -> None:
    created = httpx.post(f"{sf_url}/__emulator/records/Account", json={"records": [{"Name": "Via HTTP"}]})
    assert created.status_code == 201
    [new_id] = created.json()["ids"]
    assert httpx.get(f"{sf_url}/__emulator/records/Account/{new_id}").json()["Name"] == "Via HTTP"
    patched = httpx.patch(f"{sf_url}/__emulator/records/Account/{new_id}", json={"Industry": "Retail"})
    assert patched.json()["Industry"] == "Retail"
    stamped = httpx.post(
        f"{sf_url}/__emulator/records/Account/modstamp", json={"count": 5, "modstamp": "2024-01-01T00:00:00Z"}
    ).json()
    assert stamped["count"] == 5
    assert all(
        sf.get("Account", i)["SystemModstamp"] == "2024-01-01T00:00:00.000+0000" for i in stamped["ids"]
    )
    assert httpx.delete(f"{sf_url}/__emulator/records/Account/{new_id}").status_code == 204
    assert httpx.get(f"{sf_url}/__emulator/records/Account/{new_id}").status_code == 404
    clock = httpx.post(f"{sf_url}/__emulator/clock", json={"advance_seconds": 60}).json()
    assert clock == {"now": "2024-05-15T12:01:00.000Z", "frozen": True}
    state = httpx.get(f"{sf_url}/__emulator/state").json()
    assert state["records"]["Account"] == {"live": 300, "deleted": 1}
    assert httpx.post(f"{sf_url}/__emulator/records/Widget", json={"records": []}).status_code == 404
    assert httpx.post(f"{sf_url}/__emulator/usage/limit", json={"limit": 10}).json()["limit"] == 10


def test_when_inserting_invalid_records_through_the_control_api_then_a_clear_error_is_raised() -> None:
    from crmhub.emulators import InvalidRecordError

    emulator = SalesforceEmulator(accounts=0, contacts=0, users=1, clock=frozen_clock())
    with pytest.raises(InvalidRecordError, match="Required fields are missing"):
        emulator.insert("Account", [{"Industry": "Retail"}])
