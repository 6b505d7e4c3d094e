"""Jobs through the API: YAML in and out, secrets that stay masked, idempotent runs, paging."""

from __future__ import annotations

from pathlib import Path

import yaml

from crmhub.services.connections import ConnectionService
from crmhub.store import runs as run_repo
from crmhub.sync.spec import JobSpec

from .conftest import ACCOUNTS_JOB, Api, write_accounts

HOOK = {
    "when": "failure",
    "channel": {"kind": "webhook", "url": "https://hooks.example.com/x", "secret": "k3y"},
}


def _files(api: Api, folder: Path) -> None:
    write_accounts(folder, ["A1,Acme,10,de", "A2,Beta,20,fr"])
    ConnectionService(api.hub).add("files", "csv", {"path": str(folder)}, {})


def test_a_job_round_trips_through_yaml_and_keeps_its_webhook_secret(api: Api, tmp_path: Path) -> None:
    _files(api, tmp_path)
    admin = api.client("admin")
    created = admin.post("/jobs", json={**ACCOUNTS_JOB, "notifications": [HOOK]})
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    exported = admin.get(f"/jobs/{job_id}/export")
    assert exported.headers["content-type"].startswith("application/yaml")
    assert "k3y" not in exported.text
    data = yaml.safe_load(exported.text)
    data["description"] = "imported back"
    again = admin.post(
        "/jobs/import", content=yaml.safe_dump(data), headers={"Content-Type": "application/yaml"}
    )
    assert again.status_code == 200, again.text  # a new version of the same job
    assert again.json()["version"] == 2 and again.json()["spec"]["description"] == "imported back"
    stored = api.jobs.get("accounts-in")[1].notifications[0].channel.secret  # type: ignore[union-attr]
    from crmhub.store.connections import Vault

    assert stored is not None and stored.startswith("fernet:")  # at rest, sealed (issue 12)
    assert Vault(api.hub.settings.fernet_key()).open_text(stored) == "k3y"
    # A PATCH that sends the mask back keeps the secret; one for a new URL must send a real one.
    rules = again.json()["spec"]["notifications"]
    assert admin.patch(f"/jobs/{job_id}", json={"notifications": rules}).status_code == 200
    moved = [{**rules[0], "channel": {**rules[0]["channel"], "url": "https://other.example.com/"}}]
    refused = admin.patch(f"/jobs/{job_id}", json={"notifications": moved})
    assert refused.status_code == 422 and "masked" in refused.json()["detail"]
    bad_yaml = admin.post("/jobs/import", json={"yaml": "name: [unclosed"})
    assert bad_yaml.status_code == 422 and "line" in bad_yaml.json()["detail"]
    new = admin.post("/jobs/import", json={"yaml": yaml.safe_dump({**ACCOUNTS_JOB, "name": "from-yaml"})})
    assert new.status_code == 201


def test_a_repeated_run_request_with_the_same_idempotency_key_gives_the_same_run(
    api: Api, tmp_path: Path
) -> None:
    _files(api, tmp_path)
    admin = api.client("advanced")
    job_id = admin.post("/jobs", json=ACCOUNTS_JOB).json()["id"]
    first = admin.post(f"/jobs/{job_id}/runs", json={"full": True}, headers={"Idempotency-Key": "nightly-1"})
    again = admin.post(f"/jobs/{job_id}/runs", json={"full": True}, headers={"Idempotency-Key": "nightly-1"})
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    api.wait(first.json()["id"])
    run = admin.get(f"/runs/{first.json()['id']}").json()
    assert run["status"] == "succeeded" and run["job_name"] == "accounts-in" and run["mode"] == "full"
    events = admin.get(f"/runs/{run['id']}/events").json()["items"]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "created" and "finished" in kinds
    assert next(e for e in events if e["kind"] == "requested")["data"]["actor"] == "advanced@example.com"
    history = admin.get("/runs", params={"job": "accounts-in", "status": "succeeded"}).json()["items"]
    assert [r["id"] for r in history] == [run["id"]]
    assert admin.get("/runs", params={"until": "2000-01-01T00:00:00Z"}).json()["items"] == []


def test_rebuild_mapping_forgets_links_and_runs_a_full_sync(api: Api, tmp_path: Path) -> None:
    _files(api, tmp_path)
    admin = api.client("admin")
    job_id = admin.post("/jobs", json=ACCOUNTS_JOB).json()["id"]
    api.wait(admin.post(f"/jobs/{job_id}/runs").json()["id"])
    rebuilt = admin.post(f"/jobs/{job_id}/rebuild-mapping")
    assert rebuilt.status_code == 202 and rebuilt.json()["trigger"] == "rebuild"
    api.wait(rebuilt.json()["id"])
    with api.hub.db.read() as session:
        run = run_repo.get_run(session, rebuilt.json()["id"])
    assert run.mode == "full" and run.status == "succeeded"
    assert api.hub.count_records("account") == 2


def test_job_lists_page_in_name_order_with_their_last_run(api: Api, tmp_path: Path) -> None:
    _files(api, tmp_path)
    admin = api.client("viewer")
    for n in range(5):
        api.jobs.create(JobSpec.model_validate({**ACCOUNTS_JOB, "name": f"job-{n}"}))
    seen: list[str] = []
    url: str | None = "/jobs?limit=2"
    while url:
        page = admin.get(url.removeprefix("/api/v1")).json()
        seen += [j["name"] for j in page["items"]]
        url = page["next"]
    assert seen == [f"job-{n}" for n in range(5)]


