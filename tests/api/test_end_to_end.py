"""The API end to end against the Salesforce emulator, on SQLite and PostgreSQL.

Create a connection, build a job by automap, validate it, save it with a schedule, let the
scheduler run it, watch its progress over Server-Sent Events, download the source snapshot and
the error ledger as CSV, and start a job with its trigger token.
"""

from __future__ import annotations

import csv
import gzip
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from crmhub.emulators import salesforce as sf
from crmhub.emulators.serve import serve_in_thread
from crmhub.schedule import Scheduler
from crmhub.services.hub import HubService

from .conftest import Api, running_api

FIELDS = ["Id", "Name", "Industry", "NumberOfEmployees", "Website"]


@pytest.fixture
def emulator_url() -> Iterator[str]:
    emulator = sf.SalesforceEmulator(accounts=1200, contacts=0, seed=7)
    with serve_in_thread(emulator.app) as url:
        yield url


@pytest.fixture
def scheduled_api(hub: HubService) -> Iterator[Api]:
    with running_api(hub, background=lambda executor: [Scheduler(hub.db, executor, interval=0.2)]) as api:
        yield api


def sse_events(client: httpx.Client, path: str) -> list[tuple[str, dict[str, Any]]]:
    """Read a Server-Sent Events stream to its end: (event, data) pairs."""
    events: list[tuple[str, dict[str, Any]]] = []
    kind = "message"
    with client.stream("GET", path, params={"interval": 0.1}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((kind, orjson.loads(line.removeprefix("data: "))))
    return events


def wait_for(predicate: Any, timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_build_schedule_watch_download_and_trigger_a_job(scheduled_api: Api, emulator_url: str) -> None:
    api = scheduled_api
    client = api.client("advanced")

    # A connection: its credentials go in and never come out.
    created = client.post(
        "/connections",
        json={
            "name": "sf",
            "kind": "salesforce",
            "settings": {"login_url": emulator_url, "username": sf.DEFAULT_USERNAME},
            "credentials": sf.default_credentials(),
        },
    )
    assert created.status_code == 201, created.text
    assert sf.DEFAULT_PASSWORD not in created.text and "password" in created.json()["credential_fields"]
    assert client.post("/connections/sf/test").json()["ok"] is True
    objects = client.get("/connections/sf/objects").json()["items"]
    assert "Account" in {o["name"] for o in objects}
    described = client.get("/connections/sf/objects/Account").json()
    assert {"Id", "Name", "Industry"} <= {f["name"] for f in described["fields"]}

    # Build by automap, validate, save with a schedule (once, a moment from now) and enabled.
    draft: dict[str, Any] = {
        "name": "sf-accounts",
        "direction": "inbound",
        "connection": "sf",
        "remote_object": "Account",
        "object_type": "account",
        "fields": FIELDS,
        "settings": {"full_sync_every": None, "batch_size": 200},
    }
    proposals = client.post("/jobs/automap", json=draft)
    assert proposals.status_code == 200, proposals.text
    mapping = [p["row"] for p in proposals.json()]
    assert {"source": "Id", "target": "account_id"}.items() <= mapping[0].items()
    draft["mapping"] = mapping
    checked = client.post("/jobs/validate", json=draft).json()
    assert checked == {"ok": True, "problems": []}
    at = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    saved = client.post(
        "/jobs", json={**draft, "enabled": True, "schedule": {"kind": "once", "at": at.isoformat()}}
    )
    assert saved.status_code == 201, saved.text
    job = saved.json()
    assert job["enabled"] and job["next_run_at"] is not None and job["schedule"]["kind"] == "once"

    # The scheduler starts it; watch it over SSE.
    runs = wait_for(
        lambda: client.get("/runs", params={"job": job["id"]}).json()["items"], what="the scheduled run"
    )
    run = runs[0]
    assert run["trigger"] == "schedule"
    events = sse_events(client, run["links"]["progress"].removeprefix("/api/v1"))
    assert events[-1][0] == "end"
    final = events[-1][1]
    assert final["status"] == "succeeded", final
    assert final["done"] == 1200 and final["counts"]["created"] == 1200
    done = [data["done"] for kind, data in events if kind == "progress"]
    assert done == sorted(done)
    listed = client.get("/jobs").json()["items"]
    assert listed[0]["last_run"]["status"] == "succeeded"

    # The source snapshot: one JSON line per record read.
    snapshot = client.get(f"/runs/{run['id']}/snapshot")
    assert snapshot.status_code == 200 and snapshot.headers["content-type"] == "application/gzip"
    lines = gzip.decompress(snapshot.content).splitlines()
    assert len(lines) == 1200

    # A second job with a mapping that fails on every Industry: started by its trigger token.
    bad = {
        **draft,
        "name": "sf-industry-codes",
        "mapping": [
            {"source": "Id", "target": "account_id"},
            {"source": "Industry", "target": "industry_code", "new_attribute": {"type": "number"}},
        ],
        "settings": {"full_sync_every": None, "error_threshold_percent": 100},
    }
    job2 = client.post("/jobs", json=bad).json()
    issued = client.post(f"/jobs/{job2['id']}/trigger-tokens", json={"name": "nightly etl"})
    assert issued.status_code == 201, issued.text
    call = issued.json()["call"]
    assert (
        call["url"].endswith(f"/api/v1/jobs/{job2['id']}/trigger") and issued.json()["token"] in call["curl"]
    )
    shown = client.get(f"/jobs/{job2['id']}/trigger-tokens").json()
    assert "$CRMHUB_TRIGGER_TOKEN" in shown["call"]["curl"] and "token" not in shown["tokens"][0]

    with httpx.Client(headers=call["headers"], timeout=30) as etl:
        started = etl.post(call["url"])
        assert started.status_code == 202, started.text
        poll_url = started.json()["poll_url"]
        status = wait_for(lambda: (s := etl.get(poll_url).json())["finished"] and s, what="the triggered run")
    assert status["status"] == "succeeded_with_errors", status
    errors = client.get(f"/runs/{status['run_id']}/errors", params={"limit": 10})
    page = errors.json()
    assert len(page["items"]) == 10 and page["next"] is not None
    second = client.get(page["next"].removeprefix("/api/v1")).json()
    assert second["items"][0]["id"] > page["items"][-1]["id"]
    download = client.get(f"/runs/{status['run_id']}/errors.csv")
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert len(rows) == status["counts"]["failed"] > 0
    assert rows[0]["field"] == "Industry" and rows[0]["phase"] == "map"

    # The record API shows lineage: which job and run set each value.
    records = client.get(
        "/hub/object-types/account/records", params={"filter": "employees > 0", "limit": 5}
    ).json()
    assert len(records["items"]) == 5
    detail = client.get(f"/hub/records/{records['items'][0]['hub_id']}").json()
    assert detail["lineage"]["name"]["job_name"] == "sf-accounts"
    assert detail["links"][0]["remote_object"] == "Account"

    # Every change above is in the audit log, by who made it.
    audit = api.client("admin").get("/audit-events", params={"limit": 100}).json()["items"]
    mine = {(e["action"], e["object_kind"]) for e in audit if e["actor"] == "advanced@example.com"}
    assert {("create", "connection"), ("create", "job"), ("create", "trigger_token")} <= mine
