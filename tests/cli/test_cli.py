import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmhub import __version__
from crmhub.cli.main import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("CRMHUB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CRMHUB_DATABASE_URL", raising=False)
    monkeypatch.delenv("CRMHUB_SECRET_KEY", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return {}


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"crmhub {__version__}"


def test_before_init_a_command_says_to_run_init(env) -> None:
    result = runner.invoke(app, ["objects", "list"])
    assert result.exit_code == 1
    assert "there is no hub" in result.output and "crmhub init" in result.output
    assert "Traceback" not in result.output


def test_init_then_objects_attributes_and_records(env, tmp_path: Path) -> None:
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert "created: account, contact" in result.output and "mode 0600" in result.output
    listing = runner.invoke(app, ["objects", "list"])
    assert "account" in listing.output and "account_id" in listing.output

    added = runner.invoke(
        app, ["attributes", "add", "account", "health_score", "--type", "number", "-c", "scores"]
    )
    assert added.exit_code == 0 and "added account.health_score (number, scores)" in added.output
    bad = runner.invoke(app, ["attributes", "add", "account", "Health score"])
    assert bad.exit_code == 1 and "contains spaces" in bad.output and "Traceback" not in bad.output
    attrs = runner.invoke(app, ["attributes", "list", "account"])
    assert "health_score" in attrs.output and "scores" in attrs.output

    from crmhub.services.hub import HubService

    hub = HubService.open()
    created = hub.upsert("account", [{"account_id": "A-1", "name": "Acme", "industry": "Retail"}])
    hub.close()
    hub_id = created.results[0].hub_id
    listed = runner.invoke(app, ["records", "list", "account", "--where", "industry=Retail", "--json"])
    assert (
        listed.exit_code == 0 and f'"hub_id":"{hub_id}"' in listed.output and '"name":"Acme"' in listed.output
    )
    shown = runner.invoke(app, ["records", "show", hub_id])
    assert shown.exit_code == 0 and "Acme" in shown.output
    missing = runner.invoke(app, ["records", "show", "01NOPE"])
    assert missing.exit_code == 1 and "no record with hub id" in missing.output
    bad_where = runner.invoke(app, ["records", "list", "account", "--where", "industry"])
    assert bad_where.exit_code == 2 and "is not attribute=value" in bad_where.output


def test_the_demo_syncs_the_emulator_in_and_out(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    result = runner.invoke(
        app, ["demo", "--home", str(home), "--accounts", "120", "--contacts", "80"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    out = result.output
    expected = [
        "succeeded — 120 read, 120 created",  # accounts, first full sync
        "succeeded — 80 read, 80 created",  # contacts
        "2 updated",  # the incremental run after 2% of the accounts changed …
        "1 deleted",  # … and one was deleted
        "succeeded — 119 read, 119 updated, 119 sent",  # outbound write-back
        "succeeded — 119 read, 119 unchanged",  # a second outbound run sends nothing
        "hub: 119 accounts, 80 contacts",
        # How to open the web console on the demo hub, with the demo admin's sign-in.
        f"CRMHUB_HOME={home} .venv/bin/crmhub serve",
        "sign in as admin@demo.example with the password 'crmhub demo admin'",
    ]
    missing = [line for line in expected if line not in out]
    assert not missing, f"missing {missing} in:\n{out}"


def test_the_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("crmhub")
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "init" in proc.stdout and "records" in proc.stdout
