"""Notifications when a run ends: signed webhooks and e-mails, per the job's ``notifications`` rules.

A rule fires on ``failure`` (the run failed), ``success`` (succeeded, with or without errors) or
``errors_above`` (the run's error ledger has more than ``threshold`` rows). Deliveries run on a small
thread pool, so a slow receiver never holds up a run; each is retried with exponential backoff
(bounded attempts) on network errors, 5xx, 408 and 429, and its outcome is appended to the run's
events (``notified`` / ``notification_failed``).

Webhooks POST a JSON body with ``X-Crmhub-Signature: sha256=<hex HMAC-SHA256 of the raw body keyed
with the rule's secret>`` (no header without a secret), ``X-Crmhub-Event`` and a unique
``X-Crmhub-Delivery`` id. Receivers verify the HMAC over the exact bytes received.

SMTP comes from the environment:

* ``CRMHUB_SMTP_HOST`` (required for e-mail), ``CRMHUB_SMTP_PORT`` (default 25),
  ``CRMHUB_SMTP_FROM`` (default ``crmhub@<host name>``);
* ``CRMHUB_SMTP_USERNAME`` / ``CRMHUB_SMTP_PASSWORD`` (log in when set), ``CRMHUB_SMTP_STARTTLS``
  (``true`` to upgrade the connection), ``CRMHUB_SMTP_TIMEOUT`` (seconds, default 10).

``CRMHUB_PUBLIC_URL`` (e.g. ``https://crmhub.example.com``) makes messages link to the run.

Runs end inside an executor; :class:`NotifyingExecutor` wraps any executor that can ``wait`` for a
run and calls :meth:`Notifier.run_finished` once the run is over.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import smtplib
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from crmhub import __version__
from crmhub.connectors.egress import EndpointNotAllowedError, check_destination
from crmhub.core.clock import utcnow
from crmhub.services.hub import HubService
from crmhub.store import runs as run_repo
from crmhub.store.connections import Vault
from crmhub.store.models import Job, Run
from crmhub.sync.spec import EmailChannel, JobSpec, NotificationRule, WebhookChannel

__all__ = ["NotifyingExecutor", "Notifier", "SmtpSettings", "rules_firing", "sign"]

log = logging.getLogger("crmhub.notifications")

SUCCESS_STATUSES = frozenset({"succeeded", "succeeded_with_errors"})


class SmtpSettings(BaseSettings):
    """SMTP server for e-mail notifications (``CRMHUB_SMTP_*``)."""

    model_config = SettingsConfigDict(env_prefix="CRMHUB_SMTP_", extra="ignore", populate_by_name=True)

    host: str | None = None
    port: int = 25
    from_address: str | None = Field(None, validation_alias="CRMHUB_SMTP_FROM")
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    timeout: float = 10.0

    @property
    def sender(self) -> str:
        return self.from_address or f"crmhub@{socket.gethostname()}"


def sign(secret: str, body: bytes) -> str:
    """The signature header value of a webhook body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def rules_firing(rules: list[NotificationRule], status: str, errors: int) -> list[NotificationRule]:
    """The rules a run with this final status and error count fires."""
    out = []
    for rule in rules:
        if (
            (rule.when == "failure" and status == "failed")
            or (rule.when == "success" and status in SUCCESS_STATUSES)
            or (rule.when == "errors_above" and rule.threshold is not None and errors > rule.threshold)
        ):
            out.append(rule)
    return out


