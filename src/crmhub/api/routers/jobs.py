"""Jobs: build (automap, validate, preview), save with a schedule, run, duplicate, export / import YAML."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response

from crmhub.api import queries, views
from crmhub.api.deps import Ctx, Ref, allow, base_url, crm_bound
from crmhub.api.pagination import Cursor, Limit, Page, decode_cursor, page_of
from crmhub.api.schemas import (
    JobCreate,
    JobDraft,
    JobDuplicate,
    JobImport,
    JobPublic,
    JobSummary,
    JobUpdate,
    OutboundPreviewRowPublic,
    PreviewRowPublic,
    ProblemPublic,
    ProposalPublic,
    RunCreate,
    RunPublic,
    ValidationPublic,
)
from crmhub.core.errors import NotFoundError
from crmhub.services.jobs import PreviewRow, Problem, errors_of
from crmhub.services.users import Permission, Principal
from crmhub.store.models import Run
from crmhub.sync.spec import JobSpec

router = APIRouter(tags=["jobs"])
READ, WRITE, RUN = Permission.JOBS_READ, Permission.JOBS_WRITE, Permission.JOBS_RUN
JobRef = Annotated[Ref, Path(max_length=127, description="The job's id or name.")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Repeat a request with the same key to get the same run instead of a second one.",
    ),
]
YAML = "application/yaml"


class YamlResponse(Response):
    media_type = YAML


def _public(request: Request, ctx: Ctx, job: str | int) -> JobPublic:
    row, last = queries.job_with_last_run(ctx.hub.db, job)
    return views.job_public(row, last, base_url(request))


def _file_name(name: str) -> str:
    """The job's name as a safe download file name (its letters, digits, dots and dashes)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "job"


def _problems(problems: list[Problem]) -> ValidationPublic:
    return ValidationPublic(
        ok=not errors_of(problems),
        problems=[
            ProblemPublic(message=str(p), row=p.row, field=p.field, severity=p.severity) for p in problems
        ],
    )


def _preview(rows: list[PreviewRow]) -> list[PreviewRowPublic]:
    return [
        PreviewRowPublic(remote_id=r.remote_id, raw=r.raw, mapped=r.mapped, errors=r.errors) for r in rows
    ]


def _any_preview(
    ctx: Ctx, spec: JobSpec, limit: int
) -> list[PreviewRowPublic] | list[OutboundPreviewRowPublic]:
    """Inbound: source rows raw and mapped; outbound: hub records, their payloads, create or update and why."""
    if spec.direction == "inbound":
        return _preview(ctx.jobs.preview(spec, limit=limit))
    return [
        OutboundPreviewRowPublic(
            hub_id=r.hub_id,
            key=r.key,
            action=r.action,
            reason=r.reason,
            remote_id=r.remote_id,
            raw=r.raw,
            mapped=r.mapped,
            left_out=r.left_out,
            errors=r.errors,
        )
        for r in ctx.jobs.preview_outbound(spec, limit=limit)
    ]


def _stored_spec(ctx: Ctx, name: str) -> JobSpec | None:
    try:
        return ctx.jobs.get(name)[1]
    except NotFoundError:
        return None


def submit_run(
    ctx: Ctx,
    job: str | int,
    *,
    trigger: str,
    full: bool,
    dry_run: bool = False,
    queue: bool = False,
    key: str | None = None,
    actor: str | None = None,
) -> RunPublic:
    """Queue a run on the executor; with an idempotency key a repeated request returns the same run."""
    row, _ = queries.job_with_last_run(ctx.hub.db, job)
    scoped = f"{trigger}:{row.id}:{key}" if key else None
    if scoped is not None:
        existing = queries.run_by_idempotency_key(ctx.hub.db, row.id, scoped)
        if existing is not None:
            return views.run_public(existing, row.name)
    run: Run = ctx.jobs.submit(
        row.name,
        executor=ctx.executor,
        trigger=trigger,
        full=full,
        dry_run=dry_run,
        queue=queue,
        idempotency_key=scoped,
    )
    if actor is not None:
        queries.note_on_run(ctx.hub.db, run.id, "requested", f"requested by {actor}", actor=actor)
    return views.run_public(run, row.name)


# Listing and CRUD ---------------------------------------------------------------------------------


@router.get("/jobs", summary="List jobs with their last run", response_model=Page[JobSummary])
def list_jobs(
    request: Request, ctx: Ctx, limit: Limit = 50, cursor: Cursor = None, _: Principal = allow(READ)
) -> Response:
    rows = queries.jobs_page(ctx.hub.db, after=decode_cursor(cursor, str), limit=limit + 1)
    items, nxt = page_of(request, rows, limit, key=lambda r: r[0].name)
    # The API's busiest page: plain values straight to JSON (the same document Page[JobSummary] is).
    return views.json_response({"items": [views.job_summary_data(j, r) for j, r in items], "next": nxt})


