"""``crmhub serve``: the API, an in-process worker pool and the scheduler, on the configured hub.

It refuses to listen on an address other machines can reach (anything but 127.0.0.0/8, ::1 and
localhost) while no admin user exists or while the default secret is in use — no secret key
configured at all (a fresh install before ``crmhub init``), or a placeholder or malformed
``CRMHUB_SECRET_KEY``. The key ``crmhub init`` generates is not a default one.
"""

from __future__ import annotations

import os
from typing import Any

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
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or None,
        "lifespan": "on",
    }
    if processes == 1:
        uvicorn.run(APP_FACTORY, factory=True, **options)
        return
    _serve_processes(processes, options)


def _serve_processes(count: int, options: dict[str, Any]) -> None:
    """``count`` copies of the whole app (API, run threads, a scheduler that ticks only while it
    holds the database's leader lock), each on its own listening socket bound with SO_REUSEPORT, so
    the kernel spreads new connections evenly over them (one shared socket left most keep-alive
    connections to whichever process woke first). Login throttles, runs and claims live in the
    database, so the processes behave as one server. SIGINT or SIGTERM stops them all; if one dies,
    the others are stopped too and the command fails."""
    import multiprocessing
    import signal
    import time

    spawn = multiprocessing.get_context("spawn")
    children = [
        spawn.Process(target=_one_process, args=(options,), name=f"crmhub-serve-{n}") for n in range(count)
    ]
    for child in children:
        child.start()
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.is_alive() and child.pid is not None:
                os.kill(child.pid, signal.SIGINT)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while any(child.is_alive() for child in children):
        if not stopping and any(not child.is_alive() for child in children):
            stop(signal.SIGTERM, None)  # one died: the server is not whole, stop the rest
        time.sleep(0.2)
    for child in children:
        child.join()
    if not stopping or any(child.exitcode not in (0, None) for child in children):
        raise typer.Exit(1)


def _one_process(options: dict[str, Any]) -> None:
    import socket

    import uvicorn

    host, port = options["host"], options["port"]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    config = uvicorn.Config(APP_FACTORY, factory=True, **options)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn raises the SIGINT it shut down for again, once it is done
        pass
