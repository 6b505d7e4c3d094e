"""Accounts after a credential changes hands (issue 12): sessions end, anyone may give up a token."""

from __future__ import annotations

from .conftest import ADMIN_PASSWORD, Api


def test_given_a_password_change_then_the_users_sessions_end_and_personal_tokens_stay(api: Api) -> None:
    browser = api.client(None)
    assert (
        browser.post(
            "/auth/login", json={"email": "admin@example.com", "password": ADMIN_PASSWORD}
        ).status_code
        == 200
    )
    assert browser.get("/auth/me").status_code == 200
    admin = api.client("admin")
    me = admin.get("/auth/me").json()
    changed = admin.patch(f"/users/{me['id']}", json={"password": "another long passphrase 42"})
    assert changed.status_code == 200, changed.text
    assert browser.get("/auth/me").status_code == 401  # the old session is over
    assert admin.get("/auth/me").status_code == 200  # the personal token still works
    event = next(e for e in admin.get("/audit-events").json()["items"] if e["action"] == "update")
    assert event["details"]["sessions_ended"] == 1


def test_given_a_viewer_then_they_may_revoke_their_own_token_and_nobody_elses(api: Api) -> None:
    viewer = api.client("viewer")
    mine = viewer.get("/tokens").json()["items"]
    others = api.client("advanced").get("/tokens").json()["items"]
    assert viewer.delete(f"/tokens/{others[0]['id']}").status_code == 404
    assert viewer.delete(f"/tokens/{mine[0]['id']}").status_code == 204
    assert viewer.get("/tokens").status_code == 401  # that was the token it called with
