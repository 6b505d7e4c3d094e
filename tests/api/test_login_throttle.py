"""Login throttles slow attackers without locking the owner out (issue 12)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from crmhub.services.hub import HubService
from crmhub.services.users import AuthenticationError, LoginPolicy, TooManyAttemptsError, UserService

PASSWORD = "correct horse battery staple"
POLICY = LoginPolicy(
    pair_free=3,
    address_free=50,
    account_free=5,
    first_delay=timedelta(seconds=1),
    max_delay=timedelta(minutes=15),
    account_max_delay=timedelta(seconds=2),
)


@pytest.fixture
def users(hub: HubService) -> UserService:
    service = UserService(hub, policy=POLICY)
    service.create("owner@example.com", password=PASSWORD, role="admin")
    return service


def test_given_failures_from_one_address_then_that_address_waits_and_the_owner_elsewhere_does_not(
    users: UserService,
) -> None:
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            users.authenticate("owner@example.com", "wrong wrong wrong", client="203.0.113.9")
    with pytest.raises(TooManyAttemptsError) as waited:  # after 3 failures, the next attempt waits
        users.authenticate("owner@example.com", PASSWORD, client="203.0.113.9")
    assert 0 < waited.value.retry_after <= 1.0
    assert (
        users.authenticate("owner@example.com", PASSWORD, client="198.51.100.7").email == "owner@example.com"
    )


def test_given_failures_from_many_addresses_then_the_owner_waits_seconds_not_a_lockout(
    users: UserService,
) -> None:
    for n in range(40):
        with pytest.raises((AuthenticationError, TooManyAttemptsError)):
            users.authenticate("owner@example.com", "wrong wrong wrong", client=f"203.0.113.{n}")
    with pytest.raises(TooManyAttemptsError) as waited:
        users.authenticate("owner@example.com", PASSWORD, client="198.51.100.7")
    assert waited.value.retry_after <= 2.0  # the account's own cap
    time.sleep(waited.value.retry_after + 0.1)
    assert (
        users.authenticate("owner@example.com", PASSWORD, client="198.51.100.7").email == "owner@example.com"
    )


def test_given_an_admin_unthrottles_then_the_owner_may_try_at_once(users: UserService) -> None:
    for _ in range(5):
        with pytest.raises((AuthenticationError, TooManyAttemptsError)):
            users.authenticate("owner@example.com", "wrong wrong wrong", client="203.0.113.9")
    with pytest.raises(TooManyAttemptsError):
        users.authenticate("owner@example.com", PASSWORD, client="203.0.113.9")
    users.unthrottle("owner@example.com", actor="admin@example.com")
    assert (
        users.authenticate("owner@example.com", PASSWORD, client="203.0.113.9").email == "owner@example.com"
    )


def test_given_a_255_character_email_then_a_plain_401(users: UserService) -> None:
    email = "a" * 243 + "@example.com"
    assert len(email) == 255
    with pytest.raises(AuthenticationError):
        users.authenticate(email, "wrong wrong wrong", client="203.0.113.9")


def test_given_the_login_queue_is_full_then_503_with_retry_after(hub: HubService, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from .conftest import running_api

    monkeypatch.setenv("CRMHUB_LOGIN_QUEUE", "0")  # every login finds the queue full
    with running_api(hub) as api:
        busy = api.client(None).post("/auth/login", json={"email": "admin@example.com", "password": PASSWORD})
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "1"
        assert api.client("viewer").get("/jobs").status_code == 200  # the other routes do not wait
