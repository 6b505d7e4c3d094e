"""`crmhub worker` and `crmhub scheduler`: one-line errors on misconfiguration; a scheduler tick."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmhub.cli.main import app
from crmhub.core.clock import utcnow
from crmhub.services.hub import HubService
from crmhub.services.jobs import JobService
from crmhub.store.jobs import get_job
from crmhub.sync.spec import JobSpec

from .conftest import drop_queue

runner = CliRunner()
REDIS = os.environ.get("CRMHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRMHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CRMHUB_FILE_ROOTS", str(tmp_path))
    for name in ("CRMHUB_DATABASE_URL", "CRMHUB_SECRET_KEY", "CRMHUB_BROKER_URL", "CRMHUB_CELERY_QUEUE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def one_line_error(output: str) -> str:
    assert "Traceback" not in output
    return " ".join(output.split())


@pytest.mark.parametrize("command", [["worker"], ["scheduler", "--once"]])
def test_given_no_broker_when_started_then_it_says_what_to_set(env: Path, command: list[str]) -> None:
    result = runner.invoke(app, command)
    assert result.exit_code == 1
    assert "CRMHUB_BROKER_URL is not set" in one_line_error(result.output)


def test_given_a_sqlite_hub_when_a_worker_starts_then_it_asks_for_postgresql(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    monkeypatch.setenv("CRMHUB_BROKER_URL", REDIS)
    result = runner.invoke(app, ["worker"])
    assert result.exit_code == 1
    message = one_line_error(result.output)
    assert "the Celery executor needs PostgreSQL" in message and "crmhub serve" in message


def test_given_a_bad_setting_when_started_then_the_variable_is_named(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRMHUB_BROKER_URL", "http://127.0.0.1:1/")
    assert "is not a Redis or RabbitMQ URL" in one_line_error(runner.invoke(app, ["worker"]).output)
    monkeypatch.setenv("CRMHUB_BROKER_URL", REDIS)
    monkeypatch.setenv("CRMHUB_HEARTBEAT_SECONDS", "often")
    assert "CRMHUB_HEARTBEAT_SECONDS" in one_line_error(runner.invoke(app, ["worker"]).output)
    result = runner.invoke(app, ["worker", "--pool", "gevent"])
    assert result.exit_code != 0


def test_given_an_unreachable_broker_when_a_worker_starts_then_it_says_so(
    env: Path, monkeypatch: pytest.MonkeyPatch, postgres_schema_url: str
) -> None:
    monkeypatch.setenv("CRMHUB_DATABASE_URL", postgres_schema_url)
    assert runner.invoke(app, ["init"]).exit_code == 0
    monkeypatch.setenv("CRMHUB_BROKER_URL", "amqp://guest:secret@127.0.0.1:1//")
    result = runner.invoke(app, ["worker"])
    assert result.exit_code == 1
    message = one_line_error(result.output)
    assert "the broker at amqp://guest:***@127.0.0.1:1// is unreachable" in message
    assert "secret" not in message


def test_given_a_due_job_when_the_scheduler_ticks_once_then_it_reports_the_run(
    env: Path, monkeypatch: pytest.MonkeyPatch, postgres_schema_url: str
) -> None:
    from crmhub.execute.celery_app import check_broker
    from crmhub.execute.settings import ExecutionSettings

    queue = f"crmhub-test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("CRMHUB_DATABASE_URL", postgres_schema_url)
    monkeypatch.setenv("CRMHUB_BROKER_URL", REDIS)
    monkeypatch.setenv("CRMHUB_CELERY_QUEUE", queue)
    try:
        check_broker(ExecutionSettings(), timeout=3)
    except Exception as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI=true and {exc}", pytrace=False)
        pytest.skip(str(exc))
    assert runner.invoke(app, ["init"]).exit_code == 0
    folder = env / "files"
    folder.mkdir()
    (folder / "accounts.csv").write_text("id,name\nA1,Acme\n", encoding="utf-8")
    hub = HubService.open()
    try:
        jobs = JobService(hub)
        jobs.connections.add("files", "csv", {"path": str(folder)}, {})
        jobs.create(
            JobSpec.model_validate(
                {
                    "name": "accounts",
                    "direction": "inbound",
                    "connection": "files",
                    "remote_object": "accounts",
                    "object_type": "account",
                    "mapping": [{"source": "id", "target": "account_id"}],
                    "schedule": {"kind": "daily", "at": "06:00", "timezone": "Europe/Berlin"},
                }
            ),
            enabled=True,
        )
        with hub.db.begin() as session:
            get_job(session, "accounts").next_run_at = utcnow() - timedelta(minutes=1)
    finally:
        hub.close()
    try:
        result = runner.invoke(app, ["scheduler", "--once"])
        assert result.exit_code == 0, result.output
        assert "1 run(s) created for 1 due job(s)" in one_line_error(result.output)
    finally:
        drop_queue(REDIS, queue)


def test_given_a_running_scheduler_when_sent_sigterm_then_it_stops_cleanly(
    env: Path, monkeypatch: pytest.MonkeyPatch, postgres_schema_url: str
) -> None:
    import signal
    import subprocess
    import sys
    import time

    from crmhub.execute.celery_app import check_broker
    from crmhub.execute.settings import ExecutionSettings

    monkeypatch.setenv("CRMHUB_DATABASE_URL", postgres_schema_url)
    monkeypatch.setenv("CRMHUB_BROKER_URL", REDIS)
    queue = f"crmhub-test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("CRMHUB_CELERY_QUEUE", queue)
    try:
        check_broker(ExecutionSettings(), timeout=3)
    except Exception as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI=true and {exc}", pytrace=False)
        pytest.skip(str(exc))
    assert runner.invoke(app, ["init"]).exit_code == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "crmhub.cli.main", "scheduler", "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()
        assert "crmhub scheduler:" in first, first
        time.sleep(0.5)  # a few ticks
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    drop_queue(REDIS, queue)
    assert proc.returncode == 0, out.decode()
    assert "scheduler stopped" in out.decode()
