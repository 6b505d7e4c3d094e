"""The root ``crmhub`` command; each command group lives in its own module."""

from __future__ import annotations

import typer

from crmhub import __version__
from crmhub.cli import connections, demo, emulate, jobs, objects, records, serve, setup, users, worker

app = typer.Typer(
    name="crmhub",
    help="crmhub: an open-source customer data hub for revenue teams.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("init")(setup.init)
app.command("demo")(demo.demo)
app.add_typer(setup.db_app, name="db")
app.add_typer(objects.objects_app, name="objects")
app.add_typer(objects.attributes_app, name="attributes")
app.add_typer(records.records_app, name="records")
app.add_typer(connections.connections_app, name="connections")
app.add_typer(jobs.jobs_app, name="jobs")
app.add_typer(jobs.runs_app, name="runs")
app.add_typer(emulate.app, name="emulate")
app.add_typer(users.users_app, name="users")
app.add_typer(users.tokens_app, name="tokens")
app.command("serve")(serve.serve)
app.command("worker")(worker.worker)
app.command("scheduler")(worker.scheduler)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"crmhub {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """crmhub: move account and contact data in from and out to CRMs."""


if __name__ == "__main__":  # pragma: no cover
    app()
