"""Every route × every role: 401 without a token, 403 without the permission, 2xx with it.

The route list comes from the app itself, and every route needs an example request below — so a
new route without one fails ``test_every_route_has_an_example``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from crmhub.api import create_app
from crmhub.api.app import api_routes, route_auth
from crmhub.config import Settings
from crmhub.services.connections import ConnectionService
from crmhub.services.hub import HubService
from crmhub.services.tokens import TokenService
from crmhub.services.users import ROLE_PERMISSIONS, Role, UserService
from crmhub.store.database import Database
from crmhub.sync.spec import JobSpec

from .conftest import ACCOUNTS_JOB, ADMIN_PASSWORD, ROLES, Api, running_api, write_accounts

PREFIX = "/api/v1"
#: What each test role may do (the runner is a viewer with a permission set granting jobs:run).
GRANTS = {
    "admin": {p.value for p in ROLE_PERMISSIONS[Role.ADMIN]},
    "advanced": {p.value for p in ROLE_PERMISSIONS[Role.ADVANCED]},
    "viewer": {p.value for p in ROLE_PERMISSIONS[Role.VIEWER]},
    "runner": {p.value for p in ROLE_PERMISSIONS[Role.VIEWER]} | {"jobs:run"},
}


@dataclass
class Call:
    path: str
    json: Any = None
    params: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    api: Api
    folder: Path
    job_id: int
    run_id: str
    hub_id: str
    counter: Iterator[int] = field(default_factory=itertools.count)

    def name(self, prefix: str) -> str:
        return f"{prefix}_{next(self.counter)}"

    def job(self) -> int:
        return self.api.jobs.duplicate("accounts-in", self.name("job")).id

    def clean_job(self) -> int:
        """A job over a file without bad rows (it validates, so it can be enabled)."""
        spec = {**ACCOUNTS_JOB, "name": self.name("clean"), "remote_object": "clean"}
        return self.api.jobs.create(JobSpec.model_validate(spec)).id

    def spec(self) -> dict[str, Any]:
        return {**ACCOUNTS_JOB, "name": self.name("draft")}

    def connection(self) -> str:
        name = self.name("conn")
        ConnectionService(self.api.hub).add(name, "csv", {"path": str(self.folder)}, {})
        return name

    def user(self) -> int:
        return UserService(self.api.hub).create(f"{self.name('user')}@example.com").id

    def permission_set(self) -> str:
        name = self.name("set")
        UserService(self.api.hub).create_permission_set(name, ["feeds:manage"])
        return name

    def token_of(self, email: str) -> int:
        return TokenService(self.api.hub).create_personal(email, self.name("token")).token.id

    def trigger_token(self, job_id: int) -> tuple[int, str]:
        issued = TokenService(self.api.hub).create_trigger(job_id, self.name("trigger"))
        return issued.token.id, issued.text


def _granted_user(w: World) -> str:
    user = w.user()
    UserService(w.api.hub).grant(user, "run jobs")
    return f"/users/{user}/permission-sets/run jobs"


#: "METHOD /path" → (world, role) → the request that should succeed for a role allowed to make it.
EXAMPLES: dict[str, Callable[[World, str], Call]] = {
    "GET /health": lambda w, r: Call("/health"),
    "POST /auth/login": lambda w, r: Call(
        "/auth/login", {"email": "admin@example.com", "password": ADMIN_PASSWORD}
    ),
    "POST /auth/logout": lambda w, r: Call("/auth/logout"),
    "GET /auth/me": lambda w, r: Call("/auth/me"),
    "GET /users": lambda w, r: Call("/users"),
    "POST /users": lambda w, r: Call("/users", {"email": f"{w.name('new')}@example.com", "role": "viewer"}),
    "GET /users/{user_id}": lambda w, r: Call(f"/users/{w.user()}"),
    "PATCH /users/{user_id}": lambda w, r: Call(f"/users/{w.user()}", {"name": "Renamed"}),
    "DELETE /users/{user_id}": lambda w, r: Call(f"/users/{w.user()}"),
    "POST /users/{user_id}/permission-sets": lambda w, r: Call(
        f"/users/{w.user()}/permission-sets", {"permission_set": "run jobs"}
    ),
    "DELETE /users/{user_id}/permission-sets/{permission_set}": lambda w, r: Call(_granted_user(w)),
    "GET /users/{user_id}/tokens": lambda w, r: Call(f"/users/{w.user()}/tokens"),
    "POST /users/{user_id}/tokens": lambda w, r: Call(f"/users/{w.user()}/tokens", {"name": "ci"}),
    "GET /permission-sets": lambda w, r: Call("/permission-sets"),
    "POST /permission-sets": lambda w, r: Call(
        "/permission-sets", {"name": w.name("set"), "permissions": ["feeds:manage"]}
    ),
    "DELETE /permission-sets/{permission_set}": lambda w, r: Call(f"/permission-sets/{w.permission_set()}"),
    "GET /audit-events": lambda w, r: Call("/audit-events"),
    "GET /tokens": lambda w, r: Call("/tokens"),
    "POST /tokens": lambda w, r: Call("/tokens", {"name": "laptop"}),
    "DELETE /tokens/{token_id}": lambda w, r: Call(f"/tokens/{w.token_of(f'{r}@example.com')}"),
    "GET /connection-kinds": lambda w, r: Call("/connection-kinds"),
    "GET /connections": lambda w, r: Call("/connections"),
    "POST /connections": lambda w, r: Call(
        "/connections", {"name": w.name("conn"), "kind": "csv", "settings": {"path": str(w.folder)}}
    ),
    "GET /connections/{connection}": lambda w, r: Call("/connections/files"),
    "PATCH /connections/{connection}": lambda w, r: Call(
        f"/connections/{w.connection()}", {"settings": {"path": str(w.folder)}}
    ),
    "DELETE /connections/{connection}": lambda w, r: Call(f"/connections/{w.connection()}"),
    "POST /connections/{connection}/test": lambda w, r: Call("/connections/files/test"),
    "GET /connections/{connection}/objects": lambda w, r: Call("/connections/files/objects"),
    "GET /connections/{connection}/objects/{remote_object}": lambda w, r: Call(
        "/connections/files/objects/accounts"
    ),
    "GET /jobs": lambda w, r: Call("/jobs"),
    "POST /jobs": lambda w, r: Call("/jobs", w.spec()),
    "POST /jobs/import": lambda w, r: Call(
        "/jobs/import", {"yaml": JobSpec.model_validate(w.spec()).to_yaml()}
    ),
    "GET /jobs/{job}": lambda w, r: Call(f"/jobs/{w.job_id}"),
    "PATCH /jobs/{job}": lambda w, r: Call(f"/jobs/{w.job()}", {"description": "edited"}),
    "DELETE /jobs/{job}": lambda w, r: Call(f"/jobs/{w.job()}"),
    "POST /jobs/{job}/duplicate": lambda w, r: Call(f"/jobs/{w.job_id}/duplicate", {"name": w.name("copy")}),
    "POST /jobs/{job}/enable": lambda w, r: Call(f"/jobs/{w.clean_job()}/enable"),
    "POST /jobs/{job}/disable": lambda w, r: Call(f"/jobs/{w.job()}/disable"),
    "GET /jobs/{job}/export": lambda w, r: Call(f"/jobs/{w.job_id}/export"),
    "POST /jobs/automap": lambda w, r: Call("/jobs/automap", w.spec()),
    "POST /jobs/validate": lambda w, r: Call("/jobs/validate", w.spec()),
    "POST /jobs/preview": lambda w, r: Call("/jobs/preview", w.spec()),
    "GET /jobs/{job}/automap": lambda w, r: Call(f"/jobs/{w.job_id}/automap"),
    "GET /jobs/{job}/validate": lambda w, r: Call(f"/jobs/{w.job_id}/validate"),
    "GET /jobs/{job}/preview": lambda w, r: Call(f"/jobs/{w.job_id}/preview"),
    "POST /jobs/{job}/runs": lambda w, r: Call(f"/jobs/{w.job()}/runs", {"full": True}),
    "POST /jobs/{job}/rebuild-mapping": lambda w, r: Call(f"/jobs/{w.job()}/rebuild-mapping"),
    "GET /jobs/{job}/trigger-tokens": lambda w, r: Call(f"/jobs/{w.job_id}/trigger-tokens"),
    "POST /jobs/{job}/trigger-tokens": lambda w, r: Call(f"/jobs/{w.job_id}/trigger-tokens", {"name": "etl"}),
    "DELETE /jobs/{job}/trigger-tokens/{token_id}": lambda w, r: Call(
        f"/jobs/{w.job_id}/trigger-tokens/{w.trigger_token(w.job_id)[0]}"
    ),
    "GET /runs": lambda w, r: Call("/runs", params={"status": "succeeded_with_errors"}),
    "GET /runs/{run_id}": lambda w, r: Call(f"/runs/{w.run_id}"),
    "POST /runs/{run_id}/cancel": lambda w, r: Call(f"/runs/{w.run_id}/cancel"),
    "GET /runs/{run_id}/events": lambda w, r: Call(f"/runs/{w.run_id}/events"),
    "GET /runs/{run_id}/errors": lambda w, r: Call(f"/runs/{w.run_id}/errors"),
    "GET /runs/{run_id}/errors.csv": lambda w, r: Call(f"/runs/{w.run_id}/errors.csv"),
    "GET /runs/{run_id}/snapshot": lambda w, r: Call(f"/runs/{w.run_id}/snapshot"),
    "GET /runs/{run_id}/progress": lambda w, r: Call(f"/runs/{w.run_id}/progress"),
    "GET /hub/object-types": lambda w, r: Call("/hub/object-types"),
    "POST /hub/object-types": lambda w, r: Call(
        "/hub/object-types", {"name": w.name("kind"), "key": "code", "attributes": [{"name": "code"}]}
    ),
    "GET /hub/object-types/{object_type}": lambda w, r: Call("/hub/object-types/account"),
    "GET /hub/object-types/{object_type}/attributes": lambda w, r: Call(
        "/hub/object-types/account/attributes"
    ),
    "POST /hub/object-types/{object_type}/attributes": lambda w, r: Call(
        "/hub/object-types/account/attributes",
        {"name": w.name("score"), "type": "number", "category": "scores"},
    ),
    "GET /hub/object-types/{object_type}/records": lambda w, r: Call(
        "/hub/object-types/account/records", params={"filter": 'name = "Acme"'}
    ),
    "GET /hub/records/{hub_id}": lambda w, r: Call(f"/hub/records/{w.hub_id}"),
    "POST /hub/records/{hub_id}/key": lambda w, r: Call(f"/hub/records/{w.hub_id}/key", {"value": w.name("key")}),
}
#: Routes a trigger token opens (and nothing else does).
TRIGGER_EXAMPLES = {
    "POST /jobs/{job}/trigger": lambda w, job, run: Call(f"/jobs/{job}/trigger"),
    "GET /jobs/{job}/trigger/runs/{run_id}": lambda w, job, run: Call(f"/jobs/{job}/trigger/runs/{run}"),
}


class _NoExecutor:
    def submit(self, run_id: str) -> None:
        raise AssertionError("not used")


APP = create_app(HubService(Database("sqlite://"), settings=Settings()), executor=_NoExecutor())
ROUTES = [(m, p) for m, p, _ in api_routes(APP)]
AUTH = {f"{m} {p.removeprefix(PREFIX)}": route_auth(r) for m, p, r in api_routes(APP)}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("matrix")
    settings = Settings(home=tmp / "home", database_url=f"sqlite:///{tmp / 'hub.db'}", file_roots=[tmp])
    hub = HubService(Database(settings.resolved_database_url), settings=settings)
    hub.init()
    folder = tmp / "files"
    folder.mkdir()
    write_accounts(folder, ["A1,Acme,10,de", "A2,Beta,lots,fr", "A3,Gamma,30,us"])
    (folder / "clean.csv").write_text("id,name,employees,country\nC1,Clean,1,de\n", encoding="utf-8")
    try:
        with running_api(hub) as api:
            ConnectionService(hub).add("files", "csv", {"path": str(folder)}, {})
            job = api.jobs.create(JobSpec.model_validate(ACCOUNTS_JOB))
            run, outcome = api.jobs.run("accounts-in")
            assert outcome.status == "succeeded_with_errors", outcome.message
            record = hub.find_record("account", "A1")
            yield World(api, folder, job.id, run.id, record.hub_id)
            for run_id in _active_runs(hub):
                api.executor.wait(run_id, 60)
    finally:
        hub.close()


def _active_runs(hub: HubService) -> list[str]:
    from sqlalchemy import select

    from crmhub.store.models import Run

    with hub.db.read() as session:
        return list(session.scalars(select(Run.id).where(Run.status.in_(("queued", "running")))))


def _send(client: httpx.Client, method: str, call: Call) -> httpx.Response:
    return client.request(method, call.path, json=call.json, params=call.params, headers=call.headers)


def test_every_route_has_an_example() -> None:
    keys = {f"{m} {p.removeprefix(PREFIX)}" for m, p in ROUTES}
    assert keys - set(EXAMPLES) - set(TRIGGER_EXAMPLES) == set(), (
        "add an example request for the new route(s)"
    )
    assert set(EXAMPLES) | set(TRIGGER_EXAMPLES) <= keys, "examples of routes that no longer exist"


def test_the_openapi_document_names_what_each_route_needs() -> None:
    spec = APP.openapi()
    needs = {
        f"{m.upper()} {p.removeprefix(PREFIX)}": op["x-crmhub-auth"]
        for p, ops in spec["paths"].items()
        for m, op in ops.items()
    }
    assert needs == {k: v or "public" for k, v in AUTH.items()}


@pytest.mark.parametrize("route", sorted(EXAMPLES), ids=lambda r: r.replace(" ", "_"))
def test_route_answers_401_403_or_2xx_by_role(world: World, route: str) -> None:
    method = route.split(" ", 1)[0]
    needs = AUTH[route]
    if needs is not None:
        anonymous = _send(world.api.client(None), method, EXAMPLES[route](world, "admin"))
        assert anonymous.status_code == 401, anonymous.text
        assert anonymous.headers["content-type"] == "application/problem+json"
    for role in ROLES:
        call = EXAMPLES[route](world, role)
        response = _send(world.api.client(role), method, call)
        allowed = needs in (None, "authenticated") or needs in GRANTS[role]
        if allowed:
            assert 200 <= response.status_code < 300, f"{role}: {response.status_code} {response.text}"
        else:
            assert response.status_code == 403, f"{role}: {response.status_code} {response.text}"
            assert response.json()["code"] == "forbidden"


@pytest.mark.parametrize("route", sorted(TRIGGER_EXAMPLES), ids=lambda r: r.replace(" ", "_"))
def test_trigger_routes_take_only_that_jobs_trigger_token(world: World, route: str) -> None:
    method = route.split(" ", 1)[0]
    job = world.job()
    _, token = world.trigger_token(job)
    _, other_token = world.trigger_token(world.job_id)
    run = world.api.jobs.submit(world.api.jobs.get(job)[0].name, executor=world.api.executor).id
    world.api.wait(run)
    call = TRIGGER_EXAMPLES[route](world, job, run)
    assert _send(world.api.client(None), method, call).status_code == 401
    for role in ROLES:  # personal tokens never open the trigger routes
        assert _send(world.api.client(role), method, call).status_code == 401
    wrong = _send(
        world.api.client(None), method, Call(call.path, headers={"Authorization": f"Bearer {other_token}"})
    )
    assert wrong.status_code == 401
    right = _send(
        world.api.client(None), method, Call(call.path, headers={"Authorization": f"Bearer {token}"})
    )
    assert 200 <= right.status_code < 300, right.text
    if method == "POST":
        world.api.wait(right.json()["run_id"])