@router.post(
    "/jobs",
    status_code=201,
    summary="Create a job",
    description="`schedule` sets its cadence; with `enabled` (scheduling on) the job must validate.",
)
@crm_bound
def create_job(body: JobCreate, request: Request, ctx: Ctx, principal: Principal = allow(WRITE)) -> JobPublic:
    spec = views.unmasked(body.spec(), None)
    job = ctx.jobs.create(
        spec, enabled=body.enabled, actor=principal.actor, sync_now=body.sync_now, executor=ctx.executor
    )
    return _public(request, ctx, job.id)


@router.post(
    "/jobs/import",
    summary="Import a job from YAML (a job of the same name gets a new version)",
    responses={201: {"model": JobPublic, "description": "Created"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                YAML: {"schema": {"type": "string"}},
                "application/json": {"schema": {"$ref": "#/components/schemas/JobImport"}},
            },
        }
    },
)
async def import_job(
    request: Request, response: Response, ctx: Ctx, principal: Principal = allow(WRITE)
) -> JobPublic:
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in (YAML, "application/x-yaml", "text/yaml", "text/plain"):
        text = raw.decode("utf-8", errors="replace")
    else:
        text = JobImport.model_validate_json(raw or b"{}").yaml

    def save() -> tuple[JobPublic, bool]:
        spec = JobSpec.from_yaml(text, origin="the uploaded job YAML")
        stored = _stored_spec(ctx, spec.name)
        job = ctx.jobs.save(views.unmasked(spec, stored), actor=principal.actor)
        return _public(request, ctx, job.id), stored is None

    saved: tuple[JobPublic, bool] = await crm_bound(save)()  # type: ignore[misc]  # crm_bound makes it async
    public, created = saved
    response.status_code = 201 if created else 200
    return public


@router.get("/jobs/{job}", summary="Get a job: spec, schedule, last run, trigger URL")
def get_job(job: JobRef, request: Request, ctx: Ctx, _: Principal = allow(READ)) -> JobPublic:
    return _public(request, ctx, job)


@router.patch(
    "/jobs/{job}",
    summary="Change a job: mapping, settings, filter, notifications, schedule …",
    description=(
        "Each field given replaces the stored one and saves a new version of the job; `settings` is "
        "merged key by key (only the settings named change). A version that does not validate is "
        "saved only on a disabled job, as a draft; on an enabled job nothing is saved (422)."
    ),
)
@crm_bound
def update_job(
    job: JobRef, body: JobUpdate, request: Request, ctx: Ctx, principal: Principal = allow(WRITE)
) -> JobPublic:
    row, stored = ctx.jobs.get(job)
    if body.model_fields_set:
        data: dict[str, Any] = stored.model_dump(mode="json")
        data.update(body.model_dump(mode="json", include=body.model_fields_set - {"settings"}))
        if "settings" in body.model_fields_set:
            # Settings merge: only the keys given change (null resets every setting to its default).
            given = body.settings
            data["settings"] = (
                {**data["settings"], **given.model_dump(mode="json", include=given.model_fields_set)}
                if given is not None
                else {}
            )
        spec = views.unmasked(JobSpec.from_data(data, origin=f"job {row.name!r}"), stored)
        ctx.jobs.update(row.name, spec, actor=principal.actor)
    return _public(request, ctx, row.id)


@router.delete("/jobs/{job}", status_code=204, summary="Delete a job permanently, with its runs and history")
def delete_job(job: JobRef, ctx: Ctx, principal: Principal = allow(WRITE)) -> Response:
    ctx.jobs.delete(ctx.jobs.get(job)[0].name, actor=principal.actor)
    return Response(status_code=204)


@router.post("/jobs/{job}/duplicate", status_code=201, summary="Copy a job under a new name (disabled)")
def duplicate_job(
    job: JobRef, body: JobDuplicate, request: Request, ctx: Ctx, principal: Principal = allow(WRITE)
) -> JobPublic:
    copy = ctx.jobs.duplicate(ctx.jobs.get(job)[0].name, body.name, actor=principal.actor)
    return _public(request, ctx, copy.id)


