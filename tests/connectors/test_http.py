"""The shared HTTP layer: retry, refresh, limits and redaction, driven by a scripted transport.

The script is a list of responses the fake CRM gives in order; every test asserts the whole script
was consumed, so a call that did not happen fails the test.
"""

from __future__ import annotations

import logging

import httpx
import pytest

from crmhub.connectors.errors import (
    ApiLimitError,
    AuthenticationError,
    ConnectorFatalError,
    RecordRejectedError,
    TransientConnectorError,
)
from crmhub.connectors.http import Action, ApiClient, ErrorTable, RetryPolicy, parse_retry_after
from crmhub.connectors.redact import redact, redact_url


class Script:
    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert self.responses, f"unexpected extra call {request.method} {request.url}"
        return self.responses.pop(0)

    def done(self) -> None:
        assert self.responses == [], f"{len(self.responses)} expected call(s) did not happen"


class TokenAuth:
    def __init__(self, refreshable: bool = True) -> None:
        self.token = "tok-1"
        self.refreshable = refreshable
        self.refreshes = 0

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def refresh(self) -> bool:
        if not self.refreshable:
            return False
        self.refreshes += 1
        self.token = f"tok-{self.refreshes + 1}"
        return True


def _client(script: Script, *, auth=None, errors=None, sleeps=None, max_retries=3) -> ApiClient:
    policy = RetryPolicy(
        max_retries=max_retries,
        base_delay=0.01,
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
        jitter=lambda: 1.0,
    )
    return ApiClient(
        "https://crm.example",
        crm="TestCRM",
        auth=auth,
        errors=errors or ErrorTable(),
        retry=policy,
        http=httpx.Client(transport=httpx.MockTransport(script)),
    )


def test_given_429_with_retry_after_when_called_then_it_waits_that_long_and_succeeds() -> None:
    script = Script(
        httpx.Response(429, headers={"Retry-After": "2"}, json={"message": "slow down"}),
        httpx.Response(503),
        httpx.Response(200, json={"ok": True}),
    )
    sleeps: list[float] = []
    client = _client(script, sleeps=sleeps)
    assert client.request_json("GET", "/x", what="list things") == {"ok": True}
    script.done()
    assert sleeps == [2.0, 0.02]  # Retry-After honoured, then exponential backoff (attempt 1)
    assert client.usage.calls == 3 and client.usage.retries == 2


def test_given_a_retry_storm_longer_than_the_policy_then_a_retriable_error_names_the_call() -> None:
    script = Script(*[httpx.Response(503) for _ in range(4)])
    with pytest.raises(TransientConnectorError, match="list things: TestCRM answered 503.*after 4 attempts"):
        _client(script).request("GET", "/x", what="list things")
    script.done()


def test_given_an_expired_token_then_it_is_refreshed_once_and_the_call_repeated() -> None:
    script = Script(
        httpx.Response(401, json=[{"errorCode": "INVALID_SESSION_ID", "message": "Session expired"}]),
        httpx.Response(200, json={"ok": 1}),
    )
    auth = TokenAuth()
    client = _client(script, auth=auth)
    assert client.request_json("GET", "/x", what="query") == {"ok": 1}
    script.done()
    assert auth.refreshes == 1 and script.requests[1].headers["Authorization"] == "Bearer tok-2"


def test_given_a_token_that_stays_invalid_then_authentication_fails_clearly() -> None:
    script = Script(
        httpx.Response(401, json={"message": "bad token"}), httpx.Response(401, json={"message": "bad"})
    )
    with pytest.raises(AuthenticationError, match="query: TestCRM answered 401") as info:
        _client(script, auth=TokenAuth()).request("GET", "/x", what="query")
    script.done()
    assert "connections test" in str(info.value)


