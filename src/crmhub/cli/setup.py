"""``crmhub init`` and ``crmhub db upgrade``."""

from __future__ import annotations

import typer

from crmhub.cli._common import console, open_hub, user_errors
from crmhub.config import generate_secret_key
from crmhub.store import migrate

db_app = typer.Typer(help="The hub database: schema migrations.", no_args_is_help=True)


@user_errors
def init(
    print_key: bool = typer.Option(False, "--print-key", help="Only print a new secret key and exit."),
) -> None:
    """Create the data folder, its secret key and the hub database with the built-in object types."""
    if print_key:
        typer.echo(generate_secret_key())
        return
    hub = open_hub(ready=False)
    try:
        report = hub.init()
    finally:
        hub.close()
    console.print(f"data folder   {report.home}")
    console.print(f"database      {hub.db.engine.url.render_as_string(hide_password=True)}")
    if report.created_key:
        console.print(f"secret key    generated in {hub.settings.secret_key_path} (mode 0600) — back it up")
    created = ", ".join(report.created_types) or "none (already there)"
    console.print(f"object types  created: {created}")


@db_app.command("upgrade")
@user_errors
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the hub database's schema to the newest revision."""
    hub = open_hub(ready=False)
    try:
        before = migrate.current_revision(hub.db)
        migrate.upgrade(hub.db, revision)
        after = migrate.current_revision(hub.db)
    finally:
        hub.close()
    console.print(f"schema revision {before or 'empty'} → {after}")


@db_app.command("current")
@user_errors
def current() -> None:
    """Print the schema revision of the hub database."""
    hub = open_hub(ready=False)
    try:
        console.print(migrate.current_revision(hub.db) or "empty (run `crmhub init`)")
    finally:
        hub.close()
