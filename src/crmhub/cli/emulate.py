"""``crmhub emulate``: serve a protocol-faithful CRM emulator on loopback until stopped."""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from pathlib import Path
from typing import NoReturn

import typer

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


@app.command("salesforce")
def salesforce(
    port: int = typer.Option(8701, "--port", help=_PORT_HELP),
    accounts: int = typer.Option(1000, "--accounts", help="Seeded Account records."),
    contacts: int = typer.Option(2000, "--contacts", help="Seeded Contact records."),
    users: int = typer.Option(10, "--users", help="Seeded User records (at least 1)."),
    seed: int = typer.Option(0, "--seed", help=_SEED_HELP),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help=_CERT_HELP),
    tls_key: Path | None = typer.Option(None, "--tls-key", help=_KEY_HELP),
    fault_rate: float = typer.Option(0.0, "--fault-rate", help=_FAULT_HELP),
) -> None:
    """Serve the Salesforce REST API emulator (OAuth, SOQL, sObjects, composite)."""
    _check_common(port, {"--accounts": accounts, "--contacts": contacts}, fault_rate, tls_cert, tls_key)
    if users < 1:
        _fail(f"--users must be at least 1, got {users}")
    from crmhub.emulators import FaultConfig, SalesforceEmulator

    typer.echo(f"seeding the Salesforce emulator: {accounts} accounts, {contacts} contacts, {users} users …")
    emulator = SalesforceEmulator(
        accounts=accounts,
        contacts=contacts,
        users=users,
        seed=seed,
        fault=FaultConfig.uniform(fault_rate, seed=seed),
    )
    v = emulator.api_version
    insecure = " -k" if tls_cert else ""

    def describe(url: str) -> list[str]:
        return [
            f"crmhub Salesforce emulator on {url} (API v{v}; {accounts} accounts, {contacts} contacts, "
            f"{users} users; seed {seed})",
            f"  username       {emulator.username}",
            f"  password       {emulator.password}  (send password + security token: "
            f"{emulator.password}{emulator.security_token})",
            f"  security token {emulator.security_token}",
            f"  client id      {emulator.client_id}",
            f"  client secret  {emulator.client_secret}",
            "Get a token:",
            f"  curl{insecure} -s -X POST {url}/services/oauth2/token -d grant_type=password "
            f"-d client_id={emulator.client_id} -d client_secret={emulator.client_secret} "
            f"-d username={emulator.username} -d password={emulator.password}{emulator.security_token}",
            "Run a SOQL query with it:",
            f'  curl{insecure} -s -H "Authorization: Bearer $TOKEN" '
            f'"{url}/services/data/v{v}/query?q=SELECT+Id,Name,Industry+FROM+Account+LIMIT+5"',
            f"Control endpoints: {url}/__emulator/state (see crmhub.emulators docs)",
            "Connect crmhub to it:",
            f"  crmhub connections add sf-emulator --kind salesforce --set login_url={url} "
            f"--set username={emulator.username} --secret client_id={emulator.client_id} "
            f"--secret client_secret={emulator.client_secret} --secret password={emulator.password} "
            f"--secret security_token={emulator.security_token}"
            + (" --set verify_tls=false" if tls_cert else ""),
            "Press Ctrl-C to stop.",
        ]

    _serve(emulator.app, port, tls_cert, tls_key, describe)


@app.command("hubspot")
def hubspot(
    port: int = typer.Option(8702, "--port", help=_PORT_HELP),
    accounts: int = typer.Option(1000, "--accounts", help="Seeded companies."),
    contacts: int = typer.Option(2000, "--contacts", help="Seeded contacts."),
    owners: int = typer.Option(10, "--owners", help="Seeded owners (at least 1)."),
    seed: int = typer.Option(0, "--seed", help=_SEED_HELP),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help=_CERT_HELP),
    tls_key: Path | None = typer.Option(None, "--tls-key", help=_KEY_HELP),
    fault_rate: float = typer.Option(0.0, "--fault-rate", help=_FAULT_HELP),
) -> None:
    """Serve the HubSpot CRM API emulator (v3 objects, search, batch, properties, associations)."""
    _check_common(port, {"--accounts": accounts, "--contacts": contacts}, fault_rate, tls_cert, tls_key)
    if owners < 1:
        _fail(f"--owners must be at least 1, got {owners}")
    from crmhub.emulators import FaultConfig, HubSpotEmulator

    typer.echo(f"seeding the HubSpot emulator: {accounts} companies, {contacts} contacts, {owners} owners …")
    emulator = HubSpotEmulator(
        companies=accounts,
        contacts=contacts,
        owners=owners,
        seed=seed,
        fault=FaultConfig.uniform(fault_rate, seed=seed),
    )
    insecure = " -k" if tls_cert else ""

    def describe(url: str) -> list[str]:
        return [
            f"crmhub HubSpot emulator on {url} ({accounts} companies, {contacts} contacts, {owners} owners; "
            f"seed {seed})",
            f"  private app token  {emulator.private_app_token}",
            f"  client id          {emulator.client_id}",
            f"  client secret      {emulator.client_secret}",
            f"  auth code          {emulator.auth_code}",
            f"  refresh token      {emulator.default_refresh_token}",
            "Get an OAuth token (or use the private app token directly):",
            f"  curl{insecure} -s -X POST {url}/oauth/v1/token -d grant_type=refresh_token "
            f"-d client_id={emulator.client_id} -d client_secret={emulator.client_secret} "
            f"-d refresh_token={emulator.default_refresh_token}",
            "List companies:",
            f'  curl{insecure} -s -H "Authorization: Bearer {emulator.private_app_token}" '
            f'"{url}/crm/v3/objects/companies?limit=5&properties=name,domain,industry"',
            f"Control endpoints: {url}/__emulator/state",
            "Connect crmhub to it:",
            f"  crmhub connections add hs-emulator --kind hubspot --set base_url={url} "
            f"--secret access_token={emulator.private_app_token}"
            + (" --set verify_tls=false" if tls_cert else ""),
            "Press Ctrl-C to stop.",
        ]

    _serve(emulator.app, port, tls_cert, tls_key, describe)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
