"""The connector kit's small pieces: paging, auth, and the base's filter split, each on hand-written answers.

Every scripted transport asserts it was used up, so a call that did not happen fails the test.
"""

from __future__ import annotations

from collections.abc import Generator
from urllib.parse import parse_qs

import httpx
import pytest

from crmhub.connectors.auth import ApiKeyAuth, OAuth2, oauth_form
from crmhub.connectors.errors import AuthenticationError, ConnectorFatalError, TransientConnectorError
from crmhub.connectors.http import ApiClient, RetryPolicy
from crmhub.connectors.paging import (
    CursorAfter,
    NextUrl,
    ODataLinks,
    PageRequest,
    PageToken,
    Window,
    follow,
    windowed,
)

from .test_http import Script

# -- paging -------------------------------------------------------------------------------------------


def test_given_next_record_urls_when_followed_then_each_named_url_is_asked_until_done() -> None:
    bodies = iter(
        [
            {"done": False, "nextRecordsUrl": "/query/01g-2000"},
            {"done": False, "nextRecordsUrl": "/query/01g-4000"},
            {"done": True, "nextRecordsUrl": "/query/never"},
        ]
    )
    asked: list[PageRequest] = []

    def call(request: PageRequest) -> object:
        asked.append(request)
        return next(bodies)

    list(follow(NextUrl(PageRequest("/query", {"q": "SELECT Id FROM Account"})), call))
    assert [r.url for r in asked] == ["/query", "/query/01g-2000", "/query/01g-4000"]
    assert asked[1].params == {}


@pytest.mark.parametrize("in_body", [False, True], ids=["after in the query", "after in the search body"])
def test_given_an_after_cursor_when_followed_then_it_is_sent_back_until_there_is_none(in_body: bool) -> None:
    bodies = iter(
        [{"paging": {"next": {"after": "100"}}}, {"paging": {"next": {"after": 200}}}, {"results": []}]
    )
    asked: list[PageRequest] = []

    def call(request: PageRequest) -> object:
        asked.append(request)
        return next(bodies)

    start = PageRequest("/search", {"limit": 100}, {"limit": 100} if in_body else None)
    list(follow(CursorAfter(start, in_body=in_body), call))
    sent = [(r.json or {}).get("after") if in_body else r.params.get("after") for r in asked]
    assert sent == [None, "100", "200"]
    assert all(r.params.get("limit") == 100 for r in asked)


def test_given_more_than_2000_records_when_listed_then_pages_go_by_number_then_by_page_token_never_both() -> (
    None
):
    answers = [{"info": {"more_records": True, "next_page_token": f"tok{n}"}} for n in range(1, 13)]
    answers.append({"info": {"more_records": False}})
    bodies = iter(answers)
    asked: list[PageRequest] = []

    def call(request: PageRequest) -> object:
        asked.append(request)
        return next(bodies)

    list(follow(PageToken(PageRequest("/crm/v8/Accounts", {"fields": "id"}), per_page=200), call))
    assert [r.params.get("page") for r in asked[:10]] == list(range(1, 11))
    # Page 11 would reach past record 2,000: from here the token of the answer before is sent.
    assert [r.params.get("page_token") for r in asked[10:]] == ["tok10", "tok11", "tok12"]
    assert all(not ("page" in r.params and "page_token" in r.params) for r in asked)
    assert all(r.params["fields"] == "id" and r.params["per_page"] == 200 for r in asked)


def test_given_more_records_but_no_page_token_past_the_ceiling_then_the_read_stops_with_a_clear_error() -> (
    None
):
    pager = PageToken(PageRequest("/crm/v8/Accounts"), per_page=1000)
    pager.first()
    assert pager.next({"info": {"more_records": True}}) is not None  # page 2 (records 1001-2000)
    with pytest.raises(ConnectorFatalError, match="no page token"):
        pager.next({"info": {"more_records": True}})


