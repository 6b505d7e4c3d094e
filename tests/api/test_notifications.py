"""Notifications when a run ends: a signed webhook retried with backoff, and e-mail over SMTP."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from crmhub.services.hub import HubService
from crmhub.services.notifications import SmtpSettings, rules_firing, sign
from crmhub.store import runs as run_repo
from crmhub.sync.spec import JobSpec, NotificationRule

from .conftest import ACCOUNTS_JOB, Api, WebhookReceiver, free_port, running_api, write_accounts


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        self.arrived.set()
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, SmtpSettings]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, SmtpSettings(host="127.0.0.1", port=port, from_address="crmhub@example.com")
    finally:
        controller.stop()


def _job_with(api: Api, folder: Path, rows: list[str], notifications: list[dict[str, Any]]) -> int:
    write_accounts(folder, rows)
    client = api.client("admin")
    assert client.post(
        "/connections", json={"name": "files", "kind": "csv", "settings": {"path": str(folder)}}
    ).is_success
    created = client.post("/jobs", json={**ACCOUNTS_JOB, "notifications": notifications})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def _run(api: Api, job_id: int) -> str:
    started = api.client("admin").post(f"/jobs/{job_id}/runs")
    assert started.status_code == 202, started.text
    run_id: str = started.json()["id"]
    api.wait(run_id)
    assert api.notifier.flush(30)
    return run_id


def test_a_failed_run_posts_a_signed_webhook_and_retries_after_a_server_error(
    api: Api, tmp_path: Path, webhook: WebhookReceiver
) -> None:
    secret = "s3cret-signing-key"
    job_id = _job_with(
        api,
        tmp_path,
        ["A1,Acme,many,de", "A2,Beta,lots,fr"],  # every row fails: the run fails (threshold 50%)
        [
            {
                "when": "failure",
                "channel": {"kind": "webhook", "url": f"{webhook.url}/hooks/crm", "secret": secret},
            },
            {"when": "success", "channel": {"kind": "webhook", "url": f"{webhook.url}/hooks/ok"}},
        ],
    )
    webhook.statuses = [503]  # the first delivery fails; the retry succeeds
    run_id = _run(api, job_id)
    received = webhook.wait_for(2)
    assert [r.path for r in received] == ["/hooks/crm", "/hooks/crm"]
    delivery = received[-1]
    expected = "sha256=" + hmac.new(secret.encode(), delivery.body, hashlib.sha256).hexdigest()
    assert delivery.headers["X-Crmhub-Signature"] == expected
    assert delivery.headers["X-Crmhub-Event"] == "run.failure"
    body = WebhookReceiver.payload(delivery)
    assert body["run"]["id"] == run_id and body["run"]["status"] == "failed"
    assert body["job"]["name"] == "accounts-in" and body["run"]["errors"] == 2
    with api.hub.db.read() as session:
        events = {e.kind: e for e in run_repo.events(session, run_id)}
    assert events["notified"].data["attempts"] == 2
    assert "secret" not in str(events["notified"].data)
    # The secret never comes back from the API.
    shown = api.client("admin").get(f"/jobs/{job_id}").json()["spec"]["notifications"][0]["channel"]
    assert shown["secret"] == "********"
    exported = api.client("admin").get(f"/jobs/{job_id}/export").text
    assert secret not in exported and "********" in exported


def test_a_webhook_that_keeps_failing_is_given_up_and_recorded(
    api: Api, tmp_path: Path, webhook: WebhookReceiver
) -> None:
    job_id = _job_with(
        api,
        tmp_path,
        ["A1,Acme,1,de"],
        [{"when": "success", "channel": {"kind": "webhook", "url": webhook.url}}],
    )
    webhook.statuses = [500] * 10
    run_id = _run(api, job_id)
    assert len(webhook.requests) == api.notifier.attempts
    with api.hub.db.read() as session:
        failed = [e for e in run_repo.events(session, run_id) if e.kind == "notification_failed"]
    assert failed and "HTTP 500" in failed[0].message


def test_a_client_error_is_not_retried(api: Api, tmp_path: Path, webhook: WebhookReceiver) -> None:
    job_id = _job_with(
        api,
        tmp_path,
        ["A1,Acme,1,de"],
        [{"when": "success", "channel": {"kind": "webhook", "url": webhook.url}}],
    )
    webhook.statuses = [410]
    _run(api, job_id)
    assert len(webhook.requests) == 1


def test_errors_above_a_threshold_send_an_email(
    hub: HubService, tmp_path: Path, smtp: tuple[Inbox, SmtpSettings]
) -> None:
    inbox, settings = smtp
    with running_api(hub, smtp=settings) as api:
        job_id = _job_with(
            api,
            tmp_path,
            ["A1,Acme,1,de", "A2,Beta,lots,fr", "A3,Gamma,3,us", "A4,Delta,4,us"],
            [
                {
                    "when": "errors_above",
                    "threshold": 0,
                    "channel": {"kind": "email", "to": ["ops@example.com"]},
                },
                {
                    "when": "errors_above",
                    "threshold": 5,
                    "channel": {"kind": "email", "to": ["never@example.com"]},
                },
            ],
        )
        _run(api, job_id)
    assert inbox.arrived.wait(10)
    assert len(inbox.messages) == 1
    recipients, content = inbox.messages[0]
    assert recipients == ["ops@example.com"]
    message = message_from_bytes(content)
    assert message["Subject"] == "[crmhub] job accounts-in: run succeeded_with_errors"
    assert message["From"] == "crmhub@example.com"
    assert "Errors in the ledger: 1" in message.get_payload()


@pytest.mark.parametrize(
    ("status", "errors", "fired"),
    [
        ("failed", 0, ["failure"]),
        ("succeeded", 0, ["success"]),
        ("succeeded_with_errors", 3, ["success", "errors_above"]),
        ("cancelled", 9, ["errors_above"]),
    ],
    ids=[
        "a failed run fires failure",
        "a clean run fires success",
        "errors fire both",
        "cancelled counts errors only",
    ],
)
def test_rules_fire_by_status_and_error_count(status: str, errors: int, fired: list[str]) -> None:
    rules = [
        NotificationRule.model_validate(r)
        for r in (
            {"when": "failure", "channel": {"kind": "email", "to": ["a@example.com"]}},
            {"when": "success", "channel": {"kind": "email", "to": ["a@example.com"]}},
            {"when": "errors_above", "threshold": 2, "channel": {"kind": "email", "to": ["a@example.com"]}},
        )
    ]
    assert [r.when for r in rules_firing(rules, status, errors)] == fired


def test_the_signature_is_an_hmac_of_the_exact_body() -> None:
    assert sign("key", b"{}") == "sha256=" + hmac.new(b"key", b"{}", hashlib.sha256).hexdigest()


def test_given_a_webhook_secret_then_it_is_stored_encrypted_and_still_signs(hub: HubService) -> None:
    """Issue 12: the signing key is a secret at rest like a connection's credentials."""
    from crmhub.services.jobs import JobService
    from crmhub.store.models import Job, JobVersion

    jobs = JobService(hub)
    jobs.connections.add("files", "csv", {"path": str(hub.settings.home / "files")}, {})
    spec = JobSpec.model_validate(
        {
            **ACCOUNTS_JOB,
            "notifications": [
                {
                    "when": "success",
                    "channel": {
                        "kind": "webhook",
                        "url": "http://127.0.0.1:9/h",
                        "secret": "s3cret-signing-key",
                    },
                }
            ],
        }
    )
    jobs.create(spec)
    with hub.db.read() as session:
        stored = [session.query(Job).one().spec, *[v.spec for v in session.query(JobVersion).all()]]
    assert all("s3cret-signing-key" not in str(doc) for doc in stored)
    sealed = stored[0]["notifications"][0]["channel"]["secret"]
    assert sealed.startswith("fernet:")
    from crmhub.store.connections import Vault

    assert Vault(hub.settings.fernet_key()).open_text(sealed) == "s3cret-signing-key"
    _, again = jobs.get(ACCOUNTS_JOB["name"])
    jobs.update(ACCOUNTS_JOB["name"], again)  # saved again as read: sealed once, not twice
    with hub.db.read() as session:
        assert session.query(Job).one().spec["notifications"][0]["channel"]["secret"] == sealed
