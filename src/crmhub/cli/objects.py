"""``crmhub objects`` and ``crmhub attributes``: the hub's object types and their attributes."""

from __future__ import annotations

import typer
from rich.table import Table

from crmhub.cli._common import console, fail, open_hub, user_errors
from crmhub.store.models import AttributeCategory, AttributeType
from crmhub.store.schema import AttributeSpec

objects_app = typer.Typer(help="Object types of the hub.", no_args_is_help=True)
attributes_app = typer.Typer(help="Attributes of an object type.", no_args_is_help=True)


@objects_app.command("list")
@user_errors
def list_objects() -> None:
    """List object types with their key and record counts."""
    hub = open_hub()
    try:
        table = Table("name", "label", "key", "attributes", "records")
        for ot in hub.object_types():
            key = next((a.name for a in ot.attributes if a.is_key), "—")
            table.add_row(ot.name, ot.label, key, str(len(ot.attributes)), str(hub.count_records(ot.name)))
        console.print(table)
    finally:
        hub.close()


@attributes_app.command("list")
@user_errors
def list_attributes(object_type: str = typer.Argument(..., help="Object type, e.g. account.")) -> None:
    """List the attributes of an object type."""
    hub = open_hub()
    try:
        ot = hub.object_type(object_type)
        table = Table("name", "label", "type", "category", "key", "description")
        for a in ot.attributes:
            type_ = f"{a.type} → {a.fk_target}" if a.fk_target else a.type
            key = ("yes (case-insensitive)" if a.case_insensitive else "yes") if a.is_key else ""
            table.add_row(a.name, a.label, type_, a.category, key, a.description)
        console.print(table)
    finally:
        hub.close()


@attributes_app.command("add")
@user_errors
def add_attribute(
    object_type: str = typer.Argument(..., help="Object type, e.g. account."),
    name: str = typer.Argument(..., help="Attribute name: lower-case letters, digits and _."),
    type_: str = typer.Option(
        "text", "--type", "-t", help="One of: " + ", ".join(t.value for t in AttributeType)
    ),
    category: str = typer.Option(
        "crm", "--category", "-c", help="One of: " + ", ".join(c.value for c in AttributeCategory)
    ),
    label: str | None = typer.Option(None, "--label", help="Display label (default from the name)."),
    target: str | None = typer.Option(None, "--target", help="For foreign keys: the target object type."),
    description: str = typer.Option("", "--description", help="What the attribute means."),
) -> None:
    """Add an attribute to an object type."""
    hub = open_hub()
    try:
        attribute = hub.add_attribute(
            object_type,
            AttributeSpec(
                name=name,
                type=type_,
                label=label,
                category=category,
                fk_target=target,
                description=description,
            ),
            actor="cli",
        )
    finally:
        hub.close()
    if attribute is None:  # pragma: no cover - add_attribute raises instead
        raise fail("attribute not created")
    console.print(f"added {object_type}.{attribute.name} ({attribute.type}, {attribute.category})")