def test_given_odata_pages_when_followed_then_next_links_are_followed_and_the_delta_link_is_kept() -> None:
    bodies = iter(
        [
            {"@odata.nextLink": "https://org/api/accounts?$skiptoken=2"},
            {"@odata.deltaLink": "https://org/d?t=9"},
        ]
    )
    pager = ODataLinks(PageRequest("/api/data/v9.2/accounts"))
    urls = []

    def call(request: PageRequest) -> object:
        urls.append(request.url)
        return next(bodies)

    list(follow(pager, call))
    assert urls == ["/api/data/v9.2/accounts", "https://org/api/accounts?$skiptoken=2"]
    assert pager.delta_link == "https://org/d?t=9"


# A CRM search over (stamp, id) rows that stops every window after CAP rows (HubSpot's 10,000,
# Zoho COQL's 100,000, made small).
CAP = 5
ROWS = sorted(
    [(1, 1), (2, 2), (2, 3), (3, 4)] + [(4, i) for i in range(10, 22)] + [(5, 30), (5, 31), (6, 40)]
)


def _search(rows: list[tuple[int, int]], honour_id_floor: bool = True):  # type: ignore[no-untyped-def]
    windows: list[Window[int, int]] = []

    def fetch(window: Window[int, int]) -> Generator[list[tuple[int, int]], None, bool]:
        windows.append(window)
        if window.tie is not None:
            hits = [r for r in rows if r[0] == window.tie]
            if honour_id_floor and window.id_floor is not None:
                hits = [r for r in hits if r[1] > window.id_floor]
        elif window.lo is None:
            hits = list(rows)
        else:
            hits = [r for r in rows if (r[0] > window.lo if window.exclusive else r[0] >= window.lo)]
        yield hits[:2]  # pages of two
        yield hits[2:CAP]
        return len(hits) > CAP

    return fetch, windows


def test_given_a_result_cap_and_a_modstamp_shared_by_more_rows_than_it_when_windowed_then_every_row_comes_once_in_order() -> (
    None
):
    fetch, windows = _search(ROWS)
    got = [r for batch in windowed(fetch, stamp=lambda r: r[0], ident=lambda r: r[1]) for r in batch]
    assert got == ROWS  # all 19, in (stamp, id) order, none twice
    # Window 1 is cut at (4, 10); window 2 starts at stamp 4 and is cut at (4, 14) without leaving
    # stamp 4, so stamp 4 is sliced by id (above 14, then above 19), then the read goes on after 4.
    assert windows == [
        Window(),
        Window(lo=4),
        Window(tie=4, id_floor=14),
        Window(tie=4, id_floor=19),
        Window(lo=4, exclusive=True),
    ]


def test_given_a_crm_that_ignores_the_id_slice_when_windowed_then_the_read_fails_instead_of_looping() -> None:
    fetch, _ = _search(ROWS, honour_id_floor=False)
    with pytest.raises(ConnectorFatalError, match="does not advance"):
        list(windowed(fetch, stamp=lambda r: r[0], ident=lambda r: r[1]))


# -- auth ---------------------------------------------------------------------------------------------


