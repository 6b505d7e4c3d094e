"""Jobs: the list (status, last run, next run, search and filters) and each job's page and menu.

The menu's actions call what the REST API's routes call (``crmhub.api.routers.jobs`` and
``trigger``, :mod:`crmhub.api.queries`, the services) with the permission the API asks for.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from crmhub.api import queries
from crmhub.api.pagination import decode_cursor, encode_cursor
from crmhub.api.routers.jobs import submit_run
from crmhub.api.routers.trigger import trigger_call
from crmhub.core.errors import ValidationError
from crmhub.services.users import Permission
from crmhub.web import charts
from crmhub.web._core import Viewer, WebRoute, ctx_of, form_of, redirect, render, viewer

router = APIRouter(route_class=WebRoute, include_in_schema=False)
Signed = Annotated[Viewer, Depends(viewer)]
Form = Annotated[dict[str, str], Depends(form_of)]
READ, WRITE, RUN = Permission.JOBS_READ.value, Permission.JOBS_WRITE.value, Permission.JOBS_RUN.value
PAGE = 50
#: A search reads at most this many jobs per page shown (in name order, in chunks).
SCAN_LIMIT = 5000
#: What the console's "Run now" records as the run's trigger.
CONSOLE_TRIGGER = "api"


def _matches(job: Any, last: Any, q: str, direction: str, state: str) -> bool:
    if q and q.lower() not in job.name.lower():
        return False
    if direction and job.direction != direction:
        return False
    if state == "enabled" and not job.enabled:
        return False
    if state == "disabled" and job.enabled:
        return False
    if state == "draft" and not job.problems:
        return False
    if state in ("failed", "succeeded", "succeeded_with_errors", "running", "queued"):
        return last is not None and last.status == state
    if state == "never" and last is not None:
        return False
    return True


def job_rows(
    request: Request, *, q: str, direction: str, state: str, cursor: str | None, limit: int = PAGE
) -> tuple[list[tuple[Any, Any]], str | None]:
    """One page of jobs in name order matching the filters, read in chunks (never the whole list)."""
    db = ctx_of(request).hub.db
    after: str | None = decode_cursor(cursor, str)
    shown: list[tuple[Any, Any]] = []
    scanned = 0
    filtering = bool(q or direction or state)
    while len(shown) <= limit and scanned < SCAN_LIMIT:
        chunk = queries.jobs_page(db, after=after, limit=(limit + 1) if not filtering else 500)
        if not chunk:
            break
        scanned += len(chunk)
        for job, last in chunk:
            if _matches(job, last, q, direction, state):
                shown.append((job, last))
                if len(shown) > limit:
                    break
        after = chunk[-1][0].name
        if len(chunk) < (limit + 1 if not filtering else 500):
            break
    if len(shown) > limit:
        return shown[:limit], encode_cursor(shown[limit - 1][0].name)
    if scanned >= SCAN_LIMIT and after is not None:
        return shown, encode_cursor(after)
    return shown, None


@router.get("/jobs")
def jobs_list(
    request: Request,
    me: Signed,
    q: str = "",
    direction: str = "",
    state: str = "",
    cursor: str | None = None,
) -> Response:
    me.require(READ)
    rows, nxt = job_rows(request, q=q[:100], direction=direction, state=state, cursor=cursor)
    names = queries.connection_names(ctx_of(request).hub.db, {j.connection_id for j, _ in rows})
    return render(request, "jobs.html", me, rows=rows, next_cursor=nxt, connection_names=names)


@router.get("/jobs/{job}")
def job_page(request: Request, job: str, me: Signed) -> Response:
    me.require(READ)
    ctx = ctx_of(request)
    row, spec = ctx.jobs.get(job)
    last = queries.job_with_last_run(ctx.hub.db, row.id)[1]
    recent = (
        queries.runs_page(ctx.hub.db, job_id=row.id, limit=30) if me.can(Permission.RUNS_READ.value) else []
    )
    bars = [
        charts.RunBar(
            r.created_at.strftime("%m-%d %H:%M"),
            sum(int((r.counts or {}).get(k, 0)) for k in ("created", "updated", "sent", "deleted")),
            int((r.counts or {}).get("failed", 0)),
            r.status,
        )
        for r in reversed(recent)
    ]
    connection = queries.connection_names(ctx.hub.db, {row.connection_id}).get(row.connection_id, "")
    return render(
        request,
        "job.html",
        me,
        job=row,
        spec=spec,
        last=last,
        recent=recent[:10],
        connection=connection,
        chart=charts.runs_chart(bars, title=f"Records moved and errors per run of {row.name}"),
        rate=charts.success_rate([r.status for r in recent]),
        yaml=spec.to_yaml(),
    )


@router.post("/jobs/{job}/run")
def run_now(request: Request, job: str, me: Signed, form: Form) -> Response:
    me.require(RUN)
    ctx = ctx_of(request)
    run = submit_run(
        ctx,
        job,
        trigger=CONSOLE_TRIGGER,
        full=form.get("full") == "1",
        queue=True,
        actor=me.principal.actor,
    )
    return redirect(f"/runs/{run.id}")


@router.post("/jobs/{job}/duplicate")
def duplicate(request: Request, job: str, me: Signed, form: Form) -> Response:
    me.require(WRITE)
    ctx = ctx_of(request)
    row = ctx.jobs.get(job)[0]
    new_name = form.get("name", "").strip() or f"{row.name}-copy"
    copy = ctx.jobs.duplicate(row.name, new_name, actor=me.principal.actor)
    return redirect(f"/jobs/{copy.name}", notice=f"Job {row.name} copied as {copy.name} (disabled).")


@router.post("/jobs/{job}/enable")
def enable(request: Request, job: str, me: Signed) -> Response:
    me.require(WRITE)
    ctx = ctx_of(request)
    name = ctx.jobs.get(job)[0].name
    ctx.jobs.set_enabled(name, True, actor=me.principal.actor)
    return redirect(f"/jobs/{name}", notice="Scheduling is on.")


@router.post("/jobs/{job}/disable")
def disable(request: Request, job: str, me: Signed) -> Response:
    me.require(WRITE)
    ctx = ctx_of(request)
    name = ctx.jobs.get(job)[0].name
    ctx.jobs.set_enabled(name, False, actor=me.principal.actor)
    return redirect(f"/jobs/{name}", notice="Scheduling is off.")


@router.post("/jobs/{job}/rebuild-mapping")
def rebuild(request: Request, job: str, me: Signed, form: Form) -> Response:
    me.require(WRITE)
    ctx = ctx_of(request)
    name = ctx.jobs.get(job)[0].name
    if form.get("confirm") != "yes":
        raise ValidationError(
            f"rebuilding the mapping of job {name!r} was not confirmed",
            hint="tick the box that confirms it forgets every link, then send again",
        )
    run = queries.rebuild_mapping(ctx.jobs, name, executor=ctx.executor, actor=me.principal.actor)
    return redirect(f"/runs/{run.id}")


@router.post("/jobs/{job}/delete")
def delete(request: Request, job: str, me: Signed, form: Form) -> Response:
    me.require(WRITE)
    ctx = ctx_of(request)
    name = ctx.jobs.get(job)[0].name
    if form.get("confirm_name", "").strip() != name:
        raise ValidationError(
            f"job {name!r} was not deleted: the name typed does not match",
            hint=f"type {name} exactly to confirm",
        )
    ctx.jobs.delete(name, actor=me.principal.actor)
    return redirect("/jobs", notice=f"Job {name} deleted.")


@router.get("/jobs/{job}/trigger")
def trigger_page(request: Request, job: str, me: Signed) -> Response:
    me.require(READ)
    ctx = ctx_of(request)
    row = ctx.jobs.get(job)[0]
    return render(
        request,
        "trigger.html",
        me,
        job=row,
        tokens=ctx.tokens.list_trigger(row.id),
        call=trigger_call(request, row.id),
        created=None,
    )


@router.post("/jobs/{job}/trigger")
def create_trigger(request: Request, job: str, me: Signed, form: Form) -> Response:
    me.require(WRITE)
    ctx = ctx_of(request)
    row = ctx.jobs.get(job)[0]
    issued = ctx.tokens.create_trigger(
        row.id, form.get("name", "").strip() or "console", actor=me.principal.actor
    )
    return render(
        request,
        "trigger.html",
        me,
        job=row,
        tokens=ctx.tokens.list_trigger(row.id),
        call=trigger_call(request, row.id, issued.text),
        created=issued.text,
    )


@router.get("/jobs/{job}/download")
def download_source(request: Request, job: str, me: Signed) -> Response:
    """The newest run's source file that is still kept."""
    me.require(Permission.RUNS_READ.value)
    ctx = ctx_of(request)
    row = ctx.jobs.get(job)[0]
    for run in queries.runs_page(ctx.hub.db, job_id=row.id, limit=20):
        if queries.snapshot_of(ctx.hub.db, run.id) is not None:
            return redirect(f"/api/v1/runs/{run.id}/snapshot")
    raise ValidationError(
        f"job {row.name!r} has no source file kept", hint="run the job; its source file is kept with the run"
    )
