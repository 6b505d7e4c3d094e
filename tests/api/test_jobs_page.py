"""The jobs page (the API's busiest route) is written without a model per job: its document is the
one ``Page[JobSummary]`` describes, value for value, with each job's newest run."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import TypeAdapter
from sqlalchemy import update

from crmhub.api.pagination import Page
from crmhub.api.schemas import JobSummary
from crmhub.store import runs as run_repo
from crmhub.store.models import Job
from crmhub.sync.spec import JobSpec

from .conftest import ACCOUNTS_JOB, Api, write_accounts


def test_each_job_shows_its_newest_run_and_the_document_matches_its_schema(api: Api) -> None:
    write_accounts(api.hub.settings.resolved_home, ["A1,Acme,10,us"])
    api.jobs.connections.add("files", "csv", {"path": str(api.hub.settings.resolved_home)}, {})
    a = api.jobs.create(JobSpec.model_validate({**ACCOUNTS_JOB, "name": "a-job"}))
    b = api.jobs.create(JobSpec.model_validate({**ACCOUNTS_JOB, "name": "b-job"}))
    api.jobs.create(JobSpec.model_validate({**ACCOUNTS_JOB, "name": "c-job"}))  # never run
    with api.hub.db.begin() as session:
        runs = {}
        for job_id, label in [(a.id, "a1"), (b.id, "b1"), (a.id, "a2"), (b.id, "b2"), (a.id, "a3")]:
            run = run_repo.create_run(
                session,
                job_id=job_id,
                job_version=1,
                trigger="schedule",
                mode="incremental",
                status="succeeded",
            )
            runs[label] = run.id
        session.flush()
        # b is a draft with a schedule: a problem, a next run at a whole second
        session.execute(
            update(Job)
            .where(Job.id == b.id)
            .values(
                problems=["mapping: name is mapped twice"],
                next_run_at=datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC),
                schedule={"kind": "daily", "at": "03:04", "timezone": "UTC"},
            )
        )
    response = api.client("viewer").get("/jobs", params={"limit": 2})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert [j["name"] for j in body["items"]] == ["a-job", "b-job"]
    assert body["next"] is not None
    first, second = body["items"]
    assert first["last_run"]["id"] == runs["a3"] and second["last_run"]["id"] == runs["b2"]
    assert first["draft"] is False and first["problems"] == [] and first["next_run_at"] is None
    assert second["draft"] is True and second["problems"] == ["mapping: name is mapped twice"]
    assert second["next_run_at"] == "2027-01-02T03:04:05Z"
    assert second["schedule"] == {"kind": "daily", "at": "03:04", "timezone": "UTC"}
    assert first["updated_at"].endswith("Z") and first["last_run"]["created_at"].endswith("Z")
    # The bytes are what pydantic writes for the same document, so the schema holds exactly.
    adapter = TypeAdapter(Page[JobSummary])
    assert adapter.dump_json(adapter.validate_json(response.content)) == response.content

    rest = api.client("viewer").get(body["next"].removeprefix("/api/v1")).json()
    assert [j["name"] for j in rest["items"]] == ["c-job"] and rest["items"][0]["last_run"] is None
    assert rest["next"] is None
