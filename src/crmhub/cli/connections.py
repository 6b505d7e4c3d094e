"""``crmhub connections``: configure and inspect CRM connections."""

from __future__ import annotations

import typer
from rich.table import Table

from crmhub.cli._common import console, err_console, fail, open_hub, user_errors
from crmhub.connectors import registry
from crmhub.services.connections import ConnectionService

connections_app = typer.Typer(help="Connections to CRMs and file folders.", no_args_is_help=True)


def _pairs(items: list[str], what: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not name.strip():
            raise fail(f"{what} {item!r} is not name=value", code=2)
        out[name.strip()] = value if sep else None
    return out


@connections_app.command("kinds")
@user_errors
def kinds() -> None:
    """List the connector kinds and what each needs."""
    table = Table("kind", "label", "settings", "credentials (secret)")
    for spec in registry.available():
        fields = spec.fields()
        table.add_row(
            spec.kind,
            spec.label,
            ", ".join(f["name"] + ("" if not f["required"] else "*") for f in fields["settings"]),
            ", ".join(f["name"] for f in fields["credentials"]) or "—",
        )
    console.print(table)


@connections_app.command("add")
@user_errors
def add(
    name: str = typer.Argument(..., help="A name for the connection, e.g. sf-prod."),
    kind: str = typer.Option(..., "--kind", "-k", help="Connector kind (see `crmhub connections kinds`)."),
    settings: list[str] = typer.Option([], "--set", "-s", help="A setting as name=value (repeatable)."),
    secrets: list[str] = typer.Option(
        [], "--secret", help="A credential as name=value, or just name to be asked for it (repeatable)."
    ),
) -> None:
    """Add a connection; credentials are encrypted at rest and never shown again."""
    credentials = _pairs(secrets, "--secret")
    for key, value in list(credentials.items()):
        if value is None:
            credentials[key] = typer.prompt(f"{key}", hide_input=True)
    hub = open_hub()
    try:
        view = ConnectionService(hub).add(
            name,
            kind,
            {k: v for k, v in _pairs(settings, "--set").items() if v is not None},
            {k: v for k, v in credentials.items() if v is not None},
            actor="cli",
        )
    finally:
        hub.close()
    stored = ", ".join(view.credential_fields) or "none"
    console.print(f"added connection {view.name} ({view.kind}); credentials stored encrypted: {stored}")
    _warn(view.warnings)


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)


@connections_app.command("update")
@user_errors
def update(
    name: str = typer.Argument(...),
    settings: list[str] = typer.Option(
        [], "--set", "-s", help="A setting as name=value; name= (empty) removes it (repeatable)."
    ),
    secrets: list[str] = typer.Option(
        [], "--secret", help="A credential as name=value, or just name to be asked for it (repeatable)."
    ),
) -> None:
    """Change a connection's settings or credentials; what is not named stays as it is."""
    if not settings and not secrets:
        raise fail("nothing to change: give --set name=value or --secret name", code=2)
    credentials = _pairs(secrets, "--secret")
    for key, value in list(credentials.items()):
        if value is None:
            credentials[key] = typer.prompt(f"{key}", hide_input=True)
    changes: dict[str, str | None] = {k: (v or None) for k, v in _pairs(settings, "--set").items()}
    hub = open_hub()
    try:
        view = ConnectionService(hub).update(
            name, settings=changes, credentials=credentials or None, actor="cli"
        )
    finally:
        hub.close()
    shown = ", ".join(f"{k}={v}" for k, v in view.settings.items())
    console.print(f"updated connection {view.name} ({view.kind}): {shown}", soft_wrap=True)
    if credentials:
        console.print(f"credentials replaced (stored encrypted): {', '.join(sorted(credentials))}")
    _warn(view.warnings)


@connections_app.command("list")
@user_errors
def list_connections() -> None:
    """List connections (credential values are never shown)."""
    hub = open_hub()
    try:
        views = ConnectionService(hub).list()
    finally:
        hub.close()
    table = Table("name", "kind", "settings", "credentials", "status")
    for v in views:
        table.add_row(
            v.name,
            v.kind,
            ", ".join(f"{k}={val}" for k, val in v.settings.items()),
            ", ".join(v.credential_fields) or "—",
            f"{v.status} {v.status_message}".strip(),
        )
    console.print(table)


@connections_app.command("test")
@user_errors
def test(name: str = typer.Argument(...)) -> None:
    """Authenticate and make one call; say what is wrong if it fails."""
    hub = open_hub()
    try:
        service = ConnectionService(hub)
        check = service.test(name)
        warnings = service.get(name).warnings
    finally:
        hub.close()
    if not check.ok:
        raise fail(f"connection {name}: {check.message}")
    console.print(f"[green]ok[/] {check.message}")
    _warn(warnings)


@connections_app.command("objects")
@user_errors
def objects(name: str = typer.Argument(...)) -> None:
    """List the remote objects of a connection."""
    hub = open_hub()
    try:
        connector = ConnectionService(hub).open(name)
        try:
            infos = connector.list_objects()
        finally:
            connector.close()
    finally:
        hub.close()
    table = Table("object", "label", "creatable", "updatable")
    for info in infos:
        table.add_row(info.name, info.label, "yes" if info.creatable else "", "yes" if info.updatable else "")
    console.print(table)


@connections_app.command("describe")
@user_errors
def describe(
    name: str = typer.Argument(...), object_name: str = typer.Argument(..., metavar="OBJECT")
) -> None:
    """List the fields of a remote object (type, hub type, writable, picklist values, relationships)."""
    hub = open_hub()
    try:
        connector = ConnectionService(hub).open(name)
        try:
            description = connector.describe(object_name)
        finally:
            connector.close()
    finally:
        hub.close()
    table = Table("field", "label", "type", "hub type", "writable", "relationship / values")
    for f in description.fields:
        extra = f"{f.relationship_name} → {', '.join(f.reference_to)}" if f.relationship_name else ""
        if f.picklist_values:
            extra = ", ".join(f.picklist_values[:6]) + (" …" if len(f.picklist_values) > 6 else "")
        table.add_row(
            f.name, f.label, f.type, f.value_type, "yes" if f.creatable or f.updatable else "", extra
        )
    console.print(table)
    if description.modstamp_field:
        console.print(f"modstamp field: {description.modstamp_field}")


@connections_app.command("delete")
@user_errors
def delete(name: str = typer.Argument(...), yes: bool = typer.Option(False, "--yes", "-y")) -> None:
    """Delete a connection (its links go with it)."""
    if not yes and not typer.confirm(f"delete connection {name} and its links?"):
        raise typer.Exit(1)
    hub = open_hub()
    try:
        ConnectionService(hub).delete(name, actor="cli")
    finally:
        hub.close()
    console.print(f"deleted connection {name}")
