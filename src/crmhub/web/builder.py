"""The job builders: inbound (Totango's "Create integration", in its order) and outbound.

One server-rendered form holds the whole draft; each button posts it with an ``action`` and the
page comes back with that step's answer (the fields of the object, the preview rows, the automap
proposals, the validation problems next to their rows …). Every answer comes from the services the
REST API's builder routes use (``JobService.automap / validate / preview / create / update``); the
page's script only adds the live checks of expressions (``GET /build/check``) and the field search.

Enabling scheduling is offered only once the draft, exactly as it is on the page, has validated
(a hidden fingerprint of the validated draft); the service refuses an invalid job anyway.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError as PydanticValidationError

from crmhub.api import queries
from crmhub.core.errors import CrmHubError, ExpressionError, ValidationError
from crmhub.expr import FUNCTIONS, ValueType, check, parse
from crmhub.mapping.spec import CategoryName, ValueTypeName
from crmhub.services.jobs import Problem, errors_of
from crmhub.services.users import Permission
from crmhub.sync.spec import JobSpec
from crmhub.web._core import Viewer, WebRoute, ctx_of, form_lists, redirect, render, viewer

router = APIRouter(route_class=WebRoute, include_in_schema=False)
Signed = Annotated[Viewer, Depends(viewer)]
Lists = Annotated[dict[str, list[str]], Depends(form_lists)]
WRITE = Permission.JOBS_WRITE.value
NEW = "__new__"
#: The types offered for "add as new" (the issue's list), in its order.
NEW_TYPES: list[tuple[ValueTypeName, str]] = [
    ("text", "Text"),
    ("number", "Number"),
    ("currency", "Currency"),
    ("date", "Date"),
    ("foreign_key", "Foreign key"),
    ("multi_text", "Multi-value"),
]
SCHEDULES = ["none", "once", "every_minutes", "hourly", "daily", "workdays", "weekly", "monthly"]
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
#: At most this many related objects are described for the relationship dot paths (Owner.Name …).
MAX_RELATED = 8


@dataclass
class Row:
    """One mapping row as the form shows it."""

    kind: str = "source"  # source | expression | constant
    source: str = ""
    expression: str = ""
    constant: str = ""
    target: str = ""
    new_name: str = ""
    new_type: str = "text"
    fk_target: str = ""
    source_format: str = ""
    note: str = ""
    confidence: str = ""
    problems: list[str] = field(default_factory=list)


@dataclass
class Draft:
    """Everything the builder form holds."""

    direction: str
    original: str = ""
    connection: str = ""
    remote_object: str = ""
    parent_object: str = ""
    object_type: str = "account"
    fields: list[str] = field(default_factory=list)
    filter: str = ""
    rows: list[Row] = field(default_factory=list)
    match_field: str = ""
    parent_link: str = ""
    parent_field: str = ""
    name: str = ""
    description: str = ""
    create_records: bool = True
    update_records: bool = True
    most_recent_wins: bool = False
    delete_policy: str = "keep"
    write_back: list[str] = field(default_factory=list)
    stamp_hub_id_field: str = ""
    error_threshold_percent: str = "10"
    full_sync_every_hours: str = "24"
    schedule_kind: str = "none"
    minutes: str = "60"
    minute: str = "0"
    at_time: str = "06:00"
    at_datetime: str = ""
    days: list[str] = field(default_factory=list)
    day: str = "1"
    timezone: str = "UTC"
    sync_now: bool = False
    enabled: bool = False
    validated: str = ""


def _one(form: dict[str, list[str]], name: str, default: str = "") -> str:
    values = form.get(name)
    return values[-1].strip() if values else default


def draft_of(form: dict[str, list[str]], direction: str) -> Draft:
    d = Draft(direction=direction)
    for name in (
        "original", "connection", "remote_object", "parent_object", "parent_link", "parent_field",
        "object_type", "filter", "match_field",
        "name", "description", "delete_policy", "stamp_hub_id_field", "error_threshold_percent",
        "full_sync_every_hours", "schedule_kind", "minutes", "minute", "at_time", "at_datetime", "day",
        "timezone", "validated",
    ):  # fmt: skip
        setattr(d, name, _one(form, name, getattr(d, name)))
    d.fields = [f for f in form.get("fields", []) if f]
    d.write_back = [f for f in form.get("write_back", []) if f]
    d.days = [f for f in form.get("days", []) if f in WEEKDAYS]
    for flag in ("create_records", "update_records", "most_recent_wins", "sync_now", "enabled"):
        setattr(d, flag, _one(form, flag) == "on")
    count = min(int(_one(form, "row_count", "0") or 0), 500)
    for i in range(count):
        if _one(form, f"m{i}_remove") == "on":
            continue
        d.rows.append(
            Row(
                kind=_one(form, f"m{i}_kind", "source"),
                source=_one(form, f"m{i}_source"),
                expression=_one(form, f"m{i}_expression"),
                constant=_one(form, f"m{i}_constant"),
                target=_one(form, f"m{i}_target"),
                new_name=_one(form, f"m{i}_new_name"),
                new_type=_one(form, f"m{i}_new_type", "text"),
                fk_target=_one(form, f"m{i}_fk_target"),
                source_format=_one(form, f"m{i}_format"),
                note=_one(form, f"m{i}_note"),
                confidence=_one(form, f"m{i}_confidence"),
            )
        )
    return d


def _mapping_row(row: Row, direction: str) -> dict[str, Any]:
    target = row.new_name if row.target == NEW else row.target
    out: dict[str, Any] = {"target": target, "note": row.note}
    if row.kind == "expression":
        out["expression"] = row.expression
    elif row.kind == "constant":
        out["constant"] = row.constant
    else:
        out["source"] = row.source
    if row.source_format:
        out["source_format"] = row.source_format
    if row.target == NEW and direction == "inbound":
        category: CategoryName = "crm"
        out["new_attribute"] = {"type": row.new_type, "category": category}
        if row.new_type == "foreign_key":
            out["new_attribute"]["fk_target"] = row.fk_target or None
    return out


def _schedule(d: Draft) -> dict[str, Any] | None:
    zone = {"timezone": d.timezone or "UTC"}
    match d.schedule_kind:
        case "once":
            return {"kind": "once", "at": d.at_datetime, **zone}
        case "every_minutes":
            return {"kind": "every_minutes", "minutes": d.minutes, **zone}
        case "hourly":
            return {"kind": "hourly", "minute": d.minute, **zone}
        case "daily" | "workdays":
            return {"kind": d.schedule_kind, "at": d.at_time, **zone}
        case "weekly":
            return {"kind": "weekly", "days": d.days, "at": d.at_time, **zone}
        case "monthly":
            return {"kind": "monthly", "day": d.day, "at": d.at_time, **zone}
    return None


def spec_data(d: Draft) -> dict[str, Any]:
    """The draft as a job spec's data (what the API's builder routes take)."""
    hours = d.full_sync_every_hours
    data: dict[str, Any] = {
        "name": d.name or "draft",
        "description": d.description,
        "direction": d.direction,
        "connection": d.connection,
        "remote_object": d.remote_object,
        "object_type": d.object_type,
        "fields": d.fields if d.direction == "inbound" else [],
        "filter": d.filter or None,
        "mapping": [_mapping_row(r, d.direction) for r in d.rows],
        "settings": {
            "create_records": d.create_records,
            "update_records": d.update_records,
            "most_recent_wins": d.most_recent_wins,
            "delete_policy": d.delete_policy,
            "write_back": d.write_back,
            "stamp_hub_id_field": d.stamp_hub_id_field or None,
            "error_threshold_percent": d.error_threshold_percent or "10",
            "full_sync_every": timedelta(hours=float(hours)).total_seconds() if _number(hours) else None,
        },
        "schedule": _schedule(d),
    }
    if d.direction == "outbound":
        data["parent_object"] = d.parent_object or None
        data["match_field"] = d.match_field or None
        data["parent_link"] = d.parent_link or None
        data["parent_field"] = d.parent_field or None
    return data


def _number(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


def fingerprint(d: Draft) -> str:
    data = spec_data(d)
    for name in ("schedule", "name", "description"):  # what validation does not look at
        data.pop(name)
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def to_spec(d: Draft) -> JobSpec:
    """The draft as a JobSpec; ValidationError (with the fields named) when it does not fit."""
    try:
        return JobSpec.from_data(spec_data(d), origin="the builder's draft")
    except PydanticValidationError as exc:
        raise ValidationError(
            "the draft is not complete: "
            + "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]),
            hint="fill in the fields named, then try again",
        ) from None


def draft_from_spec(spec: JobSpec) -> Draft:
    d = Draft(direction=spec.direction, original=spec.name)
    d.connection, d.remote_object, d.object_type = spec.connection, spec.remote_object, spec.object_type
    d.parent_object, d.match_field = spec.parent_object or "", spec.match_field or ""
    d.parent_link, d.parent_field = spec.parent_link or "", spec.parent_field or ""
    d.fields, d.filter, d.name, d.description = (
        list(spec.fields),
        spec.filter or "",
        spec.name,
        spec.description,
    )
    s = spec.settings
    d.create_records, d.update_records, d.most_recent_wins = (
        s.create_records,
        s.update_records,
        s.most_recent_wins,
    )
    d.delete_policy, d.write_back = s.delete_policy, list(s.write_back)
    d.stamp_hub_id_field = s.stamp_hub_id_field or ""
    d.error_threshold_percent = f"{s.error_threshold_percent:g}"
    d.full_sync_every_hours = f"{s.full_sync_every.total_seconds() / 3600:g}" if s.full_sync_every else ""
    for r in spec.mapping:
        kind = (
            "expression" if r.expression is not None else "constant" if r.constant is not None else "source"
        )
        d.rows.append(
            Row(
                kind=kind,
                source=r.source or "",
                expression=r.expression or "",
                constant="" if r.constant is None else str(r.constant),
                target=r.target,
                new_type=r.new_attribute.type if r.new_attribute else "text",
                fk_target=(r.new_attribute.fk_target or "") if r.new_attribute else "",
                source_format=r.source_format or "",
                note=r.note,
            )
        )
    if spec.schedule is not None:
        sched = spec.schedule.model_dump(mode="json")
        d.schedule_kind, d.timezone = sched["kind"], sched.get("timezone", "UTC")
        d.minutes = str(sched.get("minutes", d.minutes))
        d.minute = str(sched.get("minute", d.minute))
        d.day = str(sched.get("day", d.day))
        d.days = list(sched.get("days", []))
        if sched["kind"] == "once":
            d.at_datetime = str(sched["at"])[:16]
        elif "at" in sched:
            d.at_time = str(sched["at"])[:5]
    return d


# What the page shows beside the draft -------------------------------------------------------------


@dataclass
class Catalog:
    """The choices of the page: connections, remote objects and fields, hub object types and attributes."""

    connections: list[Any] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (path, label, value type)
    attributes: list[tuple[str, str, bool]] = field(default_factory=list)  # (name, type, is key)
    object_types: list[str] = field(default_factory=list)
    id_field: str | None = None
    error: str | None = None


def catalog(request: Request, d: Draft) -> Catalog:
    ctx = ctx_of(request)
    c = Catalog(connections=ctx.connections.list()[:500])
    c.object_types = sorted(o.name for o in ctx.hub.object_types())
    try:
        c.attributes = [(a.name, a.type, a.is_key) for a in ctx.hub.object_type(d.object_type).attributes]
    except CrmHubError:
        c.attributes = []
    if not d.connection:
        return c
    try:
        connector = ctx.connections.open(d.connection)
    except CrmHubError as exc:
        c.error = str(exc)
        return c
    try:
        c.objects = sorted(o.name for o in connector.list_objects())
        if d.remote_object:
            described = connector.describe(d.remote_object)
            c.id_field = described.id_field
            c.fields = [(f.name, f.label or "", str(f.value_type)) for f in described.fields]
            if d.direction == "inbound":
                related = [f for f in described.fields if f.relationship_name and f.reference_to]
                for ref in related[:MAX_RELATED]:
                    try:
                        target = connector.describe(ref.reference_to[0])
                    except CrmHubError:
                        continue
                    c.fields += [
                        (
                            f"{ref.relationship_name}.{f.name}",
                            f"{ref.relationship_name} › {f.label or f.name}",
                            str(f.value_type),
                        )
                        for f in target.fields
                        if not f.relationship_name
                    ]
    except CrmHubError as exc:
        c.error = str(exc)
    finally:
        connector.close()
    return c


def default_fields(c: Catalog) -> list[str]:
    """Fields selected before the user picks: the id, names, and the common account and contact fields."""
    common = {"Name", "FirstName", "LastName", "Email", "Industry", "Website", "Phone", "NumberOfEmployees",
              "AnnualRevenue", "BillingCountry", "name", "domain", "email", "firstname", "lastname",
              "industry", "country", "SystemModstamp", "LastModifiedDate"}  # fmt: skip
    return [p for p, _, _ in c.fields if p == c.id_field or p in common]


def _types(c: Catalog) -> dict[str, ValueType]:
    out: dict[str, ValueType] = {}
    for path, _, kind in c.fields:
        try:
            out[path] = ValueType(kind)
        except ValueError:
            out[path] = ValueType.text
    return out


def _hub_types(request: Request, object_type: str) -> dict[str, ValueType]:
    try:
        types = ctx_of(request).hub.schema(object_type).types
    except CrmHubError:
        return {}
    out: dict[str, ValueType] = {}
    for name, kind in types.items():
        try:
            out[name] = ValueType(kind)
        except ValueError:
            out[name] = ValueType.text
    return out


def _show(
    request: Request,
    me: Viewer,
    d: Draft,
    *,
    status: int = 200,
    problems: list[Problem] | None = None,
    preview: list[Any] | None = None,
    message: str | None = None,
    error: str | None = None,
    c: Catalog | None = None,
) -> Response:
    c = c or catalog(request, d)
    job_problems = [p for p in problems or [] if p.row is None]
    for p in problems or []:
        if p.row is not None and 0 <= p.row < len(d.rows):
            d.rows[p.row].problems.append(f"{p.severity}: {p.message}")
    valid = d.validated == fingerprint(d) and bool(d.validated)
    return render(
        request,
        "builder.html",
        me,
        status=status,
        d=d,
        c=c,
        job_problems=job_problems,
        preview=preview,
        message=message,
        error=error,
        functions=sorted(FUNCTIONS.values(), key=lambda f: f.name),
        new_types=NEW_TYPES,
        schedules=SCHEDULES,
        weekdays=WEEKDAYS,
        valid=valid,
        fresh_hash=fingerprint(d),
        new=NEW,
        selected=set(d.fields),
    )


@router.get("/build/{direction}")
def builder_page(
    request: Request, direction: str, me: Signed, job: str = "", connection: str = ""
) -> Response:
    me.require(WRITE)
    direction = _direction(direction)
    if job:
        d = draft_from_spec(ctx_of(request).jobs.get(job)[1])
    else:
        d = Draft(direction=direction, connection=connection)
    return _show(request, me, d)


def _direction(text: str) -> str:
    if text not in ("inbound", "outbound"):
        raise ValidationError(
            f"there is no {text[:20]!r} job builder", hint="use /build/inbound or /build/outbound"
        )
    return text


@router.post("/build/{direction}")
def builder_post(request: Request, direction: str, me: Signed, form: Lists) -> Response:
    me.require(WRITE)
    direction = _direction(direction)
    d = draft_of(form, direction)
    action = _one(form, "action", "refresh")
    ctx = ctx_of(request)
    try:
        if action == "source":
            c = catalog(request, d)
            if direction == "inbound" and not d.fields:
                d.fields = default_fields(c)
            return _show(request, me, d, c=c)
        if action == "preview":
            spec = to_spec(d)
            if direction == "inbound":
                rows: list[Any] = ctx.jobs.preview(
                    spec.model_copy(update={"mapping": []}) if not d.rows else spec, limit=10
                )
            else:
                rows = ctx.jobs.preview_outbound(spec, limit=10)
            return _show(request, me, d, preview=rows)
        if action == "automap":
            proposals = ctx.jobs.automap(to_spec(d.__class__(**{**d.__dict__, "rows": []})))
            d.rows = [_row_of(p.row, f"{p.confidence:.0%}") for p in proposals]
            d.validated = ""
            return _show(request, me, d, message=f"{len(d.rows)} rows proposed, keys first.")
        if action.startswith("add_row"):
            reuse = _one(form, "reuse")
            d.rows.append(Row(source=reuse, target=NEW if direction == "inbound" else "", new_name=""))
            return _show(request, me, d)
        if action == "validate":
            problems = ctx.jobs.validate(to_spec(d))
            ok = not errors_of(problems)
            d.validated = fingerprint(d) if ok else ""
            return _show(
                request,
                me,
                d,
                problems=problems,
                message="The mapping validates: you may enable scheduling." if ok else None,
                error=None
                if ok
                else "The mapping does not validate yet: see the problems next to their rows.",
                status=200 if ok else 422,
            )
        if action == "save":
            return _save(request, me, d)
    except CrmHubError as exc:
        return _show(
            request, me, d, status=422, error=f"{exc.message}" + (f" — {exc.hint}" if exc.hint else "")
        )
    return _show(request, me, d)


def _row_of(row: Any, confidence: str) -> Row:
    kind = (
        "expression" if row.expression is not None else "constant" if row.constant is not None else "source"
    )
    return Row(
        kind=kind,
        source=row.source or "",
        expression=row.expression or "",
        constant="" if row.constant is None else str(row.constant),
        target=row.target if row.new_attribute is None else NEW,
        new_name=row.target if row.new_attribute is not None else "",
        new_type=row.new_attribute.type if row.new_attribute is not None else "text",
        source_format=row.source_format or "",
        note=row.note,
        confidence=confidence,
    )


def _save(request: Request, me: Viewer, d: Draft) -> Response:
    ctx = ctx_of(request)
    spec = to_spec(d)
    actor = me.principal.actor
    if d.enabled and d.validated != fingerprint(d):
        raise ValidationError(
            "scheduling can be enabled only once the mapping validates",
            hint="press Validate mapping, fix what it shows, then save",
        )
    if d.original:
        row = ctx.jobs.get(d.original)[0]
        ctx.jobs.update(row.name, spec, actor=actor)
        if d.enabled != row.enabled:
            ctx.jobs.set_enabled(spec.name, d.enabled, actor=actor)
        if d.sync_now:
            from crmhub.api.routers.jobs import submit_run

            run = submit_run(ctx, spec.name, trigger="saved", full=False, queue=True, actor=actor)
            return redirect(f"/runs/{run.id}")
        return redirect(f"/jobs/{spec.name}", notice=f"Job {spec.name} saved.")
    job = ctx.jobs.create(spec, enabled=d.enabled, actor=actor, sync_now=d.sync_now, executor=ctx.executor)
    if d.sync_now:
        runs = queries.runs_page(ctx.hub.db, job_id=job.id, limit=1)
        if runs:
            return redirect(f"/runs/{runs[0].id}")
    return redirect(f"/jobs/{job.name}", notice=f"Job {job.name} saved.")


@router.get("/build-check")
def check_expression(
    request: Request,
    me: Signed,
    expr: Annotated[str, Query(max_length=4000)] = "",
    kind: str = "filter",
    direction: str = "inbound",
    connection: str = "",
    remote_object: str = "",
    object_type: str = "account",
    fields: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """Parse and type-check an expression against the fields it may name: line and column of any error."""
    me.require(WRITE)
    if not expr.strip():
        return JSONResponse({"ok": True, "type": None})
    if direction == "outbound":
        types = _hub_types(request, object_type)
    else:
        d = Draft(
            direction="inbound", connection=connection, remote_object=remote_object, fields=fields or []
        )
        types = _types(catalog(request, d))
    try:
        result = check(parse(expr), types)
    except ExpressionError as exc:
        line, column = getattr(exc, "line", None), getattr(exc, "column", None)
        where = f"line {line}, column {column}: " if line else ""
        return JSONResponse({"ok": False, "message": where + exc.message, "line": line, "column": column})
    return JSONResponse({"ok": True, "type": result.value})
