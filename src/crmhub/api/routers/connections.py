"""Connections: create (credentials write-only), list, get, update, test, delete, objects, describe."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from crmhub.api import queries
from crmhub.api.deps import Ctx, Ref, allow, crm_bound
from crmhub.api.pagination import Cursor, Limit, Page, slice_sorted
from crmhub.api.schemas import (
    ConnectionCheckPublic,
    ConnectionCreate,
    ConnectionPublic,
    ConnectionUpdate,
    ConnectorFieldPublic,
    ConnectorKindPublic,
    ObjectDescriptionPublic,
    RemoteFieldPublic,
    RemoteObjectPublic,
)
from crmhub.connectors import registry
from crmhub.connectors.base import ObjectInfo
from crmhub.core.errors import ValidationError
from crmhub.services.connections import ConnectionView
from crmhub.services.users import Permission, Principal

router = APIRouter(tags=["connections"])
READ, WRITE = Permission.CONNECTIONS_READ, Permission.CONNECTIONS_WRITE
ConnectionRef = Annotated[Ref, Path(max_length=127, description="The connection's name or id.")]


def connection_public(view: ConnectionView) -> ConnectionPublic:
    return ConnectionPublic(
        id=view.id,
        name=view.name,
        kind=view.kind,
        settings=view.settings,
        credential_fields=view.credential_fields,
        status=view.status,
        status_message=view.status_message,
        warnings=view.warnings,
    )


def _object(info: ObjectInfo) -> RemoteObjectPublic:
    return RemoteObjectPublic(
        name=info.name,
        label=info.label,
        creatable=info.creatable,
        updatable=info.updatable,
        queryable=info.queryable,
    )


@router.get("/connection-kinds", summary="The connector kinds and what each needs")
def kinds(_: Principal = allow(READ)) -> list[ConnectorKindPublic]:
    out = []
    for spec in registry.available():
        fields = spec.fields()
        out.append(
            ConnectorKindPublic(
                kind=spec.kind,
                label=spec.label,
                description=spec.description,
                settings=[ConnectorFieldPublic(**f) for f in fields["settings"]],
                credentials=[ConnectorFieldPublic(**{**f, "default": None}) for f in fields["credentials"]],
            )
        )
    return out


@router.get("/connections", summary="List connections (credential values are never shown)")
def list_connections(
    request: Request, ctx: Ctx, limit: Limit = 50, cursor: Cursor = None, _: Principal = allow(READ)
) -> Page[ConnectionPublic]:
    items, nxt = slice_sorted(request, ctx.connections.list(), limit, cursor, key=lambda c: c.name)
    return Page(items=[connection_public(v) for v in items], next=nxt)


@router.post(
    "/connections",
    status_code=201,
    summary="Create a connection",
    description="Credentials are encrypted at rest and never returned; responses list which are set.",
)
@crm_bound
def create_connection(
    body: ConnectionCreate, ctx: Ctx, principal: Principal = allow(WRITE)
) -> ConnectionPublic:
    view = ctx.connections.add(body.name, body.kind, body.settings, body.credentials, actor=principal.actor)
    return connection_public(view)


@router.get("/connections/{connection}", summary="Get a connection")
def get_connection(ctx: Ctx, connection: ConnectionRef, _: Principal = allow(READ)) -> ConnectionPublic:
    return connection_public(ctx.connections.get(connection))


@router.patch(
    "/connections/{connection}",
    summary="Change a connection's settings or credentials",
    description="Both are merged into what is stored; a null value removes an entry.",
)
@crm_bound
def update_connection(
    body: ConnectionUpdate, ctx: Ctx, connection: ConnectionRef, principal: Principal = allow(WRITE)
) -> ConnectionPublic:
    view = ctx.connections.update(
        connection,
        settings=body.settings,
        credentials=body.credentials,
        actor=principal.actor,
        trusted=principal.has(Permission.USERS_MANAGE.value),  # an admin may move stored secrets
    )
    return connection_public(view)


@router.delete("/connections/{connection}", status_code=204, summary="Delete a connection and its links")
def delete_connection(ctx: Ctx, connection: ConnectionRef, principal: Principal = allow(WRITE)) -> Response:
    users = queries.jobs_using_connection(ctx.hub.db, connection)
    if users:
        raise ValidationError(
            f"connection {connection!r} is used by job(s) {', '.join(sorted(users))}",
            hint="delete those jobs or move them to another connection first",
        )
    ctx.connections.delete(ctx.connections.get(connection).name, actor=principal.actor)
    return Response(status_code=204)


@router.post("/connections/{connection}/test", summary="Authenticate and make one call to the CRM")
@crm_bound
def test_connection(
    ctx: Ctx, connection: ConnectionRef, _: Principal = allow(WRITE)
) -> ConnectionCheckPublic:
    view = ctx.connections.get(connection)
    check = ctx.connections.test(view.name)
    return ConnectionCheckPublic(
        ok=check.ok, message=check.message, details=dict(check.details), warnings=view.warnings
    )


@router.get("/connections/{connection}/objects", summary="The remote objects of a connection")
@crm_bound
def list_objects(
    request: Request,
    ctx: Ctx,
    connection: ConnectionRef,
    limit: Limit = 200,
    cursor: Cursor = None,
    _: Principal = allow(READ),
) -> Page[RemoteObjectPublic]:
    connector = ctx.connections.open(connection)
    try:
        infos = sorted(connector.list_objects(), key=lambda o: o.name)
    finally:
        connector.close()
    items, nxt = slice_sorted(request, infos, limit, cursor, key=lambda o: o.name)
    return Page(items=[_object(o) for o in items], next=nxt)


@router.get(
    "/connections/{connection}/objects/{remote_object}",
    summary="Describe a remote object: its fields, types and relationships",
)
@crm_bound
def describe_object(
    ctx: Ctx,
    connection: ConnectionRef,
    remote_object: str = Path(max_length=127),
    _: Principal = allow(READ),
) -> ObjectDescriptionPublic:
    connector = ctx.connections.open(connection)
    try:
        description = connector.describe(remote_object)
    finally:
        connector.close()
    return ObjectDescriptionPublic(
        object=_object(description.object),
        fields=[
            RemoteFieldPublic(
                name=f.name,
                label=f.label,
                type=f.type,
                value_type=f.value_type,
                creatable=f.creatable,
                updatable=f.updatable,
                external_id=f.external_id,
                nillable=f.nillable,
                picklist_values=list(f.picklist_values),
                reference_to=list(f.reference_to),
                relationship_name=f.relationship_name,
                length=f.length,
            )
            for f in description.fields
        ],
        modstamp_field=description.modstamp_field,
        id_field=description.id_field,
    )
