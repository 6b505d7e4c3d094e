"""The hub: object types and their attributes (add one with a type and a category), records filtered
by an expression (paged by hub id), and a record with each attribute's lineage and its CRM links.

Reads and writes are the REST API's hub routes (``crmhub.api.routers.hub``), called with the
signed-in user's permissions checked first.
"""

from __future__ import annotations

from typing import Annotated, get_args

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError as PydanticValidationError

from crmhub.api import queries
from crmhub.api.deps import filter_bound
from crmhub.api.pagination import decode_cursor, encode_cursor
from crmhub.api.routers import hub as api_hub
from crmhub.api.schemas import AttributeCreate
from crmhub.core.errors import CrmHubError, ValidationError
from crmhub.mapping.spec import CategoryName, ValueTypeName
from crmhub.services.users import Permission
from crmhub.web._core import Viewer, WebRoute, ctx_of, form_of, redirect, render, viewer

router = APIRouter(route_class=WebRoute, include_in_schema=False)
Signed = Annotated[Viewer, Depends(viewer)]
Form = Annotated[dict[str, str], Depends(form_of)]
READ, WRITE = Permission.HUB_READ.value, Permission.HUB_WRITE.value
PAGE = 50
TYPES = list(get_args(ValueTypeName))
CATEGORIES = list(get_args(CategoryName))


@router.get("/hub")
def object_types(request: Request, me: Signed) -> Response:
    me.require(READ)
    types = sorted(ctx_of(request).hub.object_types(), key=lambda o: o.name)
    return render(request, "hub.html", me, types=[api_hub.object_type_public(o) for o in types[:500]])


@router.get("/hub/records/{hub_id}")
def record_page(request: Request, hub_id: str, me: Signed) -> Response:
    me.require(READ)
    record = api_hub.get_record(hub_id[:26], ctx_of(request), me.principal)
    return render(request, "record.html", me, r=record)


@router.get("/hub/{object_type}")
@filter_bound
def object_type_page(
    request: Request, object_type: str, me: Signed, filter: str = "", cursor: str | None = None
) -> Response:
    me.require(READ)
    ctx = ctx_of(request)
    ot = api_hub.object_type_public(ctx.hub.object_type(object_type[:63]))
    problem = None
    records: list[object] = []
    nxt = None
    try:
        rows = queries.records_page(
            ctx.hub, ot.name, filter=filter or None, after=decode_cursor(cursor, str), limit=PAGE + 1
        )
        records = list(rows[:PAGE])
        nxt = encode_cursor(rows[PAGE - 1].hub_id) if len(rows) > PAGE else None
    except CrmHubError as exc:
        problem = exc
    columns = [a.name for a in ot.attributes][:8]
    return render(
        request,
        "object_type.html",
        me,
        ot=ot,
        records=records,
        columns=columns,
        next_cursor=nxt,
        problem=problem,
        types=TYPES,
        categories=CATEGORIES,
        status=422 if problem else 200,
    )


@router.post("/hub/{object_type}/attributes")
def add_attribute(request: Request, object_type: str, me: Signed, form: Form) -> Response:
    me.require(WRITE)
    try:
        body = AttributeCreate(
            name=form.get("name", "").strip(),
            type=form.get("type", "text"),  # checked by the model
            category=form.get("category", "crm"),
            label=form.get("label") or None,
            description=form.get("description", ""),
        )
    except PydanticValidationError as exc:
        raise ValidationError(
            "the attribute is not valid: " + "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in exc.errors()),
            hint="correct the form and add it again",
        ) from None
    added = api_hub.create_attribute(object_type[:63], body, ctx_of(request), me.principal)
    return redirect(f"/hub/{object_type}", notice=f"Attribute {added.name} added.")
