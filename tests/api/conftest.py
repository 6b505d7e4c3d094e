"""The API served over a loopback port (uvicorn in a thread) on a fresh hub, with one user per role.

Users: ``admin``, ``advanced``, ``viewer``, and ``runner`` — a viewer with a permission set that
grants ``jobs:run``. Each has a personal token (``api.client(role)``); ``api.client(None)`` sends none.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from crmhub.api import create_app
from crmhub.core.clock import Clock, utcnow
from crmhub.emulators.serve import serve_in_thread
from crmhub.execute import InProcessExecutor
from crmhub.services.hub import HubService
from crmhub.services.jobs import JobService
from crmhub.services.notifications import Notifier, NotifyingExecutor, SmtpSettings
from crmhub.services.tokens import TokenService
from crmhub.services.users import LoginPolicy, UserService

ROLES = ("admin", "advanced", "viewer", "runner")
ADMIN_PASSWORD = "correct horse battery staple"
CSV_HEADER = "id,name,employees,country"


@dataclass
class Api:
    url: str
    hub: HubService
    executor: NotifyingExecutor
    notifier: Notifier
    tokens: dict[str, str] = field(default_factory=dict)
    _clients: list[httpx.Client] = field(default_factory=list)

    @property
    def jobs(self) -> JobService:
        return JobService(self.hub)

    def client(self, role: str | None = "admin", **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        headers.update(kw.pop("headers", {}))
        client = httpx.Client(base_url=f"{self.url}/api/v1", headers=headers, timeout=30, **kw)
        self._clients.append(client)
        return client

    def wait(self, run_id: str, timeout: float = 60) -> None:
        self.executor.wait(run_id, timeout)

    def close(self) -> None:
        for client in self._clients:
            client.close()


def seed_users(hub: HubService) -> dict[str, str]:
    users, tokens = UserService(hub), TokenService(hub)
    users.create("admin@example.com", password=ADMIN_PASSWORD, role="admin")
    users.create("advanced@example.com", role="advanced")
    users.create("viewer@example.com", role="viewer")
    users.create("runner@example.com", role="viewer")
    users.create_permission_set("run jobs", ["jobs:run"])
    users.grant("runner@example.com", "run jobs")
    return {role: tokens.create_personal(f"{role}@example.com", "tests").text for role in ROLES}


@contextmanager
def running_api(
    hub: HubService,
    *,
    smtp: SmtpSettings | None = None,
    login_policy: LoginPolicy | None = None,
    background: Callable[[NotifyingExecutor], list[Any]] | None = None,
    clock: Clock = utcnow,
) -> Iterator[Api]:
    notifier = Notifier(hub, smtp=smtp or SmtpSettings(host=None), backoff=0.05, max_backoff=0.2)
    executor = NotifyingExecutor(InProcessExecutor(hub, workers=2), notifier)
    extra = background(executor) if background else []
    app = create_app(hub, executor=executor, notifier=notifier, login_policy=login_policy, clock=clock)
    executor.start()
    for part in extra:
        part.start()
    api = Api("", hub, executor, notifier, seed_users(hub))
    try:
        with serve_in_thread(app) as url:
            api.url = url
            yield api
    finally:
        api.close()
        for part in reversed(extra):
            part.stop()
        executor.stop(wait=True)
        notifier.close()


def write_accounts(folder: Path, rows: list[str]) -> None:
    (folder / "accounts.csv").write_text(
        CSV_HEADER + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8"
    )


ACCOUNTS_JOB: dict[str, Any] = {
    "name": "accounts-in",
    "direction": "inbound",
    "connection": "files",
    "remote_object": "accounts",
    "object_type": "account",
    "mapping": [
        {"source": "id", "target": "account_id"},
        {"source": "name", "target": "name"},
        {"source": "employees", "target": "employees"},
        {"expression": "UPPER(country)", "target": "billing_country"},
    ],
    "settings": {"error_threshold_percent": 50, "full_sync_every": None},
}


@pytest.fixture
def api(hub: HubService) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    """The API on a fresh hub, on SQLite and on PostgreSQL."""
    with running_api(hub) as served:
        yield served


# A tiny webhook receiver -------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """Records POSTs; answers with the queued statuses first, then 200."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.statuses: list[int] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                with receiver.arrived:
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
                    receiver.arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)
        return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def payload(received: Received) -> dict[str, Any]:
        return json.loads(received.body)  # type: ignore[no-any-return]


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ManualClock:
    """A clock that moves only when the test moves it (pass it as ``running_api(clock=...)``)."""

    now: datetime = field(default_factory=utcnow)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


SHORT_LOCK = LoginPolicy(pair_free=3, address_free=6, max_delay=timedelta(seconds=30))