def test_given_a_session_that_expires_again_while_a_call_waits_out_a_rate_limit_then_each_expiry_is_refreshed() -> (
    None
):
    expired = {"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}
    script = Script(
        httpx.Response(401, json=[expired]),
        httpx.Response(429, headers={"Retry-After": "0"}, json={"message": "slow down"}),
        httpx.Response(401, json=[expired]),
        httpx.Response(200, json={"ok": 1}),
    )
    auth = TokenAuth()
    client = _client(script, auth=auth)
    assert client.request_json("GET", "/x", what="query") == {"ok": 1}
    script.done()
    assert auth.refreshes == 2 and client.usage.refreshed_tokens == 2
    assert [r.headers["Authorization"] for r in script.requests] == [
        "Bearer tok-1",
        "Bearer tok-2",
        "Bearer tok-2",
        "Bearer tok-3",
    ]


def test_given_a_fresh_token_refused_after_other_answers_then_the_credentials_are_blamed() -> None:
    script = Script(
        httpx.Response(401, json={"message": "expired"}),
        httpx.Response(503),
        httpx.Response(401, json={"message": "expired"}),
        httpx.Response(401, json={"message": "not this one either"}),  # the token just obtained: refused
    )
    auth = TokenAuth()
    with pytest.raises(AuthenticationError, match="a token obtained just before was refused") as info:
        _client(script, auth=auth).request("GET", "/x", what="query")
    script.done()
    assert auth.refreshes == 2 and "check the connection's credentials" in str(info.value)


def test_given_a_session_that_keeps_expiring_then_the_refresh_budget_ends_the_call_as_retriable() -> None:
    expired = httpx.Response(401, json={"message": "expired"})
    busy = httpx.Response(429, headers={"Retry-After": "0"})
    script = Script(expired, busy, expired, busy, expired, busy, expired)
    auth = TokenAuth()
    with pytest.raises(TransientConnectorError, match="session expired 4 times during one call") as info:
        _client(script, auth=auth, max_retries=10).request("GET", "/x", what="query")
    script.done()
    assert auth.refreshes == 3  # RetryPolicy.max_refreshes
    assert "credentials" not in str(info.value)


def test_given_a_token_that_cannot_be_refreshed_then_the_first_401_fails() -> None:
    script = Script(httpx.Response(401, json={"message": "bad token"}))
    with pytest.raises(AuthenticationError, match="query: TestCRM answered 401: bad token"):
        _client(script, auth=TokenAuth(refreshable=False)).request("GET", "/x", what="query")
    script.done()


def test_crm_error_codes_override_the_status() -> None:
    table = ErrorTable().override(
        codes={"REQUEST_LIMIT_EXCEEDED": Action.LIMIT, "UNABLE_TO_LOCK_ROW": Action.RETRY}
    )
    script = Script(
        httpx.Response(400, json=[{"errorCode": "UNABLE_TO_LOCK_ROW", "message": "locked"}]),
        httpx.Response(403, json=[{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "Total requests"}]),
    )
    with pytest.raises(ApiLimitError, match="REQUEST_LIMIT_EXCEEDED") as info:
        _client(script, errors=table).request("GET", "/x", what="query")
    script.done()
    assert "keeps its cursor" in str(info.value)


def test_a_retry_after_longer_than_the_policy_allows_is_a_limit_not_a_wait() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "86400"}))
    with pytest.raises(ApiLimitError, match="asked to wait 86400 s"):
        _client(script).request("GET", "/x", what="read")
    script.done()


def test_skip_and_fail_verdicts() -> None:
    script = Script(
        httpx.Response(422, json={"message": "bad record"}), httpx.Response(404, json={"message": "nope"})
    )
    client = _client(script)
    with pytest.raises(RecordRejectedError, match="bad record"):
        client.request("POST", "/x", what="create")
    with pytest.raises(ConnectorFatalError, match="404: nope"):
        client.request("GET", "/y", what="get")
    script.done()


def test_a_malformed_page_is_retried() -> None:
    script = Script(
        httpx.Response(200, content=b'{"records": [{"Id": '), httpx.Response(200, json={"records": []})
    )
    assert _client(script).request_json("GET", "/x", what="page") == {"records": []}
    script.done()


def test_transport_errors_are_retried_then_reported() -> None:
    calls = {"n": 0}

    def failing(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        raise httpx.ConnectError("connection refused")

    client = ApiClient(
        "https://crm.example",
        crm="TestCRM",
        retry=RetryPolicy(max_retries=2, sleep=lambda s: None),
        http=httpx.Client(transport=httpx.MockTransport(failing)),
    )
    with pytest.raises(TransientConnectorError, match="after 3 attempts: ConnectError"):
        client.request("GET", "/x", what="ping")
    assert calls["n"] == 3


def test_secrets_never_reach_messages_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    script = Script(
        httpx.Response(503, json={"message": "refresh_token=abc123 rejected"}),
        httpx.Response(400, json={"message": 'bad {"access_token": "xyz789"} Bearer sekret.tok'}),
    )
    caplog.set_level(logging.INFO, logger="crmhub.http")
    with pytest.raises(ConnectorFatalError) as info:
        _client(script).request("GET", "/x", what="query")
    script.done()
    for text in (str(info.value), caplog.text):
        assert "abc123" not in text and "xyz789" not in text and "sekret" not in text
    assert "***" in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-123", "Authorization: Bearer ***"),
        (
            "grant_type=password&password=hunter2&client_secret=s",
            "grant_type=password&password=***&client_secret=***",
        ),
        ('{"refresh_token": "r1", "name": "x"}', '{"refresh_token": "***", "name": "x"}'),
        ("session 00D5g000004ABCD!AQ8AQH.token", "session ***"),
    ],
    ids=["bearer header", "form body", "json body", "salesforce session id"],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_url_and_retry_after_parsing() -> None:
    assert (
        redact_url("https://u:p@x.example/v1?api_token=abc&start=0")
        == "https://x.example/v1?api_token=%2A%2A%2A&start=0"
    )
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None
