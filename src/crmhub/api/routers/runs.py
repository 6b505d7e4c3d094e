"""Runs: history filtered by job, status and time; events; the error ledger (JSON pages or CSV);
the source snapshot; live progress over Server-Sent Events; cancel."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path as FsPath
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import AwareDatetime

from crmhub.api import queries, views
from crmhub.api.deps import Ctx, Ref, allow
from crmhub.api.pagination import Cursor, Limit, Page, decode_cursor, page_of
from crmhub.api.schemas import PROGRESS_EVENT_SCHEMA, RunErrorPublic, RunEventPublic, RunPublic
from crmhub.api.sse import progress_events
from crmhub.core.errors import NotFoundError
from crmhub.services.users import Permission, Principal
from crmhub.store import runs as run_repo
from crmhub.store.models import Run

router = APIRouter(tags=["runs"])
READ = Permission.RUNS_READ
RunId = Annotated[str, Path(max_length=26, description="The run's id.")]
Status = Literal["queued", "running", "succeeded", "succeeded_with_errors", "failed", "cancelled"]
ERROR_COLUMNS = ("phase", "row", "remote_id", "hub_id", "field", "raw_value", "message", "error_class")


def _run(ctx: Ctx, run_id: str) -> Run:
    with ctx.hub.db.read() as session:
        return run_repo.get_run(session, run_id)


def _public(ctx: Ctx, run: Run) -> RunPublic:
    return views.run_public(run, queries.job_names(ctx.hub.db, {run.job_id}).get(run.job_id))


@router.get("/runs", summary="Run history, newest first; filter by job, status and time")
def list_runs(
    request: Request,
    ctx: Ctx,
    job: Annotated[Ref | None, Query(max_length=127, description="A job's id or name.")] = None,
    status: Status | None = None,
    since: Annotated[
        AwareDatetime | None,
        Query(description="Created at or after (ISO 8601 with a time zone: …Z or +02:00)."),
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="Created before (ISO 8601 with a time zone).")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    _: Principal = allow(READ),
) -> Page[RunPublic]:
    job_id = queries.job_with_last_run(ctx.hub.db, job)[0].id if job else None
    rows = queries.runs_page(
        ctx.hub.db,
        job_id=job_id,
        status=status,
        since=since,
        until=until,
        before=decode_cursor(cursor, str),
        limit=limit + 1,
    )
    items, nxt = page_of(request, rows, limit, key=lambda r: r.id)
    names = queries.job_names(ctx.hub.db, {r.job_id for r in items})
    return Page(items=[views.run_public(r, names.get(r.job_id)) for r in items], next=nxt)


@router.get("/runs/{run_id}", summary="A run: state, counts, progress, usage, links")
def get_run(run_id: RunId, ctx: Ctx, _: Principal = allow(READ)) -> RunPublic:
    return _public(ctx, _run(ctx, run_id))


@router.post(
    "/runs/{run_id}/cancel",
    summary="Cancel a run",
    description="A queued run is cancelled at once; a running one stops at its next batch boundary.",
)
def cancel_run(run_id: RunId, ctx: Ctx, principal: Principal = allow(Permission.JOBS_RUN)) -> RunPublic:
    before = _run(ctx, run_id).status
    ctx.jobs.cancel(run_id)
    if before in ("queued", "running"):
        queries.note_on_run(
            ctx.hub.db, run_id, "cancel_by", f"cancelled by {principal.actor}", actor=principal.actor
        )
    return _public(ctx, _run(ctx, run_id))


@router.get("/runs/{run_id}/events", summary="The run's history of events")
def run_events(
    run_id: RunId,
    request: Request,
    ctx: Ctx,
    limit: Limit = 100,
    cursor: Cursor = None,
    _: Principal = allow(READ),
) -> Page[RunEventPublic]:
    _run(ctx, run_id)
    rows = queries.events_page(ctx.hub.db, run_id, after=decode_cursor(cursor, int), limit=limit + 1)
    items, nxt = page_of(request, rows, limit, key=lambda e: e.id)
    return Page(items=[RunEventPublic.model_validate(e, from_attributes=True) for e in items], next=nxt)


@router.get("/runs/{run_id}/errors", summary="The run's error ledger: one row per bad record")
def run_errors(
    run_id: RunId,
    request: Request,
    ctx: Ctx,
    limit: Limit = 100,
    cursor: Cursor = None,
    _: Principal = allow(READ),
) -> Page[RunErrorPublic]:
    _run(ctx, run_id)
    rows = queries.errors_page(ctx.hub.db, run_id, after=decode_cursor(cursor, int), limit=limit + 1)
    items, nxt = page_of(request, rows, limit, key=lambda e: e.id)
    return Page(items=[RunErrorPublic.model_validate(e, from_attributes=True) for e in items], next=nxt)


def _csv_rows(ctx: Ctx, run_id: str) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(ERROR_COLUMNS)
    for n, row in enumerate(queries.iter_errors(ctx.hub.db, run_id), 1):
        writer.writerow(["" if getattr(row, c) is None else getattr(row, c) for c in ERROR_COLUMNS])
        if n % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@router.get(
    "/runs/{run_id}/errors.csv",
    summary="Download the whole error ledger as CSV",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def run_errors_csv(run_id: RunId, ctx: Ctx, _: Principal = allow(READ)) -> StreamingResponse:
    _run(ctx, run_id)
    return StreamingResponse(
        _csv_rows(ctx, run_id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="run-{run_id}-errors.csv"'},
    )


@router.get(
    "/runs/{run_id}/snapshot",
    summary="Download the run's source snapshot (gzip JSON lines, one per source record)",
    response_class=FileResponse,
    responses={200: {"content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}}}},
)
def run_snapshot(run_id: RunId, ctx: Ctx, _: Principal = allow(READ)) -> FileResponse:
    _run(ctx, run_id)
    artifact = queries.snapshot_of(ctx.hub.db, run_id)
    if artifact is None or not FsPath(artifact.path).is_file():
        raise NotFoundError(
            f"run {run_id} has no source snapshot",
            hint="snapshots are kept for the last runs of each job (the job's snapshot_retention)",
        )
    return FileResponse(
        artifact.path,
        media_type="application/gzip",
        filename=f"run-{run_id}-snapshot.jsonl.gz",
        headers={"X-Crmhub-Records": str(artifact.records)},
    )


@router.get(
    "/runs/{run_id}/progress",
    summary="Live progress as Server-Sent Events",
    description="`event: progress` with done/total/counts whenever they change, then `event: end` "
    "with the final state. Comments keep the connection alive.",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": PROGRESS_EVENT_SCHEMA}}}},
)
def run_progress(
    run_id: RunId,
    request: Request,
    ctx: Ctx,
    interval: Annotated[float, Query(ge=0.1, le=10, description="Seconds between checks.")] = 0.5,
    _: Principal = allow(READ),
) -> StreamingResponse:
    _run(ctx, run_id)
    return StreamingResponse(
        progress_events(request, ctx.hub.db, run_id, interval=interval),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