@router.post("/jobs/{job}/enable", summary="Turn scheduling on (the job must validate)")
@crm_bound
def enable_job(job: JobRef, request: Request, ctx: Ctx, principal: Principal = allow(WRITE)) -> JobPublic:
    ctx.jobs.set_enabled(ctx.jobs.get(job)[0].name, True, actor=principal.actor)
    return _public(request, ctx, job)


@router.post("/jobs/{job}/disable", summary="Turn scheduling off")
def disable_job(job: JobRef, request: Request, ctx: Ctx, principal: Principal = allow(WRITE)) -> JobPublic:
    ctx.jobs.set_enabled(ctx.jobs.get(job)[0].name, False, actor=principal.actor)
    return _public(request, ctx, job)


@router.get(
    "/jobs/{job}/export",
    summary="Export a job as YAML (jobs as code)",
    response_class=YamlResponse,
    responses={200: {"content": {YAML: {"schema": {"$ref": "#/components/schemas/JobSpec"}}}}},
)
def export_job(job: JobRef, ctx: Ctx, _: Principal = allow(READ)) -> YamlResponse:
    row, spec = ctx.jobs.get(job)
    return YamlResponse(
        views.masked(spec).to_yaml(),
        headers={"Content-Disposition": f'attachment; filename="{_file_name(row.name)}.yaml"'},
    )


# Building -----------------------------------------------------------------------------------------


@router.post("/jobs/automap", summary="Propose a mapping for a draft job (keys first, with confidence)")
@crm_bound
def automap_draft(body: JobDraft, ctx: Ctx, _: Principal = allow(WRITE)) -> list[ProposalPublic]:
    return [
        ProposalPublic(row=p.row, confidence=p.confidence, reason=p.reason) for p in ctx.jobs.automap(body)
    ]


@router.post("/jobs/validate", summary="Validate a draft job (keys, types, expressions, preview rows)")
@crm_bound
def validate_draft(body: JobDraft, ctx: Ctx, _: Principal = allow(WRITE)) -> ValidationPublic:
    return _problems(ctx.jobs.validate(body))


@router.post(
    "/jobs/preview",
    summary="The first rows of a draft job: source rows raw and mapped, or (outbound) hub records and payloads",
)
@crm_bound
def preview_draft(
    body: JobDraft,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    _: Principal = allow(WRITE),
) -> list[PreviewRowPublic] | list[OutboundPreviewRowPublic]:
    return _any_preview(ctx, body, limit)


@router.get("/jobs/{job}/automap", summary="Propose a mapping for a saved job")
@crm_bound
def automap_job(job: JobRef, ctx: Ctx, _: Principal = allow(READ)) -> list[ProposalPublic]:
    spec = ctx.jobs.get(job)[1]
    return [
        ProposalPublic(row=p.row, confidence=p.confidence, reason=p.reason) for p in ctx.jobs.automap(spec)
    ]


@router.get("/jobs/{job}/validate", summary="Validate a saved job")
@crm_bound
def validate_job(job: JobRef, ctx: Ctx, _: Principal = allow(READ)) -> ValidationPublic:
    return _problems(ctx.jobs.validate(ctx.jobs.get(job)[1]))


@router.get(
    "/jobs/{job}/preview",
    summary="The first rows of a saved job: source rows raw and mapped, or (outbound) hub records and payloads",
)
@crm_bound
def preview_job(
    job: JobRef,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    _: Principal = allow(READ),
) -> list[PreviewRowPublic] | list[OutboundPreviewRowPublic]:
    return _any_preview(ctx, ctx.jobs.get(job)[1], limit)


# Running ------------------------------------------------------------------------------------------


@router.post(
    "/jobs/{job}/runs",
    status_code=202,
    summary="Run the job now (or a full sync with `full`)",
    description="The run is queued on the executor; follow `links.progress` (Server-Sent Events).",
)
def run_job(
    job: JobRef,
    ctx: Ctx,
    body: RunCreate | None = None,
    idempotency_key: IdempotencyKey = None,
    principal: Principal = allow(RUN),
) -> RunPublic:
    options = body or RunCreate()
    return submit_run(
        ctx,
        job,
        trigger="api",
        full=options.full,
        dry_run=options.dry_run,
        queue=options.queue,
        key=idempotency_key,
        actor=principal.actor,
    )


@router.post(
    "/jobs/{job}/rebuild-mapping",
    status_code=202,
    summary="Forget the job's links and match every record again with a full sync",
)
def rebuild_mapping(job: JobRef, ctx: Ctx, principal: Principal = allow(WRITE)) -> RunPublic:
    run = queries.rebuild_mapping(ctx.jobs, job, executor=ctx.executor, actor=principal.actor)
    return views.run_public(run, ctx.jobs.get(job)[0].name)
