"""``crmhub users``, ``crmhub tokens`` and ``crmhub serve``: bootstrap an admin, issue a token, serve safely."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from crmhub.cli.main import app

from .conftest import free_port

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("CRMHUB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CRMHUB_DATABASE_URL", raising=False)
    monkeypatch.delenv("CRMHUB_SECRET_KEY", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return {**os.environ}


def test_users_create_admin_from_stdin_then_a_token_that_works(env: dict[str, str]) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    created = runner.invoke(
        app, ["users", "create", "Ops@Example.com", "--admin", "--password-stdin"], input="a long enough pw\n"
    )
    assert created.exit_code == 0, created.output
    assert "created user ops@example.com (admin)" in created.output
    short = runner.invoke(app, ["users", "create", "x@example.com", "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "too short" in short.output and "Traceback" not in short.output
    assert (
        runner.invoke(
            app, ["users", "create", "v@example.com", "--role", "viewer", "--no-password"]
        ).exit_code
        == 0
    )
    listing = runner.invoke(app, ["users", "list"])
    assert "ops@example.com" in listing.output and "viewer" in listing.output

    issued = runner.invoke(app, ["tokens", "create", "--user", "ops@example.com", "--name", "laptop"])
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip().splitlines()[-1]
    assert token.startswith("crmhub_")
    from crmhub.services.hub import HubService
    from crmhub.services.tokens import TokenService

    hub = HubService.open()
    try:
        assert TokenService(hub).authenticate(token).email == "ops@example.com"
    finally:
        hub.close()
    assert token not in runner.invoke(app, ["tokens", "list"]).output


def test_serve_refuses_a_reachable_address_without_an_admin(env: dict[str, str]) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    refused = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "1"])
    said = " ".join(refused.output.split())
    assert refused.exit_code == 1
    assert "refusing to listen on 0.0.0.0" in said and "no admin user exists" in said


def test_serve_refuses_a_reachable_address_with_the_default_secret(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    runner.invoke(app, ["users", "create", "a@example.com", "--admin", "--no-password"])
    (tmp_path / "home" / "secret.key").unlink()
    refused = runner.invoke(app, ["serve", "--host", "::", "--port", "1"])
    assert refused.exit_code == 1 and "no secret key is configured" in " ".join(refused.output.split())


def test_serve_answers_on_loopback_and_stops_cleanly(env: dict[str, str], tmp_path: Path) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "crmhub.cli.main", "serve", "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "crmhub serve did not answer"
                time.sleep(0.2)
        assert response.json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/jobs").status_code == 401
        assert (
            httpx.get(f"http://127.0.0.1:{port}/api/v1/openapi.json").json()["info"]["title"] == "crmhub API"
        )
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, log.read_text()


def test_serve_with_two_processes_shares_the_port_and_the_login_throttle(
    env: dict[str, str], tmp_path: Path
) -> None:
    import psutil

    assert runner.invoke(app, ["init"]).exit_code == 0
    created = runner.invoke(
        app, ["users", "create", "ops@example.com", "--admin", "--password-stdin"], input="a long enough pw\n"
    )
    assert created.exit_code == 0, created.output
    port = free_port()
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "crmhub.cli.main", "serve", "--port", str(port), "--processes", "2"]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--log-level", "warning"], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert httpx.get(f"{base}/health", timeout=1).json()["status"] == "ok"
                break
            except httpx.TransportError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "crmhub serve did not answer"
                time.sleep(0.2)
        serving = [
            p
            for p in psutil.Process(process.pid).children(recursive=True)
            if "spawn_main" in " ".join(p.cmdline())
        ]
        assert len(serving) == 2, [p.cmdline() for p in psutil.Process(process.pid).children(recursive=True)]
        # A listening socket per process (SO_REUSEPORT): the kernel spreads new connections over
        # both (all 20 to one process has odds of 2 in a million).
        clients = [httpx.Client(base_url=base) for _ in range(20)]
        try:
            for c in clients:
                assert c.get("/health").status_code == 200
            held = [
                sum(
                    1
                    for conn in p.net_connections(kind="tcp")
                    if conn.laddr and conn.laddr.port == port and conn.status == "ESTABLISHED"
                )
                for p in serving
            ]
            assert sum(held) == 20 and min(held) > 0, held
        finally:
            for c in clients:
                c.close()
        # Each attempt on a new connection (either process may take it): the failures add up in the
        # database, so after the three free ones even the right password waits.
        wrong = {"email": "ops@example.com", "password": "not the password"}
        statuses = [httpx.post(f"{base}/auth/login", json=wrong).status_code for _ in range(3)]
        assert statuses == [401, 401, 401]
        right = httpx.post(f"{base}/auth/login", json={**wrong, "password": "a long enough pw"})
        assert right.status_code == 429, right.text
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, log.read_text()
