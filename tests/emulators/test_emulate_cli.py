"""``crmhub emulate``: a real subprocess serving a token request and a SOQL query, and bad flags."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import httpx
import pytest
from typer.testing import CliRunner

from crmhub.cli.main import app
from crmhub.emulators.salesforce import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_SECURITY_TOKEN,
    DEFAULT_USERNAME,
)


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "crmhub.cli.main", "emulate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        if match:
            return proc, match.group(1)
    proc.kill()
    raise AssertionError("the emulator did not announce its URL:\n" + "".join(lines))


def test_given_emulate_salesforce_when_started_then_it_answers_a_token_request_and_a_soql_query() -> None:
    proc, url = _start("salesforce", "--port", "0", "--accounts", "25", "--contacts", "10")
    try:
        token = httpx.post(
            f"{url}/services/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
                "username": DEFAULT_USERNAME,
                "password": DEFAULT_PASSWORD + DEFAULT_SECURITY_TOKEN,
            },
        ).json()["access_token"]
        body = httpx.get(
            f"{url}/services/data/v62.0/query",
            params={"q": "SELECT Id, Name FROM Account"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert body["totalSize"] == 25
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert "emulator stopped" in output and "Traceback" not in output


def test_given_emulate_hubspot_when_interrupted_then_it_exits_cleanly() -> None:
    proc, url = _start("hubspot", "--port", "0", "--accounts", "5", "--contacts", "0")
    try:
        state = httpx.get(f"{url}/__emulator/state").json()
        assert state["records"]["companies"]["live"] == 5
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["salesforce", "--fault-rate", "1.5"], "--fault-rate must be between 0 and 1"),
        (["salesforce", "--accounts", "-3"], "--accounts must not be negative"),
        (["hubspot", "--port", "70000"], "--port must be between 0 and 65535"),
        (["salesforce", "--tls-cert", "cert.pem"], "give both --tls-cert and --tls-key"),
        (["hubspot", "--tls-cert", "missing.pem", "--tls-key", "missing.key"], "is not a readable file"),
        (["salesforce", "--users", "0"], "--users must be at least 1"),
    ],
    ids=[
        "fault rate above 1",
        "negative count",
        "port out of range",
        "cert without key",
        "missing cert file",
        "no users",
    ],
)
def test_given_a_wrong_flag_value_when_starting_then_one_clear_line_and_a_non_zero_exit(
    args: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["emulate", *args])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith("error: ") and message in lines[0]
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("kind", ["salesforce", "hubspot", "zoho"])
def test_given_an_emulator_when_started_then_it_says_it_seeds_and_its_connections_add_line_works(
    kind: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shlex

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crmhub.cli.main",
            "emulate",
            kind,
            "--port",
            "0",
            "--accounts",
            "3",
            "--contacts",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("Press Ctrl-C" in line for line in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        label = {"salesforce": "Salesforce", "hubspot": "HubSpot", "zoho": "Zoho CRM"}[kind]
        assert lines[0].startswith(f"seeding the {label} emulator: 3 ")
        add = next(line.strip() for line in lines if line.strip().startswith("crmhub connections add"))
        monkeypatch.setenv("CRMHUB_HOME", str(tmp_path / "home"))
        monkeypatch.delenv("CRMHUB_DATABASE_URL", raising=False)
        runner = CliRunner()
        assert runner.invoke(app, ["init"]).exit_code == 0
        added = runner.invoke(app, shlex.split(add)[1:])
        assert added.exit_code == 0, added.output
        name = shlex.split(add)[3]
        tested = runner.invoke(app, ["connections", "test", name])
        assert tested.exit_code == 0 and "ok" in tested.output, tested.output
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
