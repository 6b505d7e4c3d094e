"""``crmhub records``: look at hub records."""

from __future__ import annotations

import orjson
import typer
from rich.table import Table

from crmhub.cli._common import console, fail, open_hub, user_errors
from crmhub.expr.checker import did_you_mean
from crmhub.store.records import stamp_of

records_app = typer.Typer(help="Records in the hub.", no_args_is_help=True)


def _parse_where(items: list[str]) -> dict[str, str]:
    where: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise fail(f"--where {item!r} is not attribute=value", code=2)
        name, value = item.split("=", 1)
        where[name.strip()] = value
    return where


@records_app.command("list")
@user_errors
def list_records(
    object_type: str = typer.Argument(..., help="Object type, e.g. account."),
    where: list[str] = typer.Option([], "--where", "-w", help="attribute=value (repeatable; all must hold)."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=10_000),
    after: str | None = typer.Option(None, "--after", help="Page on: the last hub id of the previous page."),
    columns: str | None = typer.Option(None, "--columns", help="Comma-separated attributes to show."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
) -> None:
    """List records of an object type (hub id order)."""
    hub = open_hub()
    try:
        schema = hub.schema(object_type)
        records = hub.list_records(object_type, where=_parse_where(where), limit=limit, after=after)
    finally:
        hub.close()
    shown = [c.strip() for c in columns.split(",") if c.strip()] if columns else list(schema.types)[:6]
    unknown = [c for c in shown if c not in schema.types]
    if unknown:
        hints = "".join(did_you_mean(c, schema.types) for c in unknown[:1])
        raise fail(f"unknown attribute(s) {', '.join(unknown)} of {object_type}{hints}", code=2)
    if as_json:
        # --columns picks the keys here as well; without it every attribute is printed.
        for r in records:
            values = {c: r.values.get(c) for c in shown} if columns else r.values
            typer.echo(orjson.dumps({"hub_id": r.hub_id, **values}).decode())
        return
    table = Table("hub_id", *shown)
    table.columns[0].no_wrap = True  # a hub id is what `records show` takes: never cut it
    for r in records:
        table.add_row(r.hub_id, *(_cell(r.values.get(c)) for c in shown))
    console.print(table)
    if len(records) == limit:
        console.print(f"more: --after {records[-1].hub_id}")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


@records_app.command("show")
@user_errors
def show_record(hub_id: str = typer.Argument(..., help="The record's hub id.")) -> None:
    """Show one record with each attribute's lineage (source time, job, run)."""
    hub = open_hub()
    try:
        record = hub.get_record(hub_id)
        ot = next(o for o in hub.object_types() if o.id == record.object_type_id)
        links = hub.links_of(hub_id)
    finally:
        hub.close()
    console.print(
        f"[bold]{ot.name}[/] {record.hub_id}  created {record.created_at:%Y-%m-%d %H:%M:%S}Z  "
        f"updated {record.updated_at:%Y-%m-%d %H:%M:%S}Z"
    )
    table = Table("attribute", "value", "source time", "job", "run")
    for a in ot.attributes:
        if a.name not in record.values:
            continue
        stamp = stamp_of(record, a.name) or {}
        table.add_row(
            a.name,
            _cell(record.values[a.name]),
            stamp.get("source_time") or "",
            stamp.get("job") or "",
            stamp.get("run") or "",
        )
    console.print(table)
    if links:
        linked = Table("connection", "remote object", "remote id", "identified by", "linked at")
        for link, connection in links:
            linked.add_row(
                connection,
                link.remote_object,
                link.remote_id,
                link.matched_by or "",
                f"{link.created_at:%Y-%m-%d %H:%M:%S}Z",
            )
        console.print(linked)


@records_app.command("set-key")
@user_errors
def set_key(
    hub_id: str = typer.Argument(..., help="The record's hub id."),
    value: str = typer.Argument(..., help="Its new key value."),
) -> None:
    """Change a record's key (jobs never rewrite keys; this change is audited)."""
    hub = open_hub()
    try:
        before = hub.get_record(hub_id)
        schema_key = next(o for o in hub.object_types() if o.id == before.object_type_id)
        old = before.key
        record = hub.change_key(hub_id, value, actor="cli")
    finally:
        hub.close()
    console.print(f"{schema_key.name} {record.hub_id}: key {old!r} → {record.key!r}")
