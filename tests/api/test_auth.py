"""Logging in, sessions and CSRF, brute-force protection, tokens, problem JSON and pagination."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from crmhub.services.hub import HubService
from crmhub.services.tokens import SESSION_LIFETIME, SESSION_MAX_AGE, TokenService
from crmhub.store.models import ApiToken, User

from .conftest import ADMIN_PASSWORD, SHORT_LOCK, Api, ManualClock, running_api


@pytest.fixture
def locked_api(hub: HubService) -> Iterator[Api]:
    with running_api(hub, login_policy=SHORT_LOCK) as api:
        yield api


def _login(
    client: httpx.Client, password: str = ADMIN_PASSWORD, email: str = "admin@example.com"
) -> httpx.Response:
    return client.post("/auth/login", json={"email": email, "password": password})


def test_a_login_sets_an_httponly_samesite_cookie_and_unsafe_requests_need_the_csrf_token(
    locked_api: Api,
) -> None:
    browser = locked_api.client(None)
    response = _login(browser)
    assert response.status_code == 200, response.text
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("crmhub_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    csrf = response.json()["csrf_token"]
    assert browser.cookies["crmhub_csrf"] == csrf
    assert browser.get("/auth/me").json()["email"] == "admin@example.com"
    refused = browser.post("/tokens", json={"name": "from the browser"})
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
    wrong = browser.post("/tokens", json={"name": "x"}, headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    assert browser.post("/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf}).status_code == 201
    assert browser.post("/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    session = response.cookies["crmhub_session"]
    assert locked_api.client(None, cookies={"crmhub_session": session}).get("/auth/me").status_code == 401


def test_repeated_failures_from_one_address_make_it_wait_with_429_and_retry_after(locked_api: Api) -> None:
    client = locked_api.client(None)
    for _ in range(SHORT_LOCK.pair_free):
        assert _login(client, "wrong password!").status_code == 401
    locked = _login(client)  # even the right password waits now, from this address
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 30
    assert locked.json()["code"] == "too_many_attempts"
    assert locked.headers["content-type"] == "application/problem+json"


def test_failures_from_one_address_across_accounts_lock_the_address(locked_api: Api) -> None:
    client = locked_api.client(None)
    for n in range(SHORT_LOCK.address_free):
        assert _login(client, "nope nope nope", email=f"guess{n}@example.com").status_code == 401
    assert _login(client).status_code == 429


def test_unknown_and_wrong_credentials_get_the_same_answer(locked_api: Api) -> None:
    client = locked_api.client(None)
    unknown = _login(client, "whatever123", email="nobody@example.com").json()
    wrong = _login(client, "whatever123").json()
    assert unknown["detail"] == wrong["detail"]


def test_a_revoked_or_expired_or_malformed_token_is_refused(locked_api: Api) -> None:
    tokens = TokenService(locked_api.hub)
    issued = tokens.create_personal("advanced@example.com", "short-lived")
    client = locked_api.client(None, headers={"Authorization": f"Bearer {issued.text}"})
    assert client.get("/auth/me").status_code == 200
    tokens.revoke(issued.token.id, kind="personal")
    revoked = client.get("/auth/me")
    assert revoked.status_code == 401 and revoked.headers["WWW-Authenticate"].startswith("Bearer")
    expired = tokens.create_personal("advanced@example.com", "gone", expires_in=timedelta(seconds=-1))
    assert (
        locked_api.client(None, headers={"Authorization": f"Bearer {expired.text}"})
        .get("/auth/me")
        .status_code
        == 401
    )
    for bad in ("crmhub_", "garbage", issued.text[:-2] + "xx", "Basic abc"):
        assert (
            locked_api.client(None, headers={"Authorization": f"Bearer {bad}"}).get("/auth/me").status_code
            == 401
        )
    assert locked_api.client(None, headers={"Authorization": "Basic YTpi"}).get("/auth/me").status_code == 401


def test_a_trigger_token_is_not_a_personal_token(locked_api: Api) -> None:
    from crmhub.sync.spec import JobSpec

    from .conftest import ACCOUNTS_JOB

    locked_api.jobs.connections.add("files", "csv", {"path": str(locked_api.hub.settings.resolved_home)}, {})
    job = locked_api.jobs.create(JobSpec.model_validate(ACCOUNTS_JOB))
    trigger = TokenService(locked_api.hub).create_trigger(job.id, "etl").text
    assert (
        locked_api.client(None, headers={"Authorization": f"Bearer {trigger}"}).get("/jobs").status_code
        == 401
    )


def test_last_used_is_recorded_at_most_once_a_minute(locked_api: Api) -> None:
    client = locked_api.client("viewer")
    client.get("/auth/me")
    with locked_api.hub.db.read() as session:
        first = (
            session.query(ApiToken).filter(ApiToken.name == "tests", ApiToken.user_id == 3).one().last_used_at
        )
    client.get("/auth/me")
    with locked_api.hub.db.read() as session:
        second = (
            session.query(ApiToken).filter(ApiToken.name == "tests", ApiToken.user_id == 3).one().last_used_at
        )
    assert first is not None and first == second


def _last_used(api: Api, name: str, email: str) -> datetime | None:
    with api.hub.db.read() as session:
        token = (
            session.query(ApiToken)
            .join(User, User.id == ApiToken.user_id)
            .filter(ApiToken.name == name, User.email == email)
            .one()
        )
        return token.last_used_at


def test_a_tokens_last_used_moves_with_each_use_a_minute_or_more_after_the_last_recorded_one(
    hub: HubService,
) -> None:
    """``last_used_at`` is written at most once a minute (LAST_USED_RESOLUTION), and then every time."""
    clock = ManualClock()
    with running_api(hub, clock=clock) as api:
        client = api.client("viewer")
        assert _last_used(api, "tests", "viewer@example.com") is None  # issued, never used
        first_use = clock.now
        assert client.get("/auth/me").status_code == 200
        assert _last_used(api, "tests", "viewer@example.com") == first_use

        clock.advance(timedelta(seconds=59))  # within the minute: not written again
        assert client.get("/jobs").status_code == 200
        assert _last_used(api, "tests", "viewer@example.com") == first_use

        clock.advance(timedelta(seconds=1))  # a minute after the recorded use: written
        assert client.get("/auth/me").status_code == 200
        assert _last_used(api, "tests", "viewer@example.com") == first_use + timedelta(seconds=60)

        clock.advance(timedelta(hours=3))  # and again on a much later use
        assert client.get("/auth/me").status_code == 200
        assert _last_used(api, "tests", "viewer@example.com") == clock.now
        # Another user's token is untouched by these calls.
        assert _last_used(api, "tests", "advanced@example.com") is None


def test_a_deactivated_users_tokens_stop_working_and_the_last_admin_stays(locked_api: Api) -> None:
    admin = locked_api.client("admin")
    viewer_id = locked_api.client("viewer").get("/auth/me").json()["id"]
    assert admin.patch(f"/users/{viewer_id}", json={"active": False}).status_code == 200
    assert locked_api.client("viewer").get("/auth/me").status_code == 401
    me = admin.get("/auth/me").json()["id"]
    demoted = admin.patch(f"/users/{me}", json={"role": "viewer"})
    assert demoted.status_code == 422 and "last active admin" in demoted.json()["detail"]


def test_invalid_bodies_are_problem_json_naming_each_field(locked_api: Api) -> None:
    response = locked_api.client("admin").post(
        "/users", json={"email": "x@example.com", "role": "owner", "extra": 1}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "about:blank" and body["title"] == "Unprocessable Entity"
    assert {e["field"] for e in body["errors"]} == {"role", "extra"}
    assert "Traceback" not in response.text


def test_lists_are_paged_with_next_links_and_bad_cursors_are_400(locked_api: Api) -> None:
    admin = locked_api.client("admin")
    first = admin.get("/users", params={"limit": 3}).json()
    assert len(first["items"]) == 3 and first["next"].startswith("/api/v1/users?limit=3&cursor=")
    second = admin.get(first["next"].removeprefix("/api/v1")).json()
    assert [u["email"] for u in second["items"]] == ["viewer@example.com"] and second["next"] is None
    assert admin.get("/users", params={"cursor": "not-ours"}).status_code == 400
    assert admin.get("/runs", params={"cursor": "bm90LW91cnM"}).status_code == 400


def test_a_bad_record_filter_says_where_it_is_wrong(locked_api: Api) -> None:
    response = locked_api.client("viewer").get(
        "/hub/object-types/account/records", params={"filter": "name = "}
    )
    assert response.status_code == 400
    assert "line 1, column" in response.json()["detail"]
    unknown = locked_api.client("viewer").get(
        "/hub/object-types/account/records", params={"filter": "nope = 1"}
    )
    assert unknown.status_code == 400


# Sliding sessions --------------------------------------------------------------------------------


def _session_times(api: Api) -> tuple[datetime, datetime]:
    """(created_at, expires_at) of the one login session."""
    with api.hub.db.read() as session:
        token = session.query(ApiToken).filter(ApiToken.kind == "session").one()
        assert token.expires_at is not None
        return token.created_at, token.expires_at


def _count_token_updates(api: Api) -> list[str]:
    """Every UPDATE of api_token from now on (the list grows as they run)."""
    seen: list[str] = []

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_TOKEN"):
            seen.append(statement)

    event.listen(api.hub.db.engine, "before_cursor_execute", on_execute)
    return seen


def test_a_session_used_after_half_its_lifetime_is_extended_once_and_an_idle_one_expires(
    hub: HubService,
) -> None:
    clock = ManualClock()
    with running_api(hub, clock=clock) as api:
        browser = api.client(None)
        login = _login(browser)
        assert login.status_code == 200, login.text
        cookie = next(h for h in login.headers.get_list("set-cookie") if h.startswith("crmhub_session="))
        assert "Max-Age=604800" in cookie  # the cookie lives as long as the session can
        logged_in, expires = _session_times(api)
        assert logged_in == clock.now and expires == logged_in + SESSION_LIFETIME
        updates = _count_token_updates(api)

        clock.advance(timedelta(hours=5))  # less than half the lifetime gone: no write for the expiry
        assert browser.get("/auth/me").status_code == 200
        assert _session_times(api)[1] == expires
        assert len(updates) == 1  # last_used_at only

        clock.advance(timedelta(hours=2))  # 7 h: more than half gone, so it slides
        assert browser.get("/auth/me").status_code == 200
        assert _session_times(api)[1] == clock.now + SESSION_LIFETIME
        assert len(updates) == 2  # expiry and last_used_at in one UPDATE
        for _ in range(3):
            assert browser.get("/auth/me").status_code == 200
        assert len(updates) == 2  # not on every request

        clock.advance(timedelta(hours=12, seconds=1))  # unused for longer than its lifetime
        gone = browser.get("/auth/me")
        assert gone.status_code == 401 and gone.json()["hint"] == "log in again"


def test_a_session_in_daily_use_still_ends_seven_days_after_login(hub: HubService) -> None:
    clock = ManualClock()
    with running_api(hub, clock=clock) as api:
        browser = api.client(None)
        assert _login(browser).status_code == 200
        logged_in, _ = _session_times(api)
        cap = logged_in + SESSION_MAX_AGE
        while clock.now + timedelta(hours=10) < cap:
            clock.advance(timedelta(hours=10))
            assert browser.get("/auth/me").status_code == 200, clock.now - logged_in
        assert _session_times(api)[1] == cap  # extended up to the cap, never past it
        clock.advance(cap - clock.now)
        ended = browser.get("/auth/me")
        assert ended.status_code == 401 and ended.json()["hint"] == "log in again"
        assert _login(browser).status_code == 200  # logging in again starts a new session
        assert browser.get("/auth/me").status_code == 200
