"""Connections: list with a status summary and search; add (the form is generated from the kind's
settings and credentials models in the connector registry), edit, test, remote objects, describe.

Secret fields are password inputs that are never filled in: a stored secret is shown as "set" and
kept when its field is left empty. Every change goes through :class:`ConnectionService`.
"""

from __future__ import annotations

import typing
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from crmhub.api.pagination import slice_sorted
from crmhub.api.routers import connections as api_connections
from crmhub.connectors import registry
from crmhub.core.errors import CrmHubError, ValidationError
from crmhub.services.users import Permission
from crmhub.web._core import Viewer, WebRoute, ctx_of, form_of, redirect, render, viewer

router = APIRouter(route_class=WebRoute, include_in_schema=False)
Signed = Annotated[Viewer, Depends(viewer)]
Form = Annotated[dict[str, str], Depends(form_of)]
READ, WRITE = Permission.CONNECTIONS_READ.value, Permission.CONNECTIONS_WRITE.value
PAGE = 50


def form_fields(kind: str) -> dict[str, list[dict[str, Any]]]:
    """The kind's settings and credentials as form inputs: name, input type, choices, required, help."""
    spec = registry.get(kind)
    out: dict[str, list[dict[str, Any]]] = {}
    for group, model, secret in (
        ("settings", spec.settings_model, False),
        ("credentials", spec.credentials_model, True),
    ):
        described = {f["name"]: f for f in spec.fields()[group]}
        fields = []
        for name, info in model.model_fields.items():
            annotation = info.annotation
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            choices: list[str] = []
            if typing.get_origin(annotation) is typing.Literal:
                choices = [str(a) for a in typing.get_args(annotation)]
            input_type = "password" if secret else "text"
            if annotation is int or int in args:
                input_type = "number"
            if annotation is bool or bool in args:
                input_type = "checkbox"
            default = described[name]["default"]
            fields.append(
                {
                    "name": name,
                    "input": "select" if choices else input_type,
                    "choices": choices,
                    "required": described[name]["required"],
                    "secret": secret,
                    "help": described[name]["description"],
                    "default": "" if default is None or secret else str(default),
                }
            )
        out[group] = fields
    return out