def _token(body: dict[str, object], status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


def test_given_a_refresh_token_when_a_token_is_obtained_then_the_form_the_scheme_the_rotation_and_the_api_domain_are_right() -> (
    None
):
    script = Script(
        _token(
            {
                "access_token": "at-1",
                "refresh_token": "rt-2",
                "api_domain": "https://eu.example",
                "expires_in": 3600,
            }
        ),
        _token({"access_token": "at-2", "expires_in": 3600}),
    )
    learnt: list[str] = []
    form = oauth_form("Zoho CRM", "refresh_token", client_id="cid", client_secret="cs", refresh_token="rt-1")
    auth = OAuth2(
        crm="Zoho CRM",
        token_url="https://accounts.example/oauth/v2/token",
        form=form,
        http=httpx.Client(transport=httpx.MockTransport(script)),
        scheme="Zoho-oauthtoken",
        on_token=lambda body: learnt.append(str(body["api_domain"])) if "api_domain" in body else None,
    )
    assert auth.headers() == {"Authorization": "Zoho-oauthtoken at-1"}
    assert auth.headers() == {"Authorization": "Zoho-oauthtoken at-1"}  # still valid: no second call
    assert auth.refresh() is True
    assert auth.headers() == {"Authorization": "Zoho-oauthtoken at-2"}
    script.done()
    first, second = (parse_qs(r.content.decode()) for r in script.requests)
    assert first == {
        "grant_type": ["refresh_token"],
        "client_id": ["cid"],
        "client_secret": ["cs"],
        "refresh_token": ["rt-1"],
    }
    assert second["refresh_token"] == ["rt-2"]  # the rotated one
    assert learnt == ["https://eu.example"]


@pytest.mark.parametrize(
    ("flow", "given", "missing"),
    [
        pytest.param(
            "refresh_token", {"client_id": "x"}, "client_secret, refresh_token", id="refresh flow lists both"
        ),
        pytest.param("client_credentials", {"client_secret": "y"}, "client_id", id="client credentials flow"),
        pytest.param("password", {"username": "u"}, "password", id="password flow"),
    ],
)
def test_given_missing_credentials_when_the_form_is_built_then_each_missing_one_is_named(
    flow: str, given: dict[str, str], missing: str
) -> None:
    with pytest.raises(AuthenticationError, match=f"lacks {missing} —"):
        oauth_form("TestCRM", flow, **given)  # type: ignore[arg-type]


def test_given_a_refused_refresh_token_then_the_error_names_the_code_and_not_the_secret() -> None:
    script = Script(
        _token({"error": "invalid_code", "error_description": "refresh_token=rt-secret is wrong"}, 400)
    )
    auth = OAuth2(
        crm="TestCRM",
        token_url="https://accounts.example/token",
        form={"grant_type": "refresh_token", "refresh_token": "rt-secret"},
        http=httpx.Client(transport=httpx.MockTransport(script)),
    )
    with pytest.raises(AuthenticationError) as info:
        auth.headers()
    script.done()
    assert info.value.code == "invalid_code"
    assert "invalid_code" in str(info.value) and "rt-secret" not in str(info.value)


def test_given_a_token_endpoint_that_is_down_then_the_error_is_transient() -> None:
    script = Script(_token({}, 503))
    auth = OAuth2(
        crm="TestCRM",
        token_url="https://a/token",
        form={"grant_type": "client_credentials"},
        http=httpx.Client(transport=httpx.MockTransport(script)),
    )
    with pytest.raises(TransientConnectorError):
        auth.headers()
    script.done()


def test_given_an_expired_token_mid_call_then_it_is_refreshed_once_and_a_fresh_token_refused_means_bad_credentials() -> (
    None
):
    tokens = Script(
        _token({"access_token": "at-1"}), _token({"access_token": "at-2"}), _token({"access_token": "at-3"})
    )
    api = Script(
        httpx.Response(401, json={"code": "INVALID_TOKEN"}),
        httpx.Response(200, json={"ok": 1}),
        httpx.Response(401, json={"code": "INVALID_TOKEN"}),
        httpx.Response(401, json={"code": "INVALID_TOKEN"}),
    )
    auth = OAuth2(
        crm="TestCRM",
        token_url="https://a/token",
        form={"grant_type": "client_credentials"},
        http=httpx.Client(transport=httpx.MockTransport(tokens)),
    )
    client = ApiClient(
        "https://api.example",
        crm="TestCRM",
        auth=auth,
        retry=RetryPolicy(sleep=lambda s: None),
        http=httpx.Client(transport=httpx.MockTransport(api)),
    )
    assert client.request_json("GET", "/x", what="read x") == {"ok": 1}
    assert [r.headers["Authorization"] for r in api.requests] == ["Bearer at-1", "Bearer at-2"]
    with pytest.raises(AuthenticationError, match="obtained just before was refused"):
        client.request("GET", "/y", what="read y")
    api.done()
    tokens.done()
    assert client.usage.refreshed_tokens == 2


def test_given_an_api_key_then_it_goes_in_its_header_and_cannot_be_refreshed() -> None:
    auth = ApiKeyAuth(crm="Pipedrive", key="k-1", header="x-api-token", prefix="")
    assert auth.headers() == {"x-api-token": "k-1"}
    assert auth.refresh() is False
    with pytest.raises(AuthenticationError, match="no API key"):
        ApiKeyAuth(crm="HubSpot private app", key=None).headers()
