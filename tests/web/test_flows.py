"""Console flows over HTTP (no browser), on SQLite and PostgreSQL: editing a connection keeps its
secrets, editing a job through the builder saves a new version, the ledger filters, tokens are shown
once, notification rules are added and removed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from api.conftest import Api

from .conftest import csrf_of
from .seed import seed


@pytest.fixture
def seeded(console: Api, tmp_path: Path) -> Api:
    seed(console, tmp_path / "files")
    return console


def _fields(html: str) -> dict[str, str]:
    """The builder form's text inputs and selected options, as a browser would post them."""
    out = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html))
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option(?: value="([^"]*)")? selected>([^<]*)<', body)
        if chosen:
            out[name] = chosen.group(1) if chosen.group(1) is not None else chosen.group(2)
    return {k: v.replace("&#39;", "'").replace("&amp;", "&") for k, v in out.items()}


def test_editing_a_job_in_the_builder_saves_a_new_version(seeded: Api, signin: Any) -> None:
    admin = signin(seeded.url, "admin")
    page = admin.get("/build/inbound", params={"job": "accounts-in"})
    assert page.status_code == 200
    form = _fields(page.text)
    assert form["m3_expression"] == "UPPER(country)" and form["name"] == "accounts-in"
    form.update(description="edited in the console", action="save")
    saved = admin.post("/build/inbound", data=form)
    assert saved.status_code == 303, saved.text[:2000]
    row, spec = seeded.jobs.get("accounts-in")
    assert row.version == 2 and spec.description == "edited in the console"
    assert [r.target for r in spec.mapping] == ["account_id", "name", "employees", "billing_country"]


def test_saving_an_enabled_job_that_has_not_validated_is_refused(seeded: Api, signin: Any) -> None:
    admin = signin(seeded.url, "admin")
    form = _fields(admin.get("/build/inbound", params={"job": "accounts-in"}).text)
    form.update(enabled="on", action="save", validated="")
    refused = admin.post("/build/inbound", data=form)
    assert refused.status_code == 422 and "once the mapping validates" in refused.text
    assert seeded.jobs.get("accounts-in")[0].enabled is False


def test_editing_a_connection_keeps_what_is_not_sent_and_never_shows_secrets(
    seeded: Api, signin: Any
) -> None:
    admin = signin(seeded.url, "admin")
    seeded.jobs.connections.add(
        "crm", "hubspot", {"base_url": "http://127.0.0.1:9/"}, {"access_token": "pat-secret-value-1"}
    )
    page = admin.get("/connections/crm/edit")
    assert "pat-secret-value-1" not in page.text and "access_token (set)" in page.text
    form = {"csrf_token": csrf_of(page.text), "s.base_url": "http://127.0.0.1:9/", "s.page_size": "50"}
    assert admin.post("/connections/crm/edit", data=form).status_code == 303
    view = seeded.jobs.connections.get("crm")
    assert view.settings["page_size"] == 50 and view.credential_fields == ["access_token"]
    shown = admin.get("/connections/crm").text
    assert "pat-secret-value-1" not in shown and "(set)" in shown


def test_the_error_ledger_filters_by_field_and_class(seeded: Api, signin: Any) -> None:
    admin = signin(seeded.url, "admin")
    ((_, last),) = seeded.jobs.list()
    assert last is not None
    page = admin.get(f"/runs/{last.id}")
    ledger = page.text.split('id="ledger"')[1].split("</table>")[0]
    assert ledger.count("<tr>") == 2 and ">employees<" in ledger  # the header and Gamma Ltd's "x"
    assert 'href="/api/v1/runs/' in page.text and "errors.csv" in page.text
    none = admin.get(f"/runs/{last.id}", params={"field": "name"}).text.split('id="ledger"')[1]
    assert "No errors." in none.split("</table>")[0]
    by_class = admin.get(f"/runs/{last.id}", params={"error_class": "NoSuchClass"}).text
    assert "No errors." in by_class.split('id="ledger"')[1].split("</table>")[0]


def test_a_personal_token_is_shown_once_and_can_be_revoked(seeded: Api, signin: Any) -> None:
    advanced = signin(seeded.url, "advanced")
    page = advanced.get("/admin/tokens")
    created = advanced.post("/admin/tokens", data={"csrf_token": csrf_of(page.text), "name": "laptop"})
    token = re.search(r'id="new-token">([^<]+)<', created.text).group(1)  # type: ignore[union-attr]
    assert token.startswith("crmhub_")
    assert (
        seeded.client(None, headers={"Authorization": f"Bearer {token}"}).get("/auth/me").status_code == 200
    )
    listed = advanced.get("/admin/tokens").text
    assert token not in listed and "laptop" in listed
    token_id = re.search(r'<td>laptop</td>.*?action="/admin/tokens/(\d+)/revoke"', listed, re.S)
    assert token_id
    revoked = advanced.post(f"/admin/tokens/{token_id.group(1)}/revoke", data={"csrf_token": csrf_of(listed)})
    assert revoked.status_code == 303
    assert (
        seeded.client(None, headers={"Authorization": f"Bearer {token}"}).get("/auth/me").status_code == 401
    )


