"""The scale-out executor: runs go through a Celery broker (Redis or RabbitMQ) to ``crmhub worker`` processes.

* The hub must be on PostgreSQL (workers on several machines share it); the broker comes from
  ``CRMHUB_BROKER_URL`` (see :mod:`crmhub.execute.settings`).
* A task carries only a run id. It is published after the run row is committed, acknowledged late
  (``task_acks_late``: a worker that dies mid-run does not swallow it) and is idempotent: the worker
  claims the run first (``crmhub.sync.runner.claim_run``), so a duplicate, late or redelivered
  message for a run that is finished, cancelled or alive elsewhere does nothing.
* Long runs are not executed twice while alive: a redelivered message (Redis' visibility timeout,
  RabbitMQ's consumer timeout) finds the run running with a fresh heartbeat and is dropped.
* A worker killed mid-run: its run keeps status ``running`` until its heartbeat is older than
  ``CRMHUB_STALE_AFTER_SECONDS`` (or, on the same host, its process is gone); the scheduler's sweep
  then queues it again and another worker resumes it from the last committed batch.
* One run per job at a time: a message for a job with a run going leaves its run queued; the worker
  that finishes the running one publishes the next queued run of that job.

The app object for ``celery -A crmhub.execute.celery_app worker`` is :data:`app`; ``crmhub worker``
starts the same worker with crmhub's options.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from celery import Celery  # type: ignore[import-untyped]
from celery.signals import worker_process_init  # type: ignore[import-untyped]

from crmhub.core.errors import ConfigError
from crmhub.execute._worker import RunWorker
from crmhub.execute.settings import ExecutionSettings

__all__ = [
    "TASK_NAME",
    "CeleryExecutor",
    "app",
    "broker_url",
    "check_broker",
    "configure_worker_app",
    "create_app",
    "redact_url",
]

log = logging.getLogger("crmhub.execute")

TASK_NAME = "crmhub.execute_run"
#: Redis re-delivers an unacknowledged message after this long. Long runs are protected by the
#: claim (a redelivery of a live run is dropped), so this only bounds how late a lost message of a
#: dead worker comes back; the scheduler's sweep usually resumes such a run much earlier.
VISIBILITY_TIMEOUT_S = 12 * 3600


def redact_url(url: str) -> str:
    """The broker URL without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def broker_url(settings: ExecutionSettings) -> str:
    """The broker URL of ``settings``; ConfigError when unset or not Redis/RabbitMQ."""
    if settings.broker_url is None:
        raise ConfigError(
            "CRMHUB_BROKER_URL is not set",
            hint="set it to the Celery broker, e.g. redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672//",
        )
    url = settings.broker_url.get_secret_value().strip()
    if not url.startswith(("redis://", "rediss://", "amqp://", "amqps://", "pyamqp://")):
        raise ConfigError(
            f"CRMHUB_BROKER_URL {redact_url(url)!r} is not a Redis or RabbitMQ URL",
            hint="use redis://host:6379/0 or amqp://user:password@host:5672//",
        )
    return url


def create_app(settings: ExecutionSettings | None = None) -> Celery:
    """A Celery app for the broker and queue of ``settings`` (the environment by default)."""
    celery_app = Celery("crmhub", set_as_current=False)
    return _configure(celery_app, settings or ExecutionSettings())


def _configure(celery_app: Celery, settings: ExecutionSettings) -> Celery:
    celery_app.conf.update(
        broker_url=broker_url(settings),
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        task_default_queue=settings.celery_queue,
        task_acks_late=True,
        task_reject_on_worker_lost=False,  # the sweep resumes the run; no redelivery loop
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    return celery_app


#: The worker's app (``celery -A crmhub.execute.celery_app worker``): configured from the
#: environment when CRMHUB_BROKER_URL is set at import, or by ``configure_worker_app``.
app = Celery("crmhub", set_as_current=False)


def configure_worker_app(settings: ExecutionSettings | None = None) -> Celery:
    """Point :data:`app` at the broker and queue of ``settings`` (the environment by default)."""
    return _configure(app, settings or ExecutionSettings())


# The task ----------------------------------------------------------------------------------------

_state_lock = threading.Lock()
_state: dict[str, Any] = {}


def _run_worker() -> RunWorker:
    """This process's RunWorker (one hub per process: prefork children build their own after the fork)."""
    with _state_lock:
        if _state.get("pid") != os.getpid():
            from crmhub.services.hub import HubService
            from crmhub.services.notifications import Notifier

            settings = ExecutionSettings()
            hub = HubService.open()
            _state.update(
                pid=os.getpid(),
                hub=hub,
                notifier=Notifier(hub),
                worker=RunWorker(
                    hub, heartbeat_interval=settings.heartbeat_seconds, stale_after=settings.stale_after
                ),
            )
        worker: RunWorker = _state["worker"]
        return worker


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _forget_parent_state(**_: Any) -> None:
    # A forked child must not use the parent's database connections.
    with _state_lock:
        _state.clear()


@app.task(name=TASK_NAME, acks_late=True, ignore_result=True)  # type: ignore[untyped-decorator]
def execute_run_task(run_id: str) -> str:
    """Claim and execute one run; hand the job's next queued run to the queue when it ends."""
    result = _run_worker().work(run_id)
    if result.outcome is not None:
        # The job's notification rules (webhook / e-mail), delivered in the background.
        _state["notifier"].run_finished(run_id)
    for next_id in result.next_runs:
        _publish(next_id)
    return result.claim


def _publish(run_id: str, celery_app: Celery = app) -> None:
    celery_app.send_task(
        TASK_NAME,
        args=[run_id],
        retry=True,
        retry_policy={"max_retries": 3, "interval_start": 0, "interval_step": 0.5, "interval_max": 2},
    )


# The executor ------------------------------------------------------------------------------------


class CeleryExecutor:
    """Publishes run ids to the broker; ``crmhub worker`` processes execute them."""

    def __init__(self, settings: ExecutionSettings | None = None) -> None:
        self.settings = settings or ExecutionSettings()
        self.app = create_app(self.settings)

    def submit(self, run_id: str) -> None:
        """Publish a committed run (raises kombu's OperationalError when the broker stays unreachable)."""
        _publish(run_id, self.app)

    def start(self) -> None:
        """Nothing to start: the workers are separate processes."""

    def stop(self, *, wait: bool = True) -> None:
        """Release the broker connections of this process."""
        self.app.pool.force_close_all()


def check_broker(settings: ExecutionSettings | None = None, *, timeout: float = 5.0) -> str:
    """Connect to the broker once; returns its redacted URL, or raises ConfigError saying why not."""
    settings = settings or ExecutionSettings()
    url = broker_url(settings)
    celery_app = create_app(settings)
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    except Exception as exc:
        raise ConfigError(
            f"the broker at {redact_url(url)} is unreachable: {exc}",
            hint="start Redis or RabbitMQ, or fix CRMHUB_BROKER_URL",
        ) from None
    finally:
        celery_app.close()
    return redact_url(url)


if os.environ.get("CRMHUB_BROKER_URL"):
    configure_worker_app()
