"""Jobs on a Salesforce emulator (slow pages give time to look at a run mid-way) and hub snapshots."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crmhub.config import Settings
from crmhub.emulators import salesforce as sf
from crmhub.services.hub import HubService
from crmhub.services.jobs import JobService
from crmhub.store import runs as run_repo
from crmhub.store.database import Database
from crmhub.store.models import Link, Record, Run
from crmhub.sync.spec import JobSpec

ACCOUNT_MAPPING = [
    {"source": "Id", "target": "account_id"},
    {"source": "Name", "target": "name"},
    {"source": "Industry", "target": "industry"},
    {"source": "NumberOfEmployees", "target": "employees"},
]
CONTACT_MAPPING = [
    {"source": "Email", "target": "email"},
    {"source": "FirstName", "target": "first_name"},
    {"source": "LastName", "target": "last_name"},
]


def open_hub(url: str, home: Path) -> HubService:
    hub = HubService(Database(url), settings=Settings(home=home, database_url=url))
    hub.init()
    return hub


def add_sf_connection(jobs: JobService, base_url: str, name: str = "sf") -> None:
    jobs.connections.add(
        name,
        "salesforce",
        {"login_url": base_url, "username": sf.DEFAULT_USERNAME, "page_size": 200},
        sf.default_credentials(),
    )


def sf_job(name: str, remote_object: str = "Account", *, connection: str = "sf", **extra: Any) -> JobSpec:
    account = remote_object == "Account"
    return JobSpec.model_validate(
        {
            "name": name,
            "direction": "inbound",
            "connection": connection,
            "remote_object": remote_object,
            "object_type": "account" if account else "contact",
            "settings": {"batch_size": 200},
            "mapping": ACCOUNT_MAPPING if account else CONTACT_MAPPING,
            **extra,
        }
    )


def hub_state(hub: HubService, object_type: str = "account") -> tuple[dict[str, dict[str, Any]], int]:
    """Live records of a type (key → values) and the number of links."""
    from crmhub.store.models import ObjectType

    with hub.db.read() as session:
        type_id = session.query(ObjectType.id).filter(ObjectType.name == object_type).scalar()
        records = {
            r.key: r.values
            for r in session.query(Record).filter(
                Record.deleted_at.is_(None), Record.object_type_id == type_id
            )
        }
        links = (
            session.query(Link)
            .join(Record, Record.hub_id == Link.hub_id)
            .filter(Record.object_type_id == type_id)
            .count()
        )
    return records, links


def get_run(hub: HubService, run_id: str) -> Run:
    with hub.db.read() as session:
        return run_repo.get_run(session, run_id)


def event_kinds(hub: HubService, run_id: str) -> list[str]:
    with hub.db.read() as session:
        return [e.kind for e in run_repo.events(session, run_id)]


def wait_for(check: Callable[[], Any], *, timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_final(hub: HubService, run_id: str, *, timeout: float = 60) -> Run:
    return wait_for(
        lambda: (r := get_run(hub, run_id)).status in run_repo.FINAL_STATUSES and r,
        timeout=timeout,
        what=f"run {run_id} to end",
    )


def drop_queue(broker_url: str, queue: str) -> None:
    """Delete a test's queue from the broker (and, on Redis, kombu's binding keys that name it)."""
    from crmhub.execute.celery_app import create_app
    from crmhub.execute.settings import ExecutionSettings

    app = create_app(ExecutionSettings(broker_url=broker_url, celery_queue=queue))
    try:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
    finally:
        app.close()
    if broker_url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(broker_url)
        try:
            keys = list(client.scan_iter(match=f"*{queue}*"))
            if keys:
                client.delete(*keys)
            # Messages of a killed worker wait in kombu's shared "unacked" hash; drop this queue's.
            for tag, value in client.hgetall("unacked").items():
                if queue.encode() in value:
                    client.hdel("unacked", tag)
                    client.zrem("unacked_index", tag)
        finally:
            client.close()