def test_notification_rules_are_added_and_removed_and_a_webhook_secret_is_never_shown(
    seeded: Api, signin: Any
) -> None:
    admin = signin(seeded.url, "admin")
    page = admin.get("/jobs/accounts-in/notifications")
    token = csrf_of(page.text)
    rule = {
        "csrf_token": token,
        "when": "failure",
        "channel": "webhook",
        "url": "https://hooks.example.com/x",
        "secret": "s3cret-value",
    }
    assert admin.post("/jobs/accounts-in/notifications", data=rule).status_code == 303
    email = {
        "csrf_token": token,
        "when": "errors_above",
        "threshold": "5",
        "channel": "email",
        "to": "ops@example.com",
    }
    assert admin.post("/jobs/accounts-in/notifications", data=email).status_code == 303
    shown = admin.get("/jobs/accounts-in/notifications").text
    assert "s3cret-value" not in shown and "(signed)" in shown and "ops@example.com" in shown
    rules = seeded.jobs.get("accounts-in")[1].notifications
    assert [r.when for r in rules] == ["failure", "errors_above"] and rules[1].threshold == 5
    bad = admin.post("/jobs/accounts-in/notifications", data={**email, "to": "not-an-address"})
    assert bad.status_code == 422 and "not valid" in bad.text
    assert (
        admin.post("/jobs/accounts-in/notifications", data={"csrf_token": token, "remove": "1"}).status_code
        == 303
    )
    left = seeded.jobs.get("accounts-in")[1].notifications
    assert [r.when for r in left] == ["errors_above"]


def test_a_new_foreign_key_attribute_names_the_object_type_it_points_to(seeded: Api, signin: Any) -> None:
    admin = signin(seeded.url, "admin")
    form = _fields(admin.get("/build/inbound", params={"job": "accounts-in"}).text)
    form.update(
        row_count="5",
        m4_kind="constant",
        m4_constant="A1",
        m4_target="__new__",
        m4_new_name="parent_account",
        m4_new_type="foreign_key",
        m4_fk_target="account",
        action="save",
    )
    saved = admin.post("/build/inbound", data=form)
    assert saved.status_code == 303, saved.text[:3000]
    row = seeded.jobs.get("accounts-in")[1].mapping[-1]
    assert row.target == "parent_account" and row.new_attribute is not None
    assert (row.new_attribute.type, row.new_attribute.fk_target) == ("foreign_key", "account")


def test_the_outbound_builder_keeps_the_parent_settings_of_a_job_it_edits(seeded: Api, signin: Any) -> None:
    from crmhub.sync.spec import JobSpec

    spec = {
        "name": "contacts-out",
        "direction": "outbound",
        "connection": "files",
        "remote_object": "contacts",
        "parent_object": "accounts",
        "object_type": "contact",
        "parent_link": "account",
        "parent_field": "account_ref",
        "match_field": "email",
        "mapping": [{"source": "email", "target": "email"}],
    }
    seeded.jobs.create(JobSpec.model_validate(spec))
    admin = signin(seeded.url, "admin")
    form = _fields(admin.get("/build/outbound", params={"job": "contacts-out"}).text)
    assert (form["parent_object"], form["parent_link"], form["parent_field"]) == (
        "accounts",
        "account",
        "account_ref",
    )
    form.update(description="parents kept", action="save")
    saved = admin.post("/build/outbound", data=form)
    assert saved.status_code == 303, saved.text[:3000]
    kept = seeded.jobs.get("contacts-out")[1]
    assert (kept.parent_object, kept.parent_link, kept.parent_field) == ("accounts", "account", "account_ref")
    assert kept.match_field == "email" and kept.description == "parents kept"


def test_run_now_runs_incrementally_and_run_full_sync_now_reads_everything(console: Api, signin: Any) -> None:
    from crmhub.emulators import salesforce as sf
    from crmhub.emulators.serve import serve_in_thread
    from crmhub.store.runs import get_run
    from execute.conftest import add_sf_connection, sf_job

    emulator = sf.SalesforceEmulator(accounts=50, contacts=0, seed=5)
    with serve_in_thread(emulator.app) as url:
        add_sf_connection(console.jobs, url)
        console.jobs.create(sf_job("sf-accounts"))
        admin = signin(console.url, "admin")
        modes = []
        for button in ("Run now", "Run now", "Run full sync now"):
            # Post the form that holds the button, with its own fields, as a browser would.
            page = admin.get("/jobs/sf-accounts").text
            form = next(
                f
                for f in re.findall(r"<form[^>]*>.*?</form>", page, flags=re.S)
                if f">{button}</button>" in f
            )
            action = re.search(r'action="([^"]+)"', form).group(1)  # type: ignore[union-attr]
            fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form))
            answer = admin.post(action, data=fields)
            assert answer.status_code == 303, answer.text[:500]
            run_id = answer.headers["location"].removeprefix("/runs/")
            console.wait(run_id)
            with console.hub.db.read() as session:
                run = get_run(session, run_id)
                assert run.status == "succeeded", run.message
                modes.append(run.mode)
    # The first run has no cursor yet (a full read); the second continues from it; the third was asked full.
    assert modes == ["full", "incremental", "full"], modes
