"""Execution settings: environment variables with the ``CRMHUB_`` prefix (read by executors and CLIs).

* ``CRMHUB_BROKER_URL`` — the Celery broker: ``redis://host:6379/0`` or ``amqp://user:password@host:5672//``
  (needed by ``crmhub worker`` and ``crmhub scheduler`` only; ``crmhub serve`` runs without one).
* ``CRMHUB_CELERY_QUEUE`` — the queue runs go through (default ``crmhub``); hubs sharing a broker
  need different queues.
* ``CRMHUB_HEARTBEAT_SECONDS`` — how often a worker touches the heartbeat of the run it executes
  (default 15), besides the heartbeat every committed batch writes.
* ``CRMHUB_STALE_AFTER_SECONDS`` — a running run without a heartbeat for this long is taken for dead
  and resumes elsewhere (default 120; keep it several heartbeats long).
* ``CRMHUB_REQUEUE_AFTER_SECONDS`` — a queued run not picked up for this long, with nothing else of
  its job running, is handed to the executor again (default 300).
* ``CRMHUB_SCHEDULER_INTERVAL_SECONDS`` — seconds between scheduler ticks (default 5).
* ``CRMHUB_SCHEDULER_MAX_DUE`` — due jobs one tick takes at most (default 250); when more are due,
  the scheduler ticks again at once, so a burst is created in several short transactions.
* ``CRMHUB_RUN_WORKERS`` — runs ``crmhub serve`` executes at the same time (threads of the in-process
  executor, default 2; ``crmhub worker`` takes ``--concurrency`` instead).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ExecutionSettings(BaseSettings):
    """Where and how runs execute; see the module docstring for the variables."""

    model_config = SettingsConfigDict(env_prefix="CRMHUB_", extra="ignore")

    broker_url: SecretStr | None = None
    celery_queue: str = Field("crmhub", min_length=1, max_length=200)
    heartbeat_seconds: float = Field(15.0, gt=0)
    stale_after_seconds: float = Field(120.0, gt=0)
    requeue_after_seconds: float = Field(300.0, gt=0)
    scheduler_interval_seconds: float = Field(5.0, gt=0)
    scheduler_max_due: int = Field(250, ge=1, le=100_000)
    run_workers: int = Field(2, ge=1, le=64)

    @property
    def stale_after(self) -> timedelta:
        return timedelta(seconds=self.stale_after_seconds)

    def scheduler_options(self) -> dict[str, Any]:
        """Keyword arguments of :class:`crmhub.schedule.Scheduler` from these settings."""
        return {
            "interval": self.scheduler_interval_seconds,
            "stale_after": self.stale_after,
            "requeue_after": timedelta(seconds=self.requeue_after_seconds),
            "max_due": self.scheduler_max_due,
        }
