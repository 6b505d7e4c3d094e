"""Store rows → response bodies (the ``XPublic`` schemas). Secrets are masked on the way out."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response

from crmhub.api.schemas import JobPublic, JobSummary, Progress, RunPublic, RunSummary
from crmhub.core.errors import ValidationError
from crmhub.store.models import Job, Run
from crmhub.sync.spec import JobSpec, WebhookChannel

API = "/api/v1"
#: What a stored webhook secret looks like on the way out; sent back, it means "keep the stored one".
SECRET_MASK = "********"


def run_summary_data(run: Run | Any | None) -> dict[str, Any] | None:
    """A run (or a row with the same columns) as a :class:`RunSummary` document of plain values."""
    if run is None:
        return None
    return {
        "id": run.id,
        "status": run.status,
        "trigger": run.trigger,
        "mode": run.mode,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
    }


def run_summary(run: Run | Any | None) -> RunSummary | None:
    """A run (or a row with the same columns) as a summary."""
    data = run_summary_data(run)
    return None if data is None else RunSummary.model_validate(data)


def run_links(run_id: str) -> dict[str, str]:
    base = f"{API}/runs/{run_id}"
    return {
        "self": base,
        "events": f"{base}/events",
        "errors": f"{base}/errors",
        "errors_csv": f"{base}/errors.csv",
        "snapshot": f"{base}/snapshot",
        "progress": f"{base}/progress",
    }


def run_public(run: Run, job_name: str | None) -> RunPublic:
    total = run.progress_total
    return RunPublic(
        id=run.id,
        job_id=run.job_id,
        job_name=job_name,
        job_version=run.job_version,
        trigger=run.trigger,
        mode=run.mode,
        status=run.status,
        dry_run=run.dry_run,
        counts={k: int(v) for k, v in (run.counts or {}).items()},
        progress=Progress(
            done=run.progress_done,
            total=total,
            percent=round(100.0 * run.progress_done / total, 1) if total else None,
        ),
        usage=run.usage or {},
        message=run.message,
        cancel_requested=run.cancel_requested,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        links=run_links(run.id),
    )


def job_summary_data(job: Job | Any, last: Run | Any | None) -> dict[str, Any]:
    """A job (or a row with the same columns) with its last run, as a :class:`JobSummary` document
    of plain values: the jobs page sends these through :func:`json_response` without building a
    model per job (a test holds the two forms equal)."""
    return {
        "id": job.id,
        "name": job.name,
        "direction": job.direction,
        "connection_id": job.connection_id,
        "remote_object": job.remote_object,
        "object_type": job.object_type,
        "version": job.version,
        "enabled": job.enabled,
        "draft": bool(job.problems),
        "problems": list(job.problems or []),
        "schedule": job.schedule,
        "next_run_at": job.next_run_at,
        "updated_at": job.updated_at,
        "last_run": run_summary_data(last),
    }


def job_summary(job: Job | Any, last: Run | Any | None) -> JobSummary:
    """A job (or a row with the same columns) with its last run."""
    return JobSummary.model_validate(job_summary_data(job, last))


def json_response(data: Any) -> Response:
    """``data`` (plain values; datetimes aware or naive UTC) as a JSON response, as pydantic would
    write it, without a model: for the busiest listings."""
    return Response(
        orjson.dumps(data, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC), media_type="application/json"
    )


def masked(spec: JobSpec) -> JobSpec:
    """The spec with webhook secrets replaced by :data:`SECRET_MASK`."""
    if not any(isinstance(r.channel, WebhookChannel) and r.channel.secret for r in spec.notifications):
        return spec
    rules = []
    for rule in spec.notifications:
        if isinstance(rule.channel, WebhookChannel) and rule.channel.secret:
            rule = rule.model_copy(
                update={"channel": rule.channel.model_copy(update={"secret": SECRET_MASK})}
            )
        rules.append(rule)
    return spec.model_copy(update={"notifications": rules})


def unmasked(spec: JobSpec, stored: JobSpec | None) -> JobSpec:
    """Put stored secrets back where a client sent the mask (matched by webhook URL)."""
    if not any(
        isinstance(r.channel, WebhookChannel) and r.channel.secret == SECRET_MASK for r in spec.notifications
    ):
        return spec
    known: dict[str, str] = {}
    for rule in stored.notifications if stored else []:
        if isinstance(rule.channel, WebhookChannel) and rule.channel.secret:
            known.setdefault(rule.channel.url, rule.channel.secret)
    rules = []
    for rule in spec.notifications:
        channel = rule.channel
        if isinstance(channel, WebhookChannel) and channel.secret == SECRET_MASK:
            if channel.url not in known:
                raise ValidationError(
                    f"the webhook secret for {channel.url} is masked and no secret is stored for that URL",
                    hint="send the secret itself",
                )
            rule = rule.model_copy(
                update={"channel": channel.model_copy(update={"secret": known[channel.url]})}
            )
        rules.append(rule)
    return spec.model_copy(update={"notifications": rules})


def job_public(job: Job, last: Run | None, base_url: str) -> JobPublic:
    spec = masked(JobSpec.model_validate(job.spec))
    data: dict[str, Any] = job_summary(job, last).model_dump()
    return JobPublic(**data, spec=spec, trigger_url=f"{base_url}{API}/jobs/{job.id}/trigger")