def _redacted(url: str) -> str:
    """A URL without its query, fragment and user info (those may carry secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class _Retry(Exception):
    """A delivery failure worth another attempt (5xx, 408, 429)."""


class _Permanent(Exception):
    """A delivery failure that retrying will not fix (a 4xx answer, a refused recipient)."""


@dataclass
class _Delivery:
    run_id: str
    rule: NotificationRule
    event: str
    payload: dict[str, Any]


class Notifier:
    """Evaluates a finished run's rules and delivers what fires, in the background."""

    def __init__(
        self,
        hub: HubService,
        *,
        smtp: SmtpSettings | None = None,
        attempts: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        http_timeout: float = 10.0,
        public_url: str | None = None,
        workers: int = 2,
        http_transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.hub = hub
        self.smtp = smtp if smtp is not None else SmtpSettings()
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.http_timeout = http_timeout
        self.public_url = (public_url or os.environ.get("CRMHUB_PUBLIC_URL") or "").rstrip("/") or None
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="crmhub-notify")
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._http = httpx.Client(timeout=http_timeout, transport=http_transport, follow_redirects=False)

    # Deciding ---------------------------------------------------------------------------------

    def _payload(self, run: Run, job: Job, errors: int, rule: NotificationRule) -> dict[str, Any]:
        link = f"{self.public_url}/api/v1/runs/{run.id}" if self.public_url else None
        return {
            "event": f"run.{rule.when}",
            "sent_at": utcnow().isoformat(),
            "job": {"id": job.id, "name": job.name, "direction": job.direction},
            "run": {
                "id": run.id,
                "status": run.status,
                "trigger": run.trigger,
                "mode": run.mode,
                "dry_run": run.dry_run,
                "message": run.message,
                "counts": run.counts,
                "errors": errors,
                "created_at": run.created_at.isoformat(),
                "started_at": run.started_at.isoformat() if run.started_at else None,
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                "url": link,
            },
        }

    def run_finished(self, run_id: str) -> int:
        """Queue the deliveries a finished run fires; returns how many (0 for a run still going)."""
        with self.hub.db.read() as session:
            run = session.get(Run, run_id)
            if run is None or run.status not in (*SUCCESS_STATUSES, "failed", "cancelled"):
                return 0
            job = session.get(Job, run.job_id)
            if job is None:
                return 0
            spec = JobSpec.model_validate(job.spec)
            if not spec.notifications:
                return 0
            errors = run_repo.count_errors(session, run_id)
            deliveries = [
                _Delivery(run_id, rule, f"run.{rule.when}", self._payload(run, job, errors, rule))
                for rule in rules_firing(spec.notifications, run.status, errors)
            ]
        for delivery in deliveries:
            self._submit(delivery)
        return len(deliveries)

    def _submit(self, delivery: _Delivery) -> None:
        if self._closed.is_set():
            return
        future = self._pool.submit(self._deliver, delivery)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    # Delivering -------------------------------------------------------------------------------

    def _deliver(self, delivery: _Delivery) -> None:
        channel = delivery.rule.channel
        send: Callable[[], str]
        if isinstance(channel, WebhookChannel):
            target = _redacted(channel.url)
            body = orjson.dumps(delivery.payload)

            def send() -> str:
                return self._post(channel, delivery, body)

        else:
            target = ", ".join(channel.to)

            def send() -> str:
                return self._mail(channel, delivery)

        error = ""
        attempt = 0
        for attempt in range(1, self.attempts + 1):
            try:
                result = send()
            except _Permanent as exc:
                error = str(exc)
                break
            except (httpx.HTTPError, OSError, smtplib.SMTPException, _Retry) as exc:
                error = str(exc) or type(exc).__name__
                if attempt < self.attempts and not self._closed.wait(
                    min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                ):
                    continue
                break
            else:
                self._event(
                    delivery,
                    "notified",
                    f"{channel.kind} to {target}: {result} (attempt {attempt})",
                    {"channel": channel.kind, "target": target, "attempts": attempt},
                )
                return
        log.warning("notification of run %s to %s failed: %s", delivery.run_id, target, error)
        self._event(
            delivery,
            "notification_failed",
            f"{channel.kind} to {target} failed after {attempt} attempt(s): {error}",
            {"channel": channel.kind, "target": target, "attempts": attempt},
        )

    def _post(self, channel: WebhookChannel, delivery: _Delivery, body: bytes) -> str:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"crmhub/{__version__}",
            "X-Crmhub-Event": delivery.event,
            "X-Crmhub-Delivery": str(uuid.uuid4()),
        }
        if channel.secret:  # stored sealed (see crmhub.store.connections.seal_webhook_secrets)
            secret = Vault(self.hub.settings.fernet_key()).open_text(channel.secret)
            headers["X-Crmhub-Signature"] = sign(secret, body)
        settings = self.hub.settings
        try:  # right before each delivery: what the host resolves to now
            check_destination(
                channel.url,
                what="the webhook URL",
                allowed=settings.connection_hosts,
                loopback=settings.egress_loopback,
            )
        except EndpointNotAllowedError as exc:
            raise _Permanent(str(exc)) from None
        response = self._http.post(channel.url, content=body, headers=headers)
        status = response.status_code
        if 200 <= status < 300:
            return f"HTTP {status}"
        if status in (408, 429) or status >= 500:
            raise _Retry(f"HTTP {status}")
        raise _Permanent(f"HTTP {status} (not retried)")

    def _mail(self, channel: EmailChannel, delivery: _Delivery) -> str:
        smtp = self.smtp
        if not smtp.host:
            raise _Permanent("CRMHUB_SMTP_HOST is not set")
        run = delivery.payload["run"]
        job = delivery.payload["job"]
        message = EmailMessage()
        message["From"] = smtp.sender
        message["To"] = ", ".join(channel.to)
        message["Subject"] = f"[crmhub] job {job['name']}: run {run['status']}"
        counts = ", ".join(f"{k} {v}" for k, v in (run["counts"] or {}).items() if v) or "nothing read"
        lines = [
            f"Run {run['id']} of job {job['name']} ended: {run['status']}.",
            "",
            run["message"] or "",
            "",
            f"Counts: {counts}",
            f"Errors in the ledger: {run['errors']}",
        ]
        if run["url"]:
            lines += ["", f"Details: {run['url']}"]
        message.set_content("\n".join(lines) + "\n")
        try:
            with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
                if smtp.starttls:
                    client.starttls()
                if smtp.username:
                    password = smtp.password.get_secret_value() if smtp.password else ""
                    client.login(smtp.username, password)
                client.send_message(message)
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                raise _Permanent(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from None
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            raise _Permanent(f"recipients refused: {', '.join(exc.recipients)}") from None
        return "sent"

    def _event(self, delivery: _Delivery, kind: str, message: str, data: dict[str, Any]) -> None:
        try:
            with self.hub.db.begin() as session:
                run_repo.add_event(
                    session, delivery.run_id, kind, message, {**data, "rule": delivery.rule.when}
                )
        except Exception:  # the run may have been deleted meanwhile; the log line above says enough
            log.debug("could not record %s for run %s", kind, delivery.run_id, exc_info=True)

    # Lifecycle --------------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued delivery is done (tests, shutdown); True if none is left."""
        with self._lock:
            pending = set(self._pending)
        if not pending:
            return True
        done, not_done = wait_futures(pending, timeout=timeout)
        return not not_done

    def close(self, *, timeout: float = 5.0) -> None:
        """Finish what is in flight (up to ``timeout``), cut retries short, and release resources."""
        self.flush(timeout)
        self._closed.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()


class _WaitingExecutor(Protocol):
    def submit(self, run_id: str) -> None: ...

    def start(self) -> None: ...

    def stop(self, *, wait: bool = True) -> None: ...

    def wait(self, run_id: str, timeout: float | None = None) -> object: ...


class NotifyingExecutor:
    """An executor that notifies when each submitted run ends (wraps e.g. ``InProcessExecutor``)."""

    def __init__(self, inner: _WaitingExecutor, notifier: Notifier) -> None:
        self.inner = inner
        self.notifier = notifier
        self._watchers: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        self.inner.start()

    def submit(self, run_id: str) -> None:
        self.inner.submit(run_id)
        with self._lock:
            if run_id in self._watchers:  # handed out again (the scheduler's sweep): watched already
                return
            watcher = threading.Thread(
                target=self._watch, args=(run_id,), name=f"crmhub-watch-{run_id}", daemon=True
            )
            self._watchers[run_id] = watcher
        watcher.start()

    def _watch(self, run_id: str) -> None:
        try:
            self.inner.wait(run_id)
        except Exception:  # the run recorded its own failure; notify about what the row says
            log.debug("run %s ended with an exception", run_id, exc_info=True)
        try:
            self.notifier.run_finished(run_id)
        except Exception:
            log.exception("notifications of run %s could not be sent", run_id)
        finally:
            with self._lock:
                self._watchers.pop(run_id, None)

    def wait(self, run_id: str, timeout: float | None = None) -> object:
        """Block until the run has finished and its notifications are queued."""
        deadline = None if timeout is None else time.monotonic() + timeout
        result = self.inner.wait(run_id, timeout)
        with self._lock:
            watcher = self._watchers.get(run_id)
        if watcher is not None:
            watcher.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return result

    def stop(self, *, wait: bool = True) -> None:
        self.inner.stop(wait=wait)
        with self._lock:
            watchers = list(self._watchers.values())
        for watcher in watchers:
            watcher.join(5.0 if wait else 0.1)
