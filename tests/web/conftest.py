"""The console served over a loopback port on a fresh hub (the API's ``running_api``), and clients
signed in through the sign-in form as each role (``admin``, ``advanced``, ``viewer``, ``runner``)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from tests.api.conftest import ADMIN_PASSWORD, Api, running_api

from crmhub.services.hub import HubService

#: Every seeded user but the admin gets this password here (tests.api.conftest seeds them without one).
PASSWORD = "a long enough password 42"


def set_passwords(api: Api) -> None:
    from crmhub.services.users import UserService

    users = UserService(api.hub)
    for role in ("advanced", "viewer", "runner"):
        users.update(f"{role}@example.com", password=PASSWORD)


def password_of(role: str) -> str:
    return ADMIN_PASSWORD if role == "admin" else PASSWORD


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(url: str, role: str) -> httpx.Client:
    """A client with a session, signed in through the form like a browser."""
    client = httpx.Client(base_url=url, timeout=30, follow_redirects=False)
    page = client.get("/signin")
    token = re.search(r'name="signin_token" value="([^"]+)"', page.text)
    assert token, page.text
    answer = client.post(
        "/signin",
        data={
            "email": f"{role}@example.com",
            "password": password_of(role),
            "signin_token": token.group(1),
            "next": "/",
        },
    )
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture
def console(hub: HubService) -> Iterator[Api]:
    """The console and the API on a fresh hub, on SQLite and on PostgreSQL."""
    with running_api(hub) as served:
        set_passwords(served)
        yield served
