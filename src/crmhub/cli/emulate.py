"""``crmhub emulate KIND``: serve a protocol-faithful CRM emulator on loopback until stopped.

One command per entry of :data:`crmhub.emulators.registry.EMULATORS`, generated from it.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer

from crmhub.emulators.registry import EMULATORS, EmulatorEntry

app = typer.Typer(help="Serve a protocol-faithful CRM emulator on loopback.", no_args_is_help=True)

HOST = "127.0.0.1"

_PORT_HELP = "TCP port on 127.0.0.1 (0 picks a free one)."
_SEED_HELP = "Seed of the fake data; the same seed gives the same records."
_FAULT_HELP = "Share (0..1) of API requests answered 429, 503 or with a cut-short page."
_CERT_HELP = "PEM certificate to serve HTTPS with (needs --tls-key)."
_KEY_HELP = "PEM private key of --tls-cert."


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _check_common(
    port: int, counts: dict[str, int], fault_rate: float, tls_cert: Path | None, tls_key: Path | None
) -> None:
    if not 0 <= port <= 65535:
        _fail(f"--port must be between 0 and 65535, got {port}")
    for flag, value in counts.items():
        if value < 0:
            _fail(f"{flag} must not be negative, got {value}")
    if not 0.0 <= fault_rate <= 1.0:
        _fail(f"--fault-rate must be between 0 and 1, got {fault_rate}")
    if (tls_cert is None) != (tls_key is None):
        _fail("give both --tls-cert and --tls-key to serve HTTPS, or neither")
    for flag, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path is not None and not path.is_file():
            _fail(f"{flag} {path} is not a readable file")


def _serve(app_: object, port: int, tls_cert: Path | None, tls_key: Path | None, describe: object) -> None:
    from crmhub.emulators.serve import base_url, bind_socket, make_server

    try:
        sock = bind_socket(HOST, port)
    except OSError as exc:
        _fail(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}; pick another --port", 1)
    url = base_url(sock, tls=tls_cert is not None)
    try:
        server = make_server(
            app_,  # type: ignore[arg-type]
            ssl_certfile=str(tls_cert) if tls_cert else None,
            ssl_keyfile=str(tls_key) if tls_key else None,
        )
        for line in describe(url):  # type: ignore[operator]
            typer.echo(line)
        # uvicorn re-raises the signal that stopped it once it has shut down; answering it with a
        # no-op handler turns Ctrl-C / SIGTERM into a clean exit 0.
        signal.signal(signal.SIGINT, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: None)
        # The seeded vocabularies and indexes live as long as the process: keep them out of the
        # collector's full passes (pages allocate thousands of dicts each, which trigger them).
        gc.collect()
        gc.freeze()
        asyncio.run(server.serve(sockets=[sock]))
    except OSError as exc:
        _fail(f"the emulator could not start: {exc}", 1)
    finally:
        sock.close()
    typer.echo("emulator stopped")


def _command(entry: EmulatorEntry) -> Callable[..., None]:
    """The ``crmhub emulate KIND`` command of one registry entry (its flags from the entry's seeds)."""

    def run(**options: Any) -> None:
        port, seed, fault_rate = options["port"], options["seed"], options["fault_rate"]
        tls_cert, tls_key = options["tls_cert"], options["tls_key"]
        counts = {s.name: int(options[s.name]) for s in entry.seeds}
        plain = {s.flag: counts[s.name] for s in entry.seeds if s.minimum <= 0}
        _check_common(port, plain, fault_rate, tls_cert, tls_key)
        for s in entry.seeds:
            if s.minimum > 0 and counts[s.name] < s.minimum:
                _fail(f"{s.flag} must be at least {s.minimum}, got {counts[s.name]}")
        from crmhub.emulators import FaultConfig

        typer.echo(entry.seeding_line(counts))
        emulator = entry.build(counts, seed, FaultConfig.uniform(fault_rate, seed=seed))
        tls = tls_cert is not None
        _serve(emulator.app, port, tls_cert, tls_key, lambda url: entry.describe(emulator, url, tls))

    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [
        inspect.Parameter(
            "port", keyword, default=typer.Option(entry.port, "--port", help=_PORT_HELP), annotation=int
        ),
        *(
            inspect.Parameter(
                s.name, keyword, default=typer.Option(s.default, s.flag, help=s.help), annotation=int
            )
            for s in entry.seeds
        ),
        inspect.Parameter(
            "seed", keyword, default=typer.Option(0, "--seed", help=_SEED_HELP), annotation=int
        ),
        inspect.Parameter(
            "tls_cert",
            keyword,
            default=typer.Option(None, "--tls-cert", help=_CERT_HELP),
            annotation=Optional[Path],  # noqa: UP045
        ),
        inspect.Parameter(
            "tls_key",
            keyword,
            default=typer.Option(None, "--tls-key", help=_KEY_HELP),
            annotation=Optional[Path],  # noqa: UP045
        ),
        inspect.Parameter(
            "fault_rate",
            keyword,
            default=typer.Option(0.0, "--fault-rate", help=_FAULT_HELP),
            annotation=float,
        ),
    ]
    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    run.__doc__ = entry.summary
    run.__name__ = entry.kind
    return run


for _entry in EMULATORS:
    app.command(_entry.kind)(_command(_entry))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
