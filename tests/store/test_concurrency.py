"""Concurrent writers on SQLite queue for the write lock instead of failing with 'database is locked'."""

import multiprocessing
import threading
from pathlib import Path

from crmhub.config import Settings
from crmhub.services.hub import HubService
from crmhub.store.database import Database


def _writer(url: str, home: str, worker: int, rounds: int) -> None:
    hub = HubService(Database(url), settings=Settings(home=Path(home), database_url=url))
    try:
        for r in range(rounds):
            rows = [{"account_id": f"W{worker}-{i}", "employees": r} for i in range(200)]
            # one shared record that every writer touches, to force read-merge-write conflicts
            rows.append({"account_id": "SHARED", "name": f"w{worker}", "employees": r})
            result = hub.upsert("account", rows, batch_size=50)
            assert not result.failed, result.failed[:3]
    finally:
        hub.close()


def test_given_four_processes_writing_at_once_when_they_finish_then_nothing_failed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = HubService(Database(url), settings=Settings(home=tmp_path, database_url=url))
    hub.init()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, str(tmp_path), w, 5)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert hub.count_records("account") == 4 * 200 + 1
    assert {r.values["employees"] for r in hub.list_records("account", limit=1000)} == {4}
    hub.close()


def test_given_threads_sharing_one_hub_when_writing_and_reading_then_nothing_failed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = HubService(Database(url), settings=Settings(home=tmp_path, database_url=url))
    hub.init()
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for r in range(5):
                hub.upsert(
                    "contact", [{"email": f"p{i}@w{worker}.example", "title": f"t{r}"} for i in range(100)]
                )
                assert len(hub.list_records("contact", limit=10)) == 10
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert hub.count_records("contact") == 400
    hub.close()
