"""The trigger API: a company's own data process starts a job with a job-scoped trigger token.

``POST /api/v1/jobs/{job}/trigger`` with ``Authorization: Bearer <trigger token>`` queues a run and
answers 202 with the run id and a URL to poll with the same token. Admins and advanced users
create the tokens (shown once) and see the exact call to make.
"""

from __future__ import annotations

import shlex
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from crmhub.api import queries
from crmhub.api.deps import Ctx, TokenId, allow, base_url, trigger_auth
from crmhub.api.routers.jobs import IdempotencyKey, JobRef, submit_run
from crmhub.api.routers.tokens import token_created, token_public
from crmhub.api.schemas import (
    TokenCreate,
    TriggerCall,
    TriggerCreate,
    TriggeredRunPublic,
    TriggerInfoPublic,
    TriggerRunStatus,
    TriggerTokenCreated,
)
from crmhub.core.errors import NotFoundError
from crmhub.services.users import Permission, Principal
from crmhub.store import runs as run_repo
from crmhub.store.models import ApiToken
from crmhub.store.runs import FINAL_STATUSES

router = APIRouter(tags=["trigger"])
TOKEN_PLACEHOLDER = "$CRMHUB_TRIGGER_TOKEN"


def trigger_call(request: Request, job_id: int, token: str = TOKEN_PLACEHOLDER) -> TriggerCall:
    url = f"{base_url(request)}/api/v1/jobs/{job_id}/trigger"
    auth = f"Bearer {token}"
    header = (
        shlex.quote(f"Authorization: {auth}") if token != TOKEN_PLACEHOLDER else f'"Authorization: {auth}"'
    )
    return TriggerCall(
        url=url,
        headers={"Authorization": auth},
        curl=f"curl -fsS -X POST -H {header} {shlex.quote(url)}",
        poll=f"{url}/runs/{{run_id}}",
    )


@router.post(
    "/jobs/{job}/trigger",
    status_code=202,
    summary="Start the job (trigger token only)",
    description="Answers with the run id and a URL to poll with the same token. A run in progress "
    "makes this one wait its turn (or answer 409 with `queue: false`); send an Idempotency-Key to "
    "make retries safe.",
)
def trigger(
    job: JobRef,
    request: Request,
    ctx: Ctx,
    token: Annotated[ApiToken, Depends(trigger_auth)],
    body: TriggerCreate | None = None,
    idempotency_key: IdempotencyKey = None,
) -> TriggeredRunPublic:
    options = body or TriggerCreate()
    run = submit_run(
        ctx,
        token.job_id or job,
        trigger="trigger",
        full=options.full,
        queue=options.queue,
        key=idempotency_key,
        actor=f"trigger token {token.name!r} ({token.prefix})",
    )
    poll = f"{base_url(request)}/api/v1/jobs/{run.job_id}/trigger/runs/{run.id}"
    return TriggeredRunPublic(run_id=run.id, status=run.status, poll_url=poll)


@router.get(
    "/jobs/{job}/trigger/runs/{run_id}", summary="Poll a run the trigger started (trigger token only)"
)
def trigger_status(
    job: JobRef,
    run_id: Annotated[str, Path(max_length=26)],
    ctx: Ctx,
    token: Annotated[ApiToken, Depends(trigger_auth)],
) -> TriggerRunStatus:
    with ctx.hub.db.read() as session:
        run = run_repo.get_run(session, run_id)
    if run.job_id != token.job_id:
        raise NotFoundError(f"run {run_id!r} is not a run of this job")
    return TriggerRunStatus(
        run_id=run.id,
        status=run.status,
        finished=run.status in FINAL_STATUSES,
        counts={k: int(v) for k, v in (run.counts or {}).items()},
        message=run.message,
        created_at=run.created_at,
        finished_at=run.finished_at,
    )


@router.get("/jobs/{job}/trigger-tokens", summary="The job's trigger tokens and the exact call to make")
def trigger_info(
    job: JobRef, request: Request, ctx: Ctx, _: Principal = allow(Permission.JOBS_READ)
) -> TriggerInfoPublic:
    row, _last = queries.job_with_last_run(ctx.hub.db, job)
    tokens = ctx.tokens.list_trigger(row.id)
    return TriggerInfoPublic(tokens=[token_public(t) for t in tokens], call=trigger_call(request, row.id))


@router.post(
    "/jobs/{job}/trigger-tokens",
    status_code=201,
    summary="Create a trigger token for the job (shown once, with the exact call)",
)
def create_trigger_token(
    job: JobRef,
    body: TokenCreate,
    request: Request,
    ctx: Ctx,
    principal: Principal = allow(Permission.JOBS_WRITE),
) -> TriggerTokenCreated:
    row, _last = queries.job_with_last_run(ctx.hub.db, job)
    issued = ctx.tokens.create_trigger(row.id, body.name, actor=principal.actor)
    return TriggerTokenCreated(
        **token_created(issued).model_dump(), call=trigger_call(request, row.id, issued.text)
    )


@router.delete("/jobs/{job}/trigger-tokens/{token_id}", status_code=204, summary="Revoke a trigger token")
def revoke_trigger_token(
    job: JobRef, token_id: TokenId, ctx: Ctx, principal: Principal = allow(Permission.JOBS_WRITE)
) -> Response:
    row, _last = queries.job_with_last_run(ctx.hub.db, job)
    ctx.tokens.revoke(token_id, kind="trigger", job_id=row.id, actor=principal.actor)
    return Response(status_code=204)
