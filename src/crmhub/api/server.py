"""The served app: the hub of the environment's settings, an in-process worker pool that notifies
when runs end, and the scheduler (one leader per database) — as one ASGI app.

``crmhub serve`` runs ``uvicorn crmhub.api.server:app_from_environment --factory`` (the CLI does
not import the API). ``CRMHUB_RUN_WORKERS`` sets the number of run threads (default 2),
``CRMHUB_API_THREADS`` the threads that serve quick requests (default 1: more threads contend for
the interpreter lock and serve fewer requests; use ``--processes`` for more; calls that wait on a
CRM and records filters have pools of their own, ``CRMHUB_API_FILTER_THREADS`` for the latter), ``CRMHUB_PUBLIC_URL`` the base URL shown in trigger calls and messages,
``CRMHUB_API_DOCS`` (``on`` / ``off``) whether ``/api/v1/docs`` and the OpenAPI document are served
(``crmhub serve`` sets it off for a non-loopback address unless it is set), and
``CRMHUB_MAX_BODY_BYTES`` the largest request body (1 MiB).
"""

from __future__ import annotations

import gc
import os
from typing import Any

from fastapi import FastAPI

from crmhub.api.app import create_app
from crmhub.api.guard import DEFAULT_MAX_BODY, DEFAULT_QUERY_TIMEOUT
from crmhub.execute import InProcessExecutor
from crmhub.execute.settings import ExecutionSettings
from crmhub.schedule import Scheduler
from crmhub.services.hub import HubService
from crmhub.services.notifications import Notifier, NotifyingExecutor


def app_from_environment() -> FastAPI:
    hub = HubService.open()
    hub.check_ready()
    notifier = Notifier(hub)
    execution = ExecutionSettings()
    executor = NotifyingExecutor(InProcessExecutor(hub, workers=execution.run_workers), notifier)
    scheduler = Scheduler(hub.db, executor, **execution.scheduler_options())
    background: list[Any] = [notifier, executor, scheduler]
    app = create_app(
        hub,
        executor=executor,
        notifier=notifier,
        background=background,
        on_shutdown=hub.close,
        public_url=os.environ.get("CRMHUB_PUBLIC_URL"),
        api_threads=int(os.environ.get("CRMHUB_API_THREADS", "1")),
        docs=os.environ.get("CRMHUB_API_DOCS", "on").strip().lower() not in {"off", "0", "false", "no"},
        max_body_bytes=int(os.environ.get("CRMHUB_MAX_BODY_BYTES", str(DEFAULT_MAX_BODY))),
        query_timeout=float(os.environ.get("CRMHUB_QUERY_TIMEOUT_SECONDS", str(DEFAULT_QUERY_TIMEOUT))),
    )
    # What start-up made (routes, schemas, the ORM's mappings) lives as long as the process: out of
    # the collector's sight, full collections no longer walk it, which shortens their pauses.
    gc.collect()
    gc.freeze()
    return app
