"""In a real browser: every page passes an accessibility check (axe: no serious or critical
violation) and fits 1280 px and 390 px; a record named like a script shows as text; no page holds
inline script and every page sends a Content-Security-Policy without it; a viewer sees no write
controls, and a forged post from a viewer's session is refused and changes nothing."""

from __future__ import annotations

from pathlib import Path

from api.conftest import Api

from .conftest import Browsing, csrf_of, open_console
from .seed import XSS, seed

ADMIN_PAGES = [
    ("home", "/"),
    ("me", "/me"),
    ("jobs", "/jobs"),
    ("job", "/jobs/accounts-in"),
    ("trigger-page", "/jobs/accounts-in/trigger"),
    ("notifications", "/jobs/accounts-in/notifications"),
    ("history-all", "/runs"),
    ("connections-list", "/connections"),
    ("connection-page", "/connections/files"),
    ("connection-new", "/connections/new?kind=csv"),
    ("connection-edit", "/connections/files/edit"),
    ("remote-objects", "/connections/files/objects"),
    ("hub", "/hub"),
    ("object-type", "/hub/account"),
    ("users", "/admin/users"),
    ("tokens", "/admin/tokens"),
    ("audit", "/admin/audit"),
    ("builder-outbound", "/build/outbound"),
]


def test_every_page_is_accessible_fits_and_escapes(browser, sqlite_console: Api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    seeded = seed(sqlite_console, tmp_path / "files")
    signin_page = browser.new_page()
    try:
        signin_page.goto(sqlite_console.url + "/signin")
        Browsing(signin_page, sqlite_console.url, "pages").check_page("signin")
    finally:
        signin_page.close()
    b = open_console(browser, sqlite_console.url, "admin", "pages")
    dialogs: list[str] = []
    b.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pages = [
        *ADMIN_PAGES,
        ("run-page", f"/runs/{seeded.run_id}"),
        ("record", f"/hub/records/{seeded.hub_id}"),
    ]
    for label, path in pages:
        response = b.go(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, (path, csp)
        assert b.page.locator("script:not([src])").count() == 0, f"{path} holds inline script"
        assert b.page.locator("[onclick], [onload], [onerror], [onsubmit], [onchange]").count() == 0
        b.check_page(label)
    b.go(f"/hub/records/{seeded.hub_id}")
    assert XSS in b.page.locator("#lineage td.value").all_inner_texts()
    b.go("/hub/account")
    assert XSS in b.page.inner_text("#records")
    assert dialogs == [], "a script in a record ran"
    assert not b.console_errors, b.console_errors


def test_a_viewer_sees_no_write_controls_and_a_forged_post_is_refused(
    browser, sqlite_console: Api, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    seeded = seed(sqlite_console, tmp_path / "files")
    b = open_console(browser, sqlite_console.url, "viewer", "viewer")
    page = b.page
    nav = page.inner_text("nav.side")
    assert "Jobs" in nav and "History" in nav and "Hub" in nav
    assert "Users" not in nav and "Audit log" not in nav
    for path in [
        "/jobs",
        "/jobs/accounts-in",
        f"/runs/{seeded.run_id}",
        "/connections",
        "/connections/files",
        "/hub/account",
        "/jobs/accounts-in/notifications",
        "/jobs/accounts-in/trigger",
    ]:
        b.go(path)
        writes = page.locator("form[method=post]:not([action='/signout'])").count()
        assert writes == 0, f"{path} shows a viewer {writes} write form(s)"
        assert page.locator("text=New inbound job").count() == 0
        assert page.locator("#add-connection, #edit-connection, #run-now, #delete").count() == 0
    b.check_page("viewer-job")
    # A forged post with the viewer's own valid CSRF token: the permission refuses it.
    b.go("/jobs/accounts-in")
    token = csrf_of(page.content())
    for path, form in [
        ("/jobs/accounts-in/delete", {"confirm_name": "accounts-in"}),
        ("/jobs/accounts-in/run", {}),
        ("/jobs/accounts-in/disable", {}),
        ("/connections/files/edit", {"s.path": "/etc"}),
    ]:
        answer = page.request.post(
            sqlite_console.url + path, form={"csrf_token": token, **form}, max_redirects=0
        )
        assert answer.status == 403, (path, answer.status)
    ((job, last),) = sqlite_console.jobs.list()
    assert job.name == "accounts-in" and job.enabled is False and last is not None
    assert last.id == seeded.run_id, "no run was started"
    assert sqlite_console.jobs.connections.get("files").settings["path"] == str(tmp_path / "files")
    refused = page.goto(sqlite_console.url + "/admin/users")
    assert refused is not None and refused.status == 403
    assert "Not allowed" in page.inner_text("h1")
    b.check_page("error-403")
