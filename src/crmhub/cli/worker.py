"""``crmhub worker`` and ``crmhub scheduler``: the scale-out processes (Celery, PostgreSQL hub).

    export CRMHUB_DATABASE_URL=postgresql://crmhub@db/crmhub
    export CRMHUB_BROKER_URL=redis://broker:6379/0        # or amqp://user:password@broker:5672//
    crmhub worker --concurrency 4     # on as many machines as needed
    crmhub scheduler                  # anywhere; several may run, one leads

Settings: ``crmhub.execute.settings`` (queue, heartbeat, stale threshold, tick interval).
"""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

import typer
from pydantic import ValidationError

from crmhub.cli._common import console, fail, open_hub, user_errors
from crmhub.core.errors import ConfigError
from crmhub.execute.settings import ExecutionSettings
from crmhub.services.hub import HubService

POOLS = ("prefork", "threads", "solo")


def _settings() -> ExecutionSettings:
    try:
        return ExecutionSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"CRMHUB_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid execution settings: {problems}") from None


def _postgres_hub() -> HubService:
    hub = open_hub()
    if hub.db.dialect != "postgresql":
        hub.close()
        raise ConfigError(
            "the Celery executor needs PostgreSQL: the hub is on "
            f"{hub.db.dialect} ({hub.settings.resolved_database_url.split(':', 1)[0]})",
            hint="set CRMHUB_DATABASE_URL=postgresql://… (workers on several machines share it), "
            "or use `crmhub serve` for the embedded setup on SQLite",
        )
    return hub


def _celery() -> Any:
    try:
        from crmhub.execute import celery_app
    except ImportError:
        raise ConfigError(
            "the Celery executor needs Celery installed", hint="pip install 'crmhub[celery,postgres]'"
        ) from None
    return celery_app


@user_errors
def worker(
    concurrency: int = typer.Option(2, "--concurrency", "-c", min=1, help="Runs executed at the same time."),
    pool: str = typer.Option("prefork", "--pool", "-P", help="prefork (processes), threads or solo."),
    loglevel: str = typer.Option("info", "--loglevel", "-l", help="debug, info, warning or error."),
) -> None:
    """Execute runs from the Celery broker (CRMHUB_BROKER_URL) on the PostgreSQL hub, in the foreground."""
    if pool not in POOLS:
        raise fail(f"unknown pool {pool!r}: use one of {', '.join(POOLS)}")
    settings = _settings()
    celery_app = _celery()
    celery_app.broker_url(settings)
    _postgres_hub().close()  # checked here; each worker process opens its own
    broker = celery_app.check_broker(settings)
    console.print(
        f"crmhub worker: broker {broker}, queue {settings.celery_queue}, concurrency {concurrency} ({pool})"
    )
    app = celery_app.configure_worker_app(settings)
    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            f"--pool={pool}",
            f"--loglevel={loglevel.upper()}",
            f"--queues={settings.celery_queue}",
            f"--hostname=crmhub-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
    )


@user_errors
def scheduler(
    interval: float | None = typer.Option(
        None,
        "--interval",
        min=0.1,
        help="Seconds between ticks (default CRMHUB_SCHEDULER_INTERVAL_SECONDS or 5).",
    ),
    once: bool = typer.Option(False, "--once", help="Tick once, print what it did and exit."),
) -> None:
    """Create the runs of due schedules and hand them to the Celery workers; one scheduler leads."""
    from crmhub.schedule.scheduler import Scheduler

    settings = _settings()
    celery_app = _celery()
    celery_app.broker_url(settings)
    hub = _postgres_hub()
    try:
        broker = celery_app.check_broker(settings)
        executor = celery_app.CeleryExecutor(settings)
        options = settings.scheduler_options()
        if interval is not None:
            options["interval"] = interval
        loop = Scheduler(hub.db, executor, **options)
        if once:
            report = loop.tick()
            if not report.leader:
                console.print("another scheduler leads; nothing done")
            else:
                console.print(
                    f"{len(report.created)} run(s) created for {report.due} due job(s), "
                    f"{report.skipped_active} slot(s) skipped (a run still active), "
                    f"{len(report.requeued)} run(s) of dead workers requeued, "
                    f"{len(report.resubmitted)} queued run(s) handed out again"
                )
            loop.stop()
            executor.stop()
            return
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

        def _stop(signum: int, _frame: Any) -> None:
            loop.stop(wait=False)

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        console.print(
            f"crmhub scheduler: broker {broker}, queue {settings.celery_queue}, "
            f"tick every {options['interval']:g} s (Ctrl-C to stop)"
        )
        loop.run_forever()
        executor.stop()
        console.print("scheduler stopped")
    finally:
        hub.close()
