"""No input reaches a user as a 500: every validation entry point of the API answers a broken job with
a list of problems; drafts are listed as such and refused by runs; PATCH merges settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from crmhub.services.connections import ConnectionService

from .conftest import ACCOUNTS_JOB, Api, write_accounts

GOOD_ROWS = ACCOUNTS_JOB["mapping"]

#: Broken jobs (as request bodies) and words the problems must hold.
CORPUS: list[tuple[str, dict[str, Any], str]] = [
    (
        "unknown function",
        {**ACCOUNTS_JOB, "mapping": [*GOOD_ROWS, {"expression": "DOMIAN(name)", "target": "domain"}]},
        "DOMIAN",
    ),
    (
        "type error",
        {
            **ACCOUNTS_JOB,
            "mapping": [
                *GOOD_ROWS,
                {"expression": 'IF(LEN(name) >= "3", "long", "short")', "target": "type"},
            ],
        },
        "cannot compare number with text",
    ),
    (
        "syntax error",
        {**ACCOUNTS_JOB, "mapping": [*GOOD_ROWS, {"expression": "CONCAT(name,", "target": "type"}]},
        "line 1",
    ),
    (
        "bad date format",
        {
            **ACCOUNTS_JOB,
            "mapping": [
                *GOOD_ROWS,
                {
                    "source": "country",
                    "source_format": "QQ-XX",
                    "target": "since",
                    "new_attribute": {"type": "date"},
                },
            ],
        },
        "QQ-XX",
    ),
    (
        "bad constant",
        {**ACCOUNTS_JOB, "mapping": [*GOOD_ROWS, {"constant": "lots", "target": "annual_revenue"}]},
        "cannot convert 'lots'",
    ),
    (
        "unknown source field",
        {**ACCOUNTS_JOB, "mapping": [*GOOD_ROWS, {"source": "nmae", "target": "description"}]},
        "did you mean 'name'",
    ),
    ("broken filter", {**ACCOUNTS_JOB, "filter": 'contry = "de" AND emploees > 3'}, "'emploees'"),
    ("unknown object type", {**ACCOUNTS_JOB, "object_type": "acount"}, "did you mean 'account'"),
    ("unknown connection", {**ACCOUNTS_JOB, "connection": "flies"}, "flies"),
    ("unknown remote object", {**ACCOUNTS_JOB, "remote_object": "acounts"}, "acounts"),
]

#: Bodies the request model itself refuses (422 with per-field errors).
MALFORMED: list[tuple[str, dict[str, Any], str]] = [
    ("misspelt key", {**ACCOUNTS_JOB, "mapings": []}, "mapings"),
    ("bad schedule kind", {**ACCOUNTS_JOB, "schedule": {"kind": "dayly", "at": "06:00"}}, "schedule"),
    (
        "row with two sources",
        {**ACCOUNTS_JOB, "mapping": [{"source": "id", "constant": 1, "target": "account_id"}]},
        "exactly one",
    ),
]

BROKEN_YAML = [
    "name: [unclosed",
    "- just\n- a list\n",
    yaml.safe_dump({**ACCOUNTS_JOB, "mapings": []}),
    yaml.safe_dump({**ACCOUNTS_JOB, "schedule": {"kind": "fortnightly"}}),
    yaml.safe_dump(
        {
            **ACCOUNTS_JOB,
            "name": "yaml-broken",
            "mapping": [*GOOD_ROWS, {"expression": "DOMIAN(name)", "target": "domain"}],
        }
    ),
]


@pytest.fixture
def admin(api: Api, tmp_path: Path) -> httpx.Client:
    write_accounts(tmp_path, ["A1,Acme,10,de", "A2,Beta,20,fr", "A3,Gamma,many,us"])
    ConnectionService(api.hub).add("files", "csv", {"path": str(tmp_path)}, {})
    return api.client("admin")


def _problems(response: httpx.Response) -> list[str]:
    """The problems of a validation answer (200) or of a problem+json refusal (422); never a 500."""
    assert response.status_code in (200, 201, 404, 422), (response.status_code, response.text)
    body = response.json()
    if response.status_code == 200 and "ok" in body:
        assert body["ok"] is False
        return [p["message"] for p in body["problems"] if p["severity"] == "error"]
    if response.status_code in (200, 201):  # saved: then as a draft, with its problems
        assert body["draft"] is True and body["enabled"] is False
        return list(body["problems"])
    assert response.headers["content-type"].startswith("application/problem+json")
    return [body["detail"], *[e["message"] for e in body.get("errors") or []]]


@pytest.mark.parametrize(("what", "body", "words"), CORPUS, ids=[c[0] for c in CORPUS])
def test_given_a_broken_job_every_validation_entry_point_answers_with_its_problems(
    api: Api, admin: httpx.Client, what: str, body: dict[str, Any], words: str
) -> None:
    answers = {
        "validate": admin.post("/jobs/validate", json=body),
        "preview": admin.post("/jobs/preview", json=body),
        "create enabled": admin.post("/jobs", json={**body, "enabled": True}),
        "create sync now": admin.post("/jobs", json={**body, "sync_now": True}),
    }
    for entry, response in answers.items():
        if entry == "preview" and response.status_code == 200:
            # Preview maps as a run does (without the source's types): a type error or unknown name
            # is validation's to find; the rows come back, each with its errors.
            assert what in ("type error", "unknown source field", "broken filter"), response.text
            assert isinstance(response.json(), list)
            continue
        problems = _problems(response)
        if entry == "preview" and what in ("unknown source field", "broken filter"):
            assert problems, response.text  # the CRM's own words (the file has no such column)
            continue
        assert problems and any(words in p for p in problems), (entry, problems)
    assert admin.get("/jobs").json()["items"] == []  # nothing was saved by a refused create
    # Saved without enabling, it is a draft; enable, runs and the saved job's validate say why.
    created = admin.post("/jobs", json=body)
    if created.status_code in (404, 422):  # an unknown connection or object type: nothing to save
        assert what in ("unknown object type", "unknown connection")
    else:
        _check_the_saved_draft(admin, created, body, words)


def _check_the_saved_draft(
    admin: httpx.Client, created: httpx.Response, body: dict[str, Any], words: str
) -> None:
    assert any(words in p for p in _problems(created))
    job = created.json()["id"]
    for response in (
        admin.get(f"/jobs/{job}/validate"),
        admin.post(f"/jobs/{job}/enable"),
        admin.post(f"/jobs/{job}/runs"),
        admin.post(f"/jobs/{job}/rebuild-mapping"),
    ):
        assert any(words in p for p in _problems(response)), response.text
    listed = admin.get("/jobs").json()["items"]
    assert [(j["name"], j["draft"], j["enabled"]) for j in listed] == [(body["name"], True, False)]
    # PATCH of a good job with the broken part: saved as a draft (disabled job) or refused (enabled).
    admin.delete(f"/jobs/{job}")
    good = admin.post("/jobs", json={**ACCOUNTS_JOB, "enabled": True})
    assert good.status_code == 201, good.text
    change = {k: v for k, v in body.items() if body.get(k) != ACCOUNTS_JOB.get(k)}
    refused = admin.patch(f"/jobs/{good.json()['id']}", json=change)
    assert refused.status_code == 422 and any(words in p for p in _problems(refused))
    assert admin.get(f"/jobs/{good.json()['id']}").json()["version"] == 1


@pytest.mark.parametrize(("what", "body", "words"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_given_a_malformed_job_body_every_entry_point_answers_422(
    admin: httpx.Client, what: str, body: dict[str, Any], words: str
) -> None:
    for path in ("/jobs/validate", "/jobs/preview", "/jobs"):
        response = admin.post(path, json=body)
        assert response.status_code == 422 and words in response.text, (path, response.text)


def test_given_broken_yaml_the_import_answers_422_or_saves_a_draft(admin: httpx.Client) -> None:
    for text in BROKEN_YAML:
        response = admin.post("/jobs/import", content=text, headers={"Content-Type": "application/yaml"})
        assert _problems(response), text


def test_one_bad_preview_value_is_a_warning_and_the_job_enables(admin: httpx.Client) -> None:
    checked = admin.post("/jobs/validate", json=ACCOUNTS_JOB).json()
    assert checked["ok"] is True
    assert [(p["severity"], "A3" in p["message"]) for p in checked["problems"]] == [("warning", True)]
    created = admin.post("/jobs", json={**ACCOUNTS_JOB, "enabled": True})
    assert (
        created.status_code == 201 and created.json()["enabled"] is True and created.json()["draft"] is False
    )


def test_a_patch_of_some_settings_changes_only_those(api: Api, admin: httpx.Client) -> None:
    body = {
        **ACCOUNTS_JOB,
        "settings": {
            "error_threshold_percent": 50,
            "batch_size": 500,
            "delete_policy": "unlink",
            "full_sync_every": None,
        },
    }
    job = admin.post("/jobs", json=body).json()["id"]
    patched = admin.patch(f"/jobs/{job}", json={"settings": {"batch_size": 100}})
    assert patched.status_code == 200, patched.text
    settings = patched.json()["spec"]["settings"]
    assert (settings["batch_size"], settings["error_threshold_percent"], settings["delete_policy"]) == (
        100,
        50,
        "unlink",
    )
    assert settings["full_sync_every"] is None  # the job's own value, not the default (1 day)
    assert api.jobs.get("accounts-in")[1].settings.delete_policy == "unlink"
    bad = admin.patch(f"/jobs/{job}", json={"settings": {"batch_sise": 5}})
    assert bad.status_code == 422 and "batch_sise" in bad.text


def test_a_csv_connection_without_id_column_warns_and_exports_are_named_by_job(
    api: Api, admin: httpx.Client, tmp_path: Path
) -> None:
    files = admin.get("/connections/files").json()
    assert len(files["warnings"]) == 1 and "row numbers" in files["warnings"][0]
    tested = admin.post("/connections/files/test").json()
    assert tested["ok"] is True and "reordering" in tested["warnings"][0]
    fixed = admin.patch("/connections/files", json={"settings": {"id_column": "id"}})
    assert fixed.status_code == 200 and fixed.json()["warnings"] == []
    job = admin.post("/jobs", json={**ACCOUNTS_JOB, "name": "accounts-in-eu"}).json()["id"]
    exported = admin.get(f"/jobs/{job}/export")
    assert exported.headers["content-disposition"] == 'attachment; filename="accounts-in-eu.yaml"'


def test_job_names_are_like_connection_names(admin: httpx.Client) -> None:
    for bad in ["Accounts in/EU", "acc\u202eounts", "a" * 500, "12345", "-leading", "x\u0000y"]:
        answer = admin.post("/jobs", json={**ACCOUNTS_JOB, "name": bad})
        assert answer.status_code == 422, (bad, answer.text)
    assert admin.post("/jobs", json={**ACCOUNTS_JOB, "name": "eu_accounts-2"}).status_code == 201


def test_a_records_filter_with_two_unknown_attributes_names_both(admin: httpx.Client) -> None:
    response = admin.get(
        "/hub/object-types/account/records", params={"filter": 'industy = "x" AND contry = "de"'}
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert "'industy'; did you mean 'industry'?" in body["detail"]
    assert "'contry'" in body["detail"] and len(body["errors"]) == 2