def test_progress_streams_each_change_then_the_end_and_survives_a_client_leaving(
    api: Api, tmp_path: Path
) -> None:
    import threading

    import orjson

    from crmhub.store.models import Run

    _files(api, tmp_path)
    job = api.jobs.create(JobSpec.model_validate(ACCOUNTS_JOB))
    with api.hub.db.begin() as session:
        run = run_repo.create_run(
            session, job_id=job.id, job_version=1, trigger="api", mode="full", status="running"
        )
        run_id = run.id

    def move(done: int, status: str = "running") -> None:
        with api.hub.db.begin() as session:
            row = session.get(Run, run_id)
            assert row is not None
            row.progress_done, row.progress_total, row.status = done, 10, status

    client = api.client("viewer")
    # A client that leaves after the first event does not disturb the server.
    with client.stream("GET", f"/runs/{run_id}/progress", params={"interval": 0.1}) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                break
    events: list[tuple[str, dict[str, object]]] = []
    first = threading.Event()

    def watch() -> None:
        kind = ""
        with client.stream("GET", f"/runs/{run_id}/progress", params={"interval": 0.1}) as response:
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    events.append((kind, orjson.loads(line.removeprefix("data: "))))
                    first.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    assert first.wait(10)
    for done in (3, 7):
        move(done)
        time_limit = 50
        while not any(e[1].get("done") == done for e in events) and time_limit:
            threading.Event().wait(0.1)
            time_limit -= 1
    move(10, "succeeded")
    watcher.join(10)
    assert [e[1]["done"] for e in events if e[0] == "progress"] == [0, 3, 7]
    assert (
        events[-1][0] == "end"
        and events[-1][1]["status"] == "succeeded"
        and events[-1][1]["percent"] == 100.0
    )


def test_an_advanced_user_cannot_point_a_csv_connection_outside_the_file_roots(
    api: Api, tmp_path: Path
) -> None:
    advanced = api.client("advanced")
    refused = advanced.post("/connections", json={"name": "etc", "kind": "csv", "settings": {"path": "/etc"}})
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["code"] == "path_not_allowed"
    assert "'/etc'" in problem["detail"] and str(tmp_path.resolve()) in problem["detail"]
    assert "CRMHUB_FILE_ROOTS" in problem["hint"]
    _files(api, tmp_path)
    moved = advanced.patch("/connections/files", json={"settings": {"path": f"{tmp_path}/../.."}})
    assert moved.status_code == 422 and moved.json()["code"] == "path_not_allowed"
    assert advanced.get("/connections/files").json()["settings"]["path"] == str(tmp_path)


def test_the_preview_route_answers_for_an_outbound_job_with_payloads_and_decisions(
    api: Api, tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "accounts.csv").write_text("hub_id,company\n", encoding="utf-8")
    ConnectionService(api.hub).add("out", "csv", {"path": str(folder), "id_column": "hub_id"}, {})
    api.hub.upsert("account", [{"account_id": "A1", "name": "Acme"}, {"account_id": "A2", "name": "Beta"}])
    hub_ids = {r.values["account_id"]: r.hub_id for r in api.hub.list_records("account")}
    job = {
        "name": "accounts-out",
        "direction": "outbound",
        "connection": "out",
        "remote_object": "accounts",
        "object_type": "account",
        "match_field": "hub_id",
        "filter": 'account_id = "A2"',
        "mapping": [{"source": "name", "target": "company"}],
        "settings": {"stamp_hub_id_field": "hub_id"},
    }
    admin = api.client("admin")
    assert admin.post("/jobs", json=job).status_code == 201
    saved = admin.get("/jobs/accounts-out/preview")
    assert saved.status_code == 200, saved.text
    assert saved.json() == [
        {
            "hub_id": hub_ids["A2"],
            "key": "A2",
            "action": "create",
            "reason": f"not linked: no accounts has hub_id = '{hub_ids['A2']}'",
            "remote_id": None,
            "raw": {"name": "Beta"},
            "mapped": {"company": "Beta", "hub_id": hub_ids["A2"]},
            "left_out": [],
            "errors": [],
        }
    ]
    draft = admin.post("/jobs/preview", json={**job, "name": "draft-out", "filter": ""})
    assert draft.status_code == 200, draft.text
    assert sorted(r["key"] for r in draft.json()) == ["A1", "A2"]
    assert (folder / "accounts.csv").read_text(encoding="utf-8") == "hub_id,company\n"  # nothing written


def test_a_dry_run_through_the_api_says_so_and_changes_nothing(api: Api, tmp_path: Path) -> None:
    _files(api, tmp_path)
    admin = api.client("advanced")
    job_id = admin.post("/jobs", json=ACCOUNTS_JOB).json()["id"]
    queued = admin.post(f"/jobs/{job_id}/runs", json={"dry_run": True})
    assert queued.status_code == 202 and queued.json()["dry_run"] is True
    api.wait(queued.json()["id"])
    run = admin.get(f"/runs/{queued.json()['id']}").json()
    assert run["status"] == "succeeded" and run["dry_run"] is True
    assert run["message"] == "dry run, nothing was changed: 2 read, 2 created"
    assert api.hub.count_records("account") == 0
    assert api.jobs.get("accounts-in")[0].state == {}  # no cursor moved
