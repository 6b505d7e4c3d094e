"""The hub: object types, attributes (typed, with a category), records with filters and lineage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from crmhub.api import queries
from crmhub.api.deps import Ctx, allow, filter_bound
from crmhub.api.pagination import Cursor, Limit, Page, decode_cursor, page_of, slice_sorted
from crmhub.api.schemas import (
    AttributeCreate,
    AttributePublic,
    KeyChange,
    Lineage,
    LinkPublic,
    ObjectTypeCreate,
    ObjectTypePublic,
    RecordDetail,
    RecordPublic,
)
from crmhub.core.errors import ValidationError
from crmhub.services.users import Permission, Principal
from crmhub.store.models import Attribute, ObjectType, Record
from crmhub.store.records import stamp_of
from crmhub.store.schema import AttributeSpec

router = APIRouter(prefix="/hub", tags=["hub"])
READ, WRITE = Permission.HUB_READ, Permission.HUB_WRITE
TypeName = Annotated[str, Path(max_length=63, description="The object type's name, e.g. account.")]


def attribute_public(a: Attribute) -> AttributePublic:
    return AttributePublic(
        name=a.name,
        label=a.label,
        type=a.type,
        category=a.category,
        is_key=a.is_key,
        case_insensitive=a.case_insensitive,
        fk_target=a.fk_target,
        description=a.description,
        created_by_job=a.created_by_job,
    )


def object_type_public(ot: ObjectType) -> ObjectTypePublic:
    key = next((a.name for a in ot.attributes if a.is_key), None)
    return ObjectTypePublic(
        name=ot.name,
        label=ot.label,
        description=ot.description,
        builtin=ot.builtin,
        key=key,
        attributes=[attribute_public(a) for a in ot.attributes],
    )


def _spec(a: AttributeCreate, *, is_key: bool = False) -> AttributeSpec:
    return AttributeSpec(
        name=a.name,
        type=a.type,
        label=a.label,
        category=a.category,
        is_key=is_key,
        fk_target=a.fk_target,
        description=a.description,
    )


def record_public(record: Record, type_name: str) -> RecordPublic:
    return RecordPublic(
        hub_id=record.hub_id,
        object_type=type_name,
        key=record.key,
        values=record.values,
        created_at=record.created_at,
        updated_at=record.updated_at,
        deleted_at=record.deleted_at,
    )


@router.get("/object-types", summary="List object types with their attributes")
def list_object_types(
    request: Request, ctx: Ctx, limit: Limit = 50, cursor: Cursor = None, _: Principal = allow(READ)
) -> Page[ObjectTypePublic]:
    rows = sorted(ctx.hub.object_types(), key=lambda o: o.name)
    items, nxt = slice_sorted(request, rows, limit, cursor, key=lambda o: o.name)
    return Page(items=[object_type_public(o) for o in items], next=nxt)


@router.post("/object-types", status_code=201, summary="Define an object type with its attributes")
def create_object_type(
    body: ObjectTypeCreate, ctx: Ctx, principal: Principal = allow(WRITE)
) -> ObjectTypePublic:
    names = [a.name for a in body.attributes]
    if body.key is not None and body.key not in names:
        raise ValidationError(f"the key {body.key!r} is not one of the attributes given")
    ctx.hub.define_object_type(
        body.name,
        label=body.label,
        description=body.description,
        attributes=[_spec(a, is_key=a.name == body.key) for a in body.attributes],
        actor=principal.actor,
    )
    return object_type_public(ctx.hub.object_type(body.name))


@router.get("/object-types/{object_type}", summary="Get an object type")
def get_object_type(object_type: TypeName, ctx: Ctx, _: Principal = allow(READ)) -> ObjectTypePublic:
    return object_type_public(ctx.hub.object_type(object_type))


@router.get("/object-types/{object_type}/attributes", summary="List an object type's attributes")
def list_attributes(
    object_type: TypeName,
    request: Request,
    ctx: Ctx,
    limit: Limit = 100,
    cursor: Cursor = None,
    _: Principal = allow(READ),
) -> Page[AttributePublic]:
    rows = sorted(ctx.hub.object_type(object_type).attributes, key=lambda a: a.name)
    items, nxt = slice_sorted(request, rows, limit, cursor, key=lambda a: a.name)
    return Page(items=[attribute_public(a) for a in items], next=nxt)


@router.post(
    "/object-types/{object_type}/attributes", status_code=201, summary="Add an attribute (type and category)"
)
def create_attribute(
    object_type: TypeName, body: AttributeCreate, ctx: Ctx, principal: Principal = allow(WRITE)
) -> AttributePublic:
    return attribute_public(ctx.hub.add_attribute(object_type, _spec(body), actor=principal.actor))


@router.get(
    "/object-types/{object_type}/records",
    summary="List records, filtered by an expression",
    description='`filter` is a crmhub expression over the attributes, e.g. `industry = "Banking" AND '
    "employees > 100`; records come in hub id order.",
)
@filter_bound
def list_records(
    object_type: TypeName,
    request: Request,
    ctx: Ctx,
    filter: Annotated[str | None, Query(max_length=4000, description="An expression.")] = None,
    include_deleted: bool = False,
    limit: Limit = 50,
    cursor: Cursor = None,
    _: Principal = allow(READ),
) -> Page[RecordPublic]:
    rows = queries.records_page(
        ctx.hub,
        object_type,
        filter=filter,
        after=decode_cursor(cursor, str),
        limit=limit + 1,
        include_deleted=include_deleted,
    )
    items, nxt = page_of(request, rows, limit, key=lambda r: r.hub_id)
    return Page(items=[record_public(r, object_type) for r in items], next=nxt)


@router.get("/records/{hub_id}", summary="A record with the lineage of every attribute and its links")
def get_record(
    hub_id: Annotated[str, Path(max_length=26)], ctx: Ctx, _: Principal = allow(READ)
) -> RecordDetail:
    record, type_name, links = queries.record_detail(ctx.hub, hub_id)
    connection_names = queries.connection_names(ctx.hub.db, {link.connection_id for link in links})
    stamps = {attribute: stamp_of(record, attribute) for attribute in record.values}
    job_ids = {int(s["job"]) for s in stamps.values() if s and str(s.get("job") or "").isdigit()}
    names = queries.job_names(ctx.hub.db, job_ids)
    lineage = {
        attribute: Lineage(
            source_time=s["source_time"],
            job=None if s["job"] is None else str(s["job"]),
            job_name=names.get(int(s["job"])) if str(s["job"] or "").isdigit() else None,
            run=s["run"],
        )
        if s
        else None
        for attribute, s in stamps.items()
    }
    return RecordDetail(
        **record_public(record, type_name).model_dump(),
        lineage=lineage,
        links=[
            LinkPublic(
                connection_id=link.connection_id,
                connection=connection_names.get(link.connection_id),
                remote_object=link.remote_object,
                remote_id=link.remote_id,
                matched_by=link.matched_by,
                last_received_at=link.last_received_at,
                last_sent_at=link.last_sent_at,
            )
            for link in links
        ],
    )


@router.post(
    "/records/{hub_id}/key",
    summary="Change a record's key (jobs never do; this is the explicit, audited way)",
)
def change_key(
    hub_id: Annotated[str, Path(max_length=26)],
    body: KeyChange,
    ctx: Ctx,
    principal: Principal = allow(WRITE),
) -> RecordPublic:
    record = ctx.hub.change_key(hub_id, body.value, actor=principal.actor)
    _, type_name, _ = queries.record_detail(ctx.hub, hub_id)
    return record_public(record, type_name)
