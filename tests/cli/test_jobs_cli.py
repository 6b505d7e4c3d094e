"""``crmhub jobs``, ``runs``, ``connections`` and ``records`` as a user types them (Typer's CliRunner)."""

from __future__ import annotations

import re
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from crmhub.cli.main import app

runner = CliRunner()

GOOD_JOB: dict[str, Any] = {
    "name": "accounts-in",
    "direction": "inbound",
    "connection": "files",
    "remote_object": "accounts",
    "object_type": "account",
    "mapping": [
        {"source": "id", "target": "account_id"},
        {"source": "name", "target": "name"},
        {"source": "employees", "target": "employees"},
    ],
    "schedule": {"kind": "daily", "at": "06:30", "timezone": "Europe/Berlin"},
    "settings": {"batch_size": 500, "full_sync_every": None},
}
BROKEN_ROW = {"expression": "DOMIAN(name)", "target": "domain"}


@pytest.fixture
def hub_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised hub with a CSV connection 'files' (id_column set) holding accounts.csv."""
    monkeypatch.setenv("CRMHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CRMHUB_FILE_ROOTS", str(tmp_path))
    monkeypatch.delenv("CRMHUB_DATABASE_URL", raising=False)
    monkeypatch.delenv("CRMHUB_SECRET_KEY", raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "accounts.csv").write_text("id,name,employees\nA1,Acme,10\nA2,Globex,20\n", encoding="utf-8")
    assert runner.invoke(app, ["init"]).exit_code == 0
    added = invoke(
        "connections", "add", "files", "--kind", "csv", "--set", f"path={folder}", "--set", "id_column=id"
    )
    assert added.exit_code == 0, added.output
    return tmp_path


def invoke(*args: str, **kw: Any) -> Any:
    result = runner.invoke(app, list(args), **kw)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def write_job(path: Path, job: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(job), encoding="utf-8")
    return path


BROKEN_INPUTS = [
    ("unknown function", {**GOOD_JOB, "mapping": [*GOOD_JOB["mapping"], BROKEN_ROW]}, "DOMIAN"),
    (
        "type error",
        {
            **GOOD_JOB,
            "mapping": [
                *GOOD_JOB["mapping"],
                {"expression": 'IF(employees >= "1000", "L", "S")', "target": "type"},
            ],
        },
        "cannot compare number with text",
    ),
    (
        "bad format",
        {
            **GOOD_JOB,
            "mapping": [
                *GOOD_JOB["mapping"],
                {
                    "source": "name",
                    "source_format": "QQ-XX",
                    "target": "since",
                    "new_attribute": {"type": "date"},
                },
            ],
        },
        "QQ-XX",
    ),
    (
        "unknown field",
        {**GOOD_JOB, "mapping": [*GOOD_JOB["mapping"], {"source": "nmae", "target": "type"}]},
        "did you mean 'name'",
    ),
]


@pytest.mark.parametrize(("what", "job", "words"), BROKEN_INPUTS, ids=[b[0] for b in BROKEN_INPUTS])
def test_given_a_broken_job_the_cli_lists_problems_saves_drafts_only_and_never_runs_them(
    hub_home: Path, what: str, job: dict[str, Any], words: str
) -> None:
    path = write_job(hub_home / "job.yaml", job)
    refused = invoke("jobs", "create", "-f", str(path), "--enable")
    assert refused.exit_code == 1 and words in refused.output and "not saved" in refused.output
    assert "accounts-in" not in invoke("jobs", "list").output  # --enable on an invalid job saves nothing
    for flag in ("--sync-now",):
        assert invoke("jobs", "create", "-f", str(path), flag).exit_code == 1
    saved = invoke("jobs", "create", "-f", str(path))
    assert saved.exit_code == 0 and "draft:" in saved.output and words in saved.output
    assert "draft" in invoke("jobs", "list").output
    validated = invoke("jobs", "validate", "accounts-in")
    assert validated.exit_code == 1 and words in validated.output
    ran = invoke("jobs", "run", "accounts-in")
    assert ran.exit_code == 1 and "is a draft" in ran.output and words in ran.output
    rebuilt = invoke("jobs", "rebuild-mapping", "accounts-in", "--yes")
    assert rebuilt.exit_code == 1 and "is a draft" in rebuilt.output
    enabled = invoke("jobs", "enable", "accounts-in")
    assert enabled.exit_code == 1 and words in enabled.output
    assert "draft" in invoke("jobs", "show", "accounts-in").output
    if what in ("unknown function", "bad format"):  # preview compiles the mapping as a run does
        previewed = invoke("jobs", "preview", "accounts-in")
        assert previewed.exit_code == 1 and words in previewed.output and "mapping row 4" in previewed.output


def test_broken_yaml_is_one_clear_error(hub_home: Path) -> None:
    for text, words in (
        ("name: [unclosed", "not valid YAML at line"),
        (yaml.safe_dump({**GOOD_JOB, "schedule": {"kind": "fortnightly"}}), "Monday to Friday"),
        (yaml.safe_dump({**GOOD_JOB, "mapings": []}), "did you mean 'mapping'"),
    ):
        path = hub_home / "bad.yaml"
        path.write_text(text, encoding="utf-8")
        result = invoke("jobs", "create", "-f", str(path))
        assert result.exit_code == 1 and words in result.output, result.output


def test_create_sync_now_show_update_and_runs_by_name_at_80_columns(hub_home: Path) -> None:
    path = write_job(hub_home / "job.yaml", GOOD_JOB)
    created = invoke("jobs", "create", "-f", str(path), "--sync-now")
    assert created.exit_code == 0, created.output
    assert "saved job accounts-in (version 1" in created.output and "draft" not in created.output
    assert re.search(r"run [0-9A-Z]{26}: succeeded — 2 read, 2 created", created.output), created.output
    shown = invoke("jobs", "show", "accounts-in").output
    assert "daily at 06:30 (Europe/Berlin)" in shown
    assert re.search(r"batch_size\s.*500", shown) and re.search(
        r"delete_policy\s.*keep\s.*\(default\)", shown
    )
    listed = invoke("runs", "list").output
    run_ids = re.findall(r"\b[0-9A-HJKMNP-TV-Z]{26}\b", listed)
    assert len(run_ids) == 1, listed  # the whole id, on one line, at 80 columns
    assert "accounts-in" in listed and "saved" in listed
    run_shown = invoke("runs", "show", run_ids[0]).output
    assert f"run {run_ids[0]} job accounts-in v1" in run_shown
    update = write_job(hub_home / "job2.yaml", {**GOOD_JOB, "description": "changed"})
    updated = invoke("jobs", "update", "-f", str(update))
    assert updated.exit_code == 0 and "version 2" in updated.output
    missing = invoke(
        "jobs", "update", "-f", str(write_job(hub_home / "j3.yaml", {**GOOD_JOB, "name": "nope"}))
    )
    assert missing.exit_code == 1 and "'nope' does not exist" in missing.output


def test_edit_opens_the_editor_validates_and_saves(hub_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    invoke("jobs", "create", "-f", str(write_job(hub_home / "job.yaml", GOOD_JOB)), "--enable")
    editor = hub_home / "editor.py"
    # The "editor" appends a description; a second variant breaks the mapping.
    editor.write_text(
        "import sys, yaml\n"
        "p = sys.argv[1]\n"
        "d = yaml.safe_load(open(p))\n"
        "d['description'] = 'edited'\n"
        f"if {str(hub_home / 'break')!r} and __import__('os').path.exists({str(hub_home / 'break')!r}):\n"
        "    d['mapping'].append({'expression': 'DOMIAN(name)', 'target': 'domain'})\n"
        "open(p, 'w').write(yaml.safe_dump(d))\n",
        encoding="utf-8",
    )
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    edited = invoke("jobs", "edit", "accounts-in")
    assert edited.exit_code == 0 and "version 2" in edited.output, edited.output
    (hub_home / "break").write_text("", encoding="utf-8")
    # Broken: do not edit again, do not save as a draft → nothing saved.
    dropped = invoke("jobs", "edit", "accounts-in", input="n\nn\n")
    assert dropped.exit_code == 1 and "DOMIAN" in dropped.output and "nothing saved" in dropped.output
    assert "v2" in invoke("jobs", "show", "accounts-in").output
    drafted = invoke("jobs", "edit", "accounts-in", input="n\ny\n")
    assert drafted.exit_code == 0 and "draft:" in drafted.output
    listed = invoke("jobs", "list").output
    assert re.search(r"accounts-in.*draft", listed)


def test_rebuild_mapping_asks_first_and_trigger_tokens_live_and_die(hub_home: Path) -> None:
    invoke("jobs", "create", "-f", str(write_job(hub_home / "job.yaml", GOOD_JOB)))
    invoke("jobs", "run", "accounts-in")
    declined = invoke("jobs", "rebuild-mapping", "accounts-in", input="n\n")
    assert declined.exit_code == 1
    rebuilt = invoke("jobs", "rebuild-mapping", "accounts-in", "--yes")
    assert rebuilt.exit_code == 0 and "succeeded" in rebuilt.output and "2 read" in rebuilt.output
    assert "rebuild" in invoke("runs", "list").output
    created = invoke("jobs", "trigger-token", "create", "accounts-in", "--name", "airflow")
    assert created.exit_code == 0, created.output
    token_id = re.search(r"trigger token (\d+) for job accounts-in", created.output).group(1)  # type: ignore[union-attr]
    listing = invoke("jobs", "trigger-token", "list", "accounts-in").output
    assert "airflow" in listing and "active" in listing
    assert invoke("jobs", "trigger-token", "revoke", "accounts-in", token_id).exit_code == 0
    assert "revoked" in invoke("jobs", "trigger-token", "list", "accounts-in").output
    again = invoke("jobs", "trigger-token", "revoke", "accounts-in", "999")
    assert again.exit_code == 1 and "does not exist" in again.output


def test_connections_update_and_the_csv_row_number_warning(hub_home: Path) -> None:
    folder = hub_home / "files"
    added = invoke("connections", "add", "loose", "--kind", "csv", "--set", f"path={folder}")
    assert added.exit_code == 0 and "row numbers" in added.output
    assert "row numbers" in invoke("connections", "test", "loose").output
    updated = invoke("connections", "update", "loose", "--set", "id_column=id")
    assert updated.exit_code == 0 and "id_column=id" in updated.output and "row numbers" not in updated.output
    assert "row numbers" not in invoke("connections", "test", "loose").output
    nothing = invoke("connections", "update", "loose")
    assert nothing.exit_code == 2 and "nothing to change" in nothing.output
    bad = invoke("connections", "update", "loose", "--set", f"path={hub_home.parent}")
    assert bad.exit_code == 1 and "Traceback" not in bad.output


def test_records_list_json_honours_columns(hub_home: Path) -> None:
    invoke("jobs", "create", "-f", str(write_job(hub_home / "job.yaml", GOOD_JOB)), "--sync-now")
    lines = invoke("records", "list", "account", "--json", "--columns", "name").output.strip().splitlines()
    import orjson

    rows = [orjson.loads(line) for line in lines]
    assert sorted(r["name"] for r in rows) == ["Acme", "Globex"]
    assert all(set(r) == {"hub_id", "name"} for r in rows)
    wrong = invoke("records", "list", "account", "--json", "--columns", "nmae")
    assert wrong.exit_code == 2 and "did you mean 'name'" in wrong.output
