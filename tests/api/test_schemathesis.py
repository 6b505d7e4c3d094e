"""Schemathesis against the OpenAPI document, in-process (ASGI): no 500 and no schema violation.

A fixed seed (``derandomize``) and a bounded number of examples per operation keep it repeatable
and quick; the stateful part follows the links schemathesis infers between operations.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import fresh_postgres_schema  # tests/conftest.py
from crmhub.api import create_app
from crmhub.config import Settings
from crmhub.core.errors import NotFoundError
from crmhub.execute import InProcessExecutor
from crmhub.services.connections import ConnectionService
from crmhub.services.hub import HubService
from crmhub.services.jobs import JobService
from crmhub.services.notifications import Notifier, NotifyingExecutor, SmtpSettings
from crmhub.services.tokens import TokenService
from crmhub.services.users import AuthenticationError, UserService
from crmhub.store import runs as run_repo
from crmhub.store.database import Database
from crmhub.sync.spec import JobSpec

from .conftest import ACCOUNTS_JOB, seed_users, write_accounts

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 12


class Admin:
    """Headers of an admin that generated calls cannot lock out, and known objects that they cannot
    delete for good: both restored before every case."""

    def __init__(self, hub: HubService, token: str) -> None:
        self.hub = hub
        self.token = token

    def known(self) -> dict[str, str]:
        """Path parameters naming objects that exist (re-created when a case deleted them)."""
        jobs = JobService(self.hub)
        try:
            job = jobs.get("accounts-in")[0]
        except NotFoundError:
            job = jobs.create(JobSpec.model_validate(ACCOUNTS_JOB))
        with self.hub.db.read() as session:
            run = run_repo.last_run(session, job.id)
        if run is None or run.status not in run_repo.FINAL_STATUSES:
            run, _ = jobs.run("accounts-in", queue=True)
        record = self.hub.list_records("account", limit=1)
        users = UserService(self.hub)
        try:
            viewer = users.get("viewer@example.com")
        except NotFoundError:
            viewer = users.create("viewer@example.com", role="viewer")
        return {
            "job": str(job.id),
            "connection": "files",
            "run_id": run.id,
            "hub_id": record[0].hub_id if record else "0" * 26,
            "object_type": "account",
            "remote_object": "accounts",
            "user_id": str(viewer.id),
            "permission_set": "run jobs",
        }

    def headers(self) -> dict[str, str]:
        tokens, users = TokenService(self.hub), UserService(self.hub)
        try:
            principal = tokens.authenticate(self.token)
        except AuthenticationError:
            principal = None
        if principal is None or principal.role != "admin":
            try:
                users.update("admin@example.com", role="admin", active=True)
            except NotFoundError:
                users.create("admin@example.com", role="admin")
            self.token = tokens.create_personal("admin@example.com", "schemathesis").text
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The served hub's database: a SQLite file, and a fresh PostgreSQL schema (dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('schemathesis-db') / 'hub.db'}"
    else:
        with fresh_postgres_schema() as url:
            yield url


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, database: str) -> Iterator[tuple[Any, Admin]]:
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    config = Settings(home=tmp / "home", database_url=database, file_roots=[tmp])
    hub = HubService(Database(config.resolved_database_url), settings=config)
    hub.init()
    folder = tmp / "files"
    folder.mkdir()
    write_accounts(folder, ["A1,Acme,10,de", "A2,Beta,lots,fr"])
    ConnectionService(hub).add("files", "csv", {"path": str(folder)}, {})
    JobService(hub).create(JobSpec.model_validate(ACCOUNTS_JOB))
    JobService(hub).run("accounts-in")
    tokens = seed_users(hub)
    notifier = Notifier(hub, smtp=SmtpSettings(host=None), attempts=1)
    executor = NotifyingExecutor(InProcessExecutor(hub), notifier)
    app = create_app(hub, executor=executor, notifier=notifier)
    try:
        yield app, Admin(hub, tokens["admin"])
    finally:
        executor.stop(wait=True)
        notifier.close()
        hub.close()


class _NoExecutor:
    def submit(self, run_id: str) -> None:  # pragma: no cover - the document's app never runs
        raise AssertionError("not used")


#: The document comes from an app over an empty in-memory hub; the calls go to the served app.
schema = schemathesis.openapi.from_dict(
    create_app(HubService(Database("sqlite://"), settings=Settings()), executor=_NoExecutor()).openapi()
)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_operation_answers_500_or_breaks_its_schema(case: Any, served: tuple[Any, Admin]) -> None:
    app, admin = served
    case.call_and_validate(app=app, headers=admin.headers(), checks=CHECKS)
    # Again with the path naming objects that exist, so the generated query and body reach the
    # code behind the 404s.
    known = admin.known()
    if case.path_parameters and set(case.path_parameters) <= set(known):
        case.path_parameters = {name: known[name] for name in case.path_parameters}
        case.call_and_validate(app=app, headers=admin.headers(), checks=CHECKS)


def test_stateful_sequences_keep_the_contract(served: tuple[Any, Admin]) -> None:
    app, admin = served
    machine = schema.as_state_machine()

    class Machine(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": admin.headers(), "app": app}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    Machine.run(
        settings=settings(
            max_examples=15,
            stateful_step_count=6,
            derandomize=True,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
    )
