"""The console's pages over real HTTP (no browser), on SQLite and PostgreSQL: who may see and do
what (a table written by hand), CSRF on every form post, sign-in and sign-out, escaping, the CSP."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.conftest import Api

from .conftest import csrf_of
from .seed import XSS, seed

PAGES = [
    "/",
    "/me",
    "/jobs",
    "/jobs/accounts-in",
    "/runs",
    "/connections",
    "/hub",
    "/hub/account",
    "/admin/tokens",
]

#: (path, who may open it): every other role gets 403. Written from the roles' documented permissions.
RESTRICTED_PAGES = [
    ("/admin/users", {"admin"}),
    ("/admin/audit", {"admin"}),
    ("/build/inbound", {"admin", "advanced"}),
    ("/build/outbound", {"admin", "advanced"}),
    ("/connections/new", {"admin", "advanced"}),
    ("/connections/files/edit", {"admin", "advanced"}),
    ("/jobs", {"admin", "advanced", "viewer", "runner"}),
    ("/runs", {"admin", "advanced", "viewer", "runner"}),
    ("/hub/account", {"admin", "advanced", "viewer", "runner"}),
]

#: (path, form, who may do it): the others get 403 and nothing changes.
ACTIONS = [
    ("/jobs/accounts-in/run", {}, {"admin", "advanced", "runner"}),
    ("/jobs/accounts-in/duplicate", {"name": "copy-of-accounts"}, {"admin", "advanced"}),
    (
        "/hub/account/attributes",
        {"name": "tier", "type": "text", "category": "segment"},
        {"admin", "advanced"},
    ),
    ("/admin/users", {"email": "new@example.com", "role": "viewer"}, {"admin"}),
    ("/admin/permission-sets", {"name": "readers", "permissions": "jobs:read"}, {"admin"}),
]


@pytest.fixture
def seeded(console: Api, tmp_path: Path) -> Api:
    seed(console, tmp_path / "files")
    return console


def test_every_page_sends_a_visitor_without_a_session_to_the_sign_in_page(seeded: Api, signin: Any) -> None:
    with httpx.Client(base_url=seeded.url) as anonymous:
        for path in PAGES:
            answer = anonymous.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/signin?next="), path
        refused = anonymous.post("/jobs/accounts-in/delete", data={"confirm_name": "accounts-in"})
        assert refused.status_code == 303 and refused.headers["location"].startswith("/signin")
    assert seeded.jobs.get("accounts-in")


def test_each_role_opens_the_pages_it_may_and_is_refused_the_others(seeded: Api, signin: Any) -> None:
    for role in ("admin", "advanced", "viewer", "runner"):
        client = signin(seeded.url, role)
        nav = client.get("/").text.split('<nav class="side"')[1].split("</nav>")[0]
        assert ('href="/admin/users"' in nav) == (role == "admin"), role  # the nav shows what one may open
        assert ('href="/admin/audit"' in nav) == (role == "admin"), role
        assert 'href="/jobs"' in nav and 'href="/admin/tokens"' in nav
        for path in PAGES:
            assert client.get(path).status_code == 200, (role, path)
        for path, allowed in RESTRICTED_PAGES:
            answer = client.get(path)
            assert answer.status_code == (200 if role in allowed else 403), (role, path, answer.status_code)
            if answer.status_code == 403:
                assert "may not do this" in answer.text


def test_each_action_is_done_for_the_roles_that_may_and_refused_for_the_others(
    seeded: Api, signin: Any
) -> None:
    # The refused roles first: after them nothing has changed; then the one that may.
    for role in ("viewer", "runner", "advanced"):
        client = signin(seeded.url, role)
        token = csrf_of(client.get("/jobs").text)
        for path, form, allowed in ACTIONS:
            answer = client.post(path, data={"csrf_token": token, **form})
            assert answer.status_code == (303 if role in allowed else 403), (role, path, answer.status_code)
        names = {j.name for j, _ in seeded.jobs.list()}
        assert ("copy-of-accounts" in names) == (role == "advanced"), role
        assert ("tier" in seeded.hub.schema("account").types) == (role == "advanced"), role
        assert all(u.email != "new@example.com" for u in _users(seeded)), role


def _users(api: Api) -> list:  # type: ignore[type-arg]
    from crmhub.services.users import UserService

    return UserService(api.hub).list()


def test_a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(seeded: Api, signin: Any) -> None:
    admin = signin(seeded.url, "admin")
    token = csrf_of(admin.get("/jobs/accounts-in").text)
    for sent in ({}, {"csrf_token": ""}, {"csrf_token": token[:-2] + "00"}):
        refused = admin.post("/jobs/accounts-in/delete", data={"confirm_name": "accounts-in", **sent})
        assert refused.status_code == 403, sent
        assert "security token (CSRF)" in refused.text
    assert seeded.jobs.get("accounts-in")
    # A token from another session is refused too.
    other = signin(seeded.url, "admin")
    other_token = csrf_of(other.get("/jobs").text)
    assert other_token != token
    assert (
        admin.post(
            "/jobs/accounts-in/delete", data={"confirm_name": "accounts-in", "csrf_token": other_token}
        ).status_code
        == 403
    )
    done = admin.post("/jobs/accounts-in/delete", data={"confirm_name": "accounts-in", "csrf_token": token})
    assert done.status_code == 303
    assert [j.name for j, _ in seeded.jobs.list()] == []


def test_delete_needs_the_name_typed_and_rebuild_needs_the_confirmation(seeded: Api, signin: Any) -> None:
    admin = signin(seeded.url, "admin")
    token = csrf_of(admin.get("/jobs").text)
    wrong = admin.post("/jobs/accounts-in/delete", data={"csrf_token": token, "confirm_name": "accounts"})
    assert wrong.status_code == 422 and "name typed does not match" in wrong.text
    unconfirmed = admin.post("/jobs/accounts-in/rebuild-mapping", data={"csrf_token": token})
    assert unconfirmed.status_code == 422 and "not confirmed" in unconfirmed.text
    assert seeded.jobs.get("accounts-in")


def test_sign_in_checks_its_own_token_and_the_password_and_never_redirects_off_site(
    seeded: Api, signin: Any
) -> None:
    with httpx.Client(base_url=seeded.url) as client:
        page = client.get("/signin")
        token = re.search(r'name="signin_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        form = {"email": "admin@example.com", "password": "wrong password", "signin_token": token}
        wrong = client.post("/signin", data=form)
        assert wrong.status_code == 401 and "crmhub_session" not in wrong.headers.get("set-cookie", "")
        forged = client.post("/signin", data={**form, "signin_token": "not-the-cookie"})
        assert forged.status_code == 403
        from api.conftest import ADMIN_PASSWORD

        signed = client.post("/signin", data={**form, "password": ADMIN_PASSWORD, "next": "//evil.example/x"})
        assert signed.status_code == 303 and signed.headers["location"] == "/"
        cookie = signed.headers.get_list("set-cookie")
        assert any("crmhub_session=" in c and "HttpOnly" in c and "SameSite=lax" in c for c in cookie)
        assert client.get("/me").status_code == 200
        # Sign-out ends the session for the API too.
        session = client.cookies["crmhub_session"]
        token = csrf_of(client.get("/me").text)
        assert client.post("/signout", data={"csrf_token": token}).status_code == 303
    with httpx.Client(base_url=seeded.url, cookies={"crmhub_session": session}) as stale:
        assert stale.get("/jobs").status_code == 303
        assert stale.get("/api/v1/auth/me").status_code == 401


def test_a_record_named_like_a_script_is_escaped_and_pages_send_a_csp_without_inline_script(
    seeded: Api, signin: Any
) -> None:
    admin = signin(seeded.url, "admin")
    listing = admin.get("/hub/account")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing.text
    assert XSS not in listing.text
    hub_id = re.search(r'href="/hub/records/([0-9A-Z]+)"', listing.text).group(1)  # type: ignore[union-attr]
    record = admin.get(f"/hub/records/{hub_id}")
    assert record.status_code == 200
    for answer in (listing, record, admin.get("/jobs"), admin.get("/signin")):
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
        assert "frame-ancestors 'none'" in csp
        assert re.search(r"<script(?![^>]*\bsrc=)", answer.text) is None, "inline script"


def test_bad_input_gets_an_error_page_naming_what_happened_never_a_500(seeded: Api, signin: Any) -> None:
    admin = signin(seeded.url, "admin")
    cases = [
        ("/jobs/no-such-job", 404, "no-such-job"),
        ("/runs/01ZZZZZZZZZZZZZZZZZZZZZZZZ", 404, "does not exist"),
        ("/hub/account?filter=name%20%3D", 422, "line 1"),
        ("/hub/no_such_type", 404, "no_such_type"),
        ("/runs?status=bogus", 422, "unknown run status"),
        ("/runs?since=yesterday", 422, "YYYY-MM-DD"),
        ("/jobs?cursor=%21%21", 400, "not valid"),
        ("/build/sideways", 422, "job builder"),
    ]
    for path, status, words in cases:
        answer = admin.get(path)
        assert answer.status_code == status, (path, answer.status_code, answer.text[:300])
        assert words in answer.text, (path, words)
        assert answer.headers["content-type"].startswith("text/html")


def test_the_jobs_list_comes_in_pages_that_neither_skip_nor_repeat_a_job(
    console: Api, tmp_path: Path, signin: Any
) -> None:
    from api.conftest import ACCOUNTS_JOB
    from crmhub.sync.spec import JobSpec

    (tmp_path / "files").mkdir()
    console.jobs.connections.add("files", "csv", {"path": str(tmp_path / "files")}, {})
    names = [f"job-{i:03d}" for i in range(57)]
    for name in names:
        console.jobs.create(JobSpec.model_validate({**ACCOUNTS_JOB, "name": name}))
    admin = signin(console.url, "admin")
    seen: list[str] = []
    path: str | None = "/jobs"
    pages = 0
    while path:
        html = admin.get(path).text
        seen += re.findall(r'<a href="/jobs/(job-\d+)">', html)
        found = re.search(r'<a href="\?([^"]+)" rel="next">', html)
        path = "/jobs?" + found.group(1).replace("&amp;", "&") if found else None
        pages += 1
    assert pages == 2 and seen == names  # 50 on the first page, 7 on the second
    searched = admin.get("/jobs", params={"q": "job-05"}).text
    assert re.findall(r'<a href="/jobs/(job-\d+)">', searched) == [f"job-05{i}" for i in range(7)]