def _values(
    form: dict[str, str], fields: list[dict[str, Any]], prefix: str, *, keep_empty: bool
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in fields:
        raw = form.get(f"{prefix}.{f['name']}", "")
        if f["input"] == "checkbox":
            values[f["name"]] = raw == "on"
        elif raw.strip():
            values[f["name"]] = raw.strip()
        elif keep_empty:
            continue
    return values


@router.get("/connections")
def connections_list(
    request: Request, me: Signed, q: str = "", status: str = "", cursor: str | None = None
) -> Response:
    me.require(READ)
    every = ctx_of(request).connections.list()
    summary = {s: sum(1 for c in every if c.status == s) for s in ("ok", "failing", "untested")}
    rows = [
        c
        for c in sorted(every, key=lambda c: c.name)
        if (not q or q.lower() in c.name.lower() or q.lower() in c.kind)
        and (not status or c.status == status)
    ]
    items, nxt = slice_sorted(request, rows, PAGE, cursor, key=lambda c: c.name)
    return render(
        request, "connections.html", me, rows=items, next_url=nxt, summary=summary, total=len(every)
    )


@router.get("/connections/new")
def new_connection(request: Request, me: Signed, kind: str = "") -> Response:
    me.require(WRITE)
    kinds = registry.available()
    fields = form_fields(kind) if kind else None
    return render(
        request,
        "connection_form.html",
        me,
        kinds=kinds,
        kind=kind,
        fields=fields,
        current=None,
        error=None,
        form={},
    )


@router.post("/connections/new")
def add_connection(request: Request, me: Signed, form: Form) -> Response:
    me.require(WRITE)
    kind = form.get("kind", "")
    fields = form_fields(kind)
    name = form.get("name", "").strip()
    try:
        view = ctx_of(request).connections.add(
            name,
            kind,
            _values(form, fields["settings"], "s", keep_empty=True),
            _values(form, fields["credentials"], "c", keep_empty=True),
            actor=me.principal.actor,
        )
    except CrmHubError as exc:
        shown = {k: v for k, v in form.items() if not k.startswith("c.")}  # secrets are never sent back
        return render(
            request,
            "connection_form.html",
            me,
            status=422,
            kinds=registry.available(),
            kind=kind,
            fields=fields,
            current=None,
            error=exc,
            form=shown,
        )
    return redirect(f"/connections/{view.name}", notice=f"Connection {view.name} added.")


@router.get("/connections/{name}")
def connection_page(request: Request, name: str, me: Signed) -> Response:
    me.require(READ)
    view = ctx_of(request).connections.get(name)
    return render(request, "connection.html", me, c=view, check=None)


@router.post("/connections/{name}/test")
def test_connection(request: Request, name: str, me: Signed) -> Response:
    me.require(WRITE)
    ctx = ctx_of(request)
    view = ctx.connections.get(name)
    check = ctx.connections.test(view.name)
    return render(request, "connection.html", me, c=ctx.connections.get(view.name), check=check)


@router.get("/connections/{name}/edit")
def edit_connection(request: Request, name: str, me: Signed) -> Response:
    me.require(WRITE)
    view = ctx_of(request).connections.get(name)
    form = {f"s.{k}": "" if v is None else str(v) for k, v in view.settings.items()}
    return render(
        request,
        "connection_form.html",
        me,
        kinds=registry.available(),
        kind=view.kind,
        fields=form_fields(view.kind),
        current=view,
        error=None,
        form=form,
    )


@router.post("/connections/{name}/edit")
def save_connection(request: Request, name: str, me: Signed, form: Form) -> Response:
    me.require(WRITE)
    ctx = ctx_of(request)
    view = ctx.connections.get(name)
    fields = form_fields(view.kind)
    settings = _values(form, fields["settings"], "s", keep_empty=False)
    removed = {
        f["name"]: None
        for f in fields["settings"]
        if f["name"] not in settings and f["name"] in view.settings
    }
    try:
        ctx.connections.update(
            view.name,
            settings={**removed, **settings},
            credentials=_values(form, fields["credentials"], "c", keep_empty=True) or None,
            actor=me.principal.actor,
            trusted=me.can(Permission.USERS_MANAGE.value),
        )
    except CrmHubError as exc:
        return render(
            request,
            "connection_form.html",
            me,
            status=422,
            kinds=registry.available(),
            kind=view.kind,
            fields=fields,
            current=view,
            error=exc,
            form={k: v for k, v in form.items() if not k.startswith("c.")},
        )
    return redirect(f"/connections/{view.name}", notice="Connection saved.")


@router.get("/connections/{name}/objects")
async def remote_objects(
    request: Request, name: str, me: Signed, q: str = "", cursor: str | None = None
) -> Response:
    me.require(READ)
    # The API's route (crm_bound: it runs in the pool of calls that wait on a CRM).
    page = await api_connections.list_objects(request, ctx_of(request), name, 500, cursor, me.principal)  # type: ignore[misc]
    items = [
        o for o in page.items if not q or q.lower() in o.name.lower() or q.lower() in (o.label or "").lower()
    ]
    return render(request, "objects.html", me, connection=name, objects=items, next_url=page.next)


@router.get("/connections/{name}/objects/{remote_object}")
async def describe(request: Request, name: str, remote_object: str, me: Signed) -> Response:
    me.require(READ)
    if len(remote_object) > 127:
        raise ValidationError("the object name is longer than 127 characters")
    described = await api_connections.describe_object(ctx_of(request), name, remote_object, me.principal)  # type: ignore[misc]
    return render(request, "describe.html", me, connection=name, d=described)
