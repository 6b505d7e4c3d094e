"""``crmhub serve``: the API, an in-process worker pool and the scheduler, on the configured hub.

It refuses to listen on an address other machines can reach (anything but 127.0.0.0/8, ::1 and
localhost) while no admin user exists or while the default secret is in use — no secret key
configured at all (a fresh install before ``crmhub init``), or a placeholder or malformed
``CRMHUB_SECRET_KEY``. The key ``crmhub init`` generates is not a default one.
"""

from __future__ import annotations

import os

import typer

from crmhub.cli._common import console, fail, open_hub, user_errors
from crmhub.services.users import is_loopback, listening_problems

APP_FACTORY = "crmhub.api.server:app_from_environment"


@user_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=0, max=65535),
    workers: int = typer.Option(
        2, "--workers", min=1, max=64, help="Threads that execute runs (per process)."
    ),
    processes: int = typer.Option(
        1,
        "--processes",
        min=1,
        max=32,
        help="Server processes sharing the port (about one per core serves the most requests).",
    ),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Serve the REST API (/api/v1, OpenAPI at /api/v1/openapi.json) and run jobs."""
    hub = open_hub()
    try:
        problems = listening_problems(hub, host)
    finally:
        hub.close()
    if problems:
        raise fail(
            f"refusing to listen on {host}, which other machines can reach: "
            + "; ".join(problems)
            + " (or serve on 127.0.0.1)"
        )
    import uvicorn

    os.environ["CRMHUB_RUN_WORKERS"] = str(workers)
    # The interactive docs and the OpenAPI document are for the machine's own users unless asked for.
    os.environ.setdefault("CRMHUB_API_DOCS", "on" if is_loopback(host) else "off")
    docs = os.environ["CRMHUB_API_DOCS"].strip().lower() not in {"off", "0", "false", "no"}
    # Client addresses (login throttles, audit) come from the socket; X-Forwarded-For only from the
    # proxies the operator names.
    proxies = [p.strip() for p in os.environ.get("CRMHUB_TRUSTED_PROXIES", "").split(",") if p.strip()]
    console.print(
        f"crmhub API on http://{host}:{port}/api/v1"
        + (" (docs at /api/v1/docs)" if docs else "")
        + (f", {processes} processes" if processes > 1 else "")
    )
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        log_level=log_level,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        lifespan="on",
        # Each process is the whole app: API, run threads and a scheduler that ticks only while it
        # holds the database's leader lock. Login throttles live in the database, so all processes
        # count the same failures.
        workers=processes if processes > 1 else None,
    )
