"""Runs: history filtered by job, status, trigger and date; a run's page with live progress (the
API's Server-Sent Events stream), counts, timings, API usage, events and the error ledger."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from crmhub.api import queries
from crmhub.api.pagination import decode_cursor, encode_cursor
from crmhub.api.routers import runs as api_runs
from crmhub.core.errors import ValidationError
from crmhub.services.users import Permission
from crmhub.web._core import Viewer, WebRoute, ctx_of, redirect, render, viewer

router = APIRouter(route_class=WebRoute, include_in_schema=False)
Signed = Annotated[Viewer, Depends(viewer)]
READ = Permission.RUNS_READ.value
PAGE = 50
STATUSES = ("queued", "running", "succeeded", "succeeded_with_errors", "failed", "cancelled")
TRIGGERS = ("api", "schedule", "trigger", "saved", "rebuild", "cli")
#: At most this many runs are read to fill one page of a filter the store cannot apply (trigger).
SCAN_LIMIT = 5000


def _day(text: str, what: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"the {what} date {text[:20]!r} is not a date", hint="use YYYY-MM-DD") from None


@router.get("/runs")
def history(
    request: Request,
    me: Signed,
    job: str = "",
    status: str = "",
    trigger: str = "",
    since: str = "",
    until: str = "",
    cursor: str | None = None,
) -> Response:
    me.require(READ)
    ctx = ctx_of(request)
    if status and status not in STATUSES:
        raise ValidationError(
            f"unknown run status {status[:40]!r}", hint=f"use one of: {', '.join(STATUSES)}"
        )
    first, last = _day(since, "from"), _day(until, "to")
    job_id = queries.job_with_last_run(ctx.hub.db, job)[0].id if job else None
    before = decode_cursor(cursor, str)
    shown: list[Any] = []
    scanned = 0
    while len(shown) <= PAGE and scanned < SCAN_LIMIT:
        chunk = queries.runs_page(
            ctx.hub.db,
            job_id=job_id,
            status=status or None,
            since=datetime.combine(first, time(), UTC) if first else None,
            until=datetime.combine(last + timedelta(days=1), time(), UTC) if last else None,
            before=before,
            limit=PAGE + 1 if not trigger else 500,
        )
        if not chunk:
            break
        scanned += len(chunk)
        shown += [r for r in chunk if not trigger or r.trigger == trigger]
        before = chunk[-1].id
        if len(chunk) < (PAGE + 1 if not trigger else 500):
            break
    nxt = encode_cursor(shown[PAGE - 1].id) if len(shown) > PAGE else None
    rows = shown[:PAGE]
    names = queries.job_names(ctx.hub.db, {r.job_id for r in rows})
    return render(
        request,
        "runs.html",
        me,
        runs=rows,
        names=names,
        next_cursor=nxt,
        statuses=STATUSES,
        triggers=TRIGGERS,
    )


@router.get("/runs/{run_id}")
def run_page(
    request: Request,
    run_id: str,
    me: Signed,
    field: str = "",
    error_class: str = "",
    errors_cursor: str | None = None,
) -> Response:
    me.require(READ)
    ctx = ctx_of(request)
    run = api_runs.get_run(run_id[:26], ctx, me.principal)
    events = queries.events_page(ctx.hub.db, run.id, after=None, limit=200)
    after = decode_cursor(errors_cursor, int)
    ledger: list[Any] = []
    scanned = 0
    while len(ledger) <= PAGE and scanned < SCAN_LIMIT:
        chunk = queries.errors_page(ctx.hub.db, run.id, after=after, limit=500)
        if not chunk:
            break
        scanned += len(chunk)
        ledger += [
            e
            for e in chunk
            if (not field or (e.field or "") == field) and (not error_class or e.error_class == error_class)
        ]
        after = chunk[-1].id
        if len(chunk) < 500:
            break
    errors_next = encode_cursor(ledger[PAGE - 1].id) if len(ledger) > PAGE else None
    snapshot = queries.snapshot_of(ctx.hub.db, run.id)
    elapsed = None
    if run.started_at:
        end = run.finished_at or datetime.now(UTC)
        elapsed = (end - run.started_at).total_seconds()
    return render(
        request,
        "run.html",
        me,
        run=run,
        events=events,
        ledger=ledger[:PAGE],
        errors_next=errors_next,
        snapshot=snapshot,
        elapsed=elapsed,
        running=run.status in ("queued", "running"),
    )


@router.post("/runs/{run_id}/cancel")
def cancel(request: Request, run_id: str, me: Signed) -> Response:
    me.require(Permission.JOBS_RUN.value)
    run = api_runs.cancel_run(run_id[:26], ctx_of(request), me.principal)
    return redirect(f"/runs/{run.id}", notice="Cancel requested.")
