"""The pipelined bulk upsert (PostgreSQL): batch N+1 merges on a second connection while batch N
completes. It must give exactly what the one-batch-at-a-time loop gives, keep batches in order when
one fails, and keep other writers of the type out (and let them in between turns)."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest
from sqlalchemy import text

from crmhub.services.hub import HubService
from crmhub.store.models import AttributeType
from crmhub.store.records import _PG_LOCK_NAMESPACE, Stamp
from crmhub.store.schema import AttributeSpec


def _rows(n: int, seed: int = 5) -> list[dict[str, Any]]:
    """Keys from a small pool, so records recur within a batch and in the very next batch."""
    rnd = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for _ in range(n):
        row: dict[str, Any] = {"account_id": f"A-{rnd.randrange(12)}"}
        for attr in rnd.sample(["name", "employees", "website"], rnd.randrange(1, 4)):
            row[attr] = {
                "name": rnd.choice(["Acme", "Beta", None]),
                "employees": rnd.choice([1, 2, "lots"]),  # "lots" fails its row
                "website": rnd.choice(["a.example", "b.example"]),
            }[attr]
        rows.append(row)
    return rows


def _outcomes(result) -> list[tuple[Any, ...]]:
    # Errors start with the object type's name, which differs between the two loads.
    return [
        (r.index, r.status.value, r.key, sorted(r.changed or ()), r.error and r.error.split(" ", 1)[1])
        for r in result.results
    ]


def _stored(hub: HubService, object_type: str) -> dict[str, dict[str, Any]]:
    return {r.key: r.values for r in hub.list_records(object_type, limit=1000)}


def test_given_records_recurring_across_batches_when_pipelined_then_outcomes_and_hub_equal_the_serial_loop(
    hub: HubService, monkeypatch: pytest.MonkeyPatch
) -> None:
    attrs = [
        AttributeSpec("account_id", AttributeType.TEXT, is_key=True),
        AttributeSpec("name", AttributeType.TEXT),
        AttributeSpec("employees", AttributeType.NUMBER),
        AttributeSpec("website", AttributeType.TEXT),
    ]
    hub.define_object_type("piped", attributes=attrs)
    hub.define_object_type("serial", attributes=attrs)
    rows = _rows(240)
    piped = hub.upsert("piped", rows, stamp=Stamp("j", "r"), batch_size=4)
    monkeypatch.setattr(HubService, "PIPELINED", False)
    serial = hub.upsert("serial", rows, stamp=Stamp("j", "r"), batch_size=4)
    assert _outcomes(piped) == _outcomes(serial)
    counts = piped.counts()
    assert counts["created"] == 12 and counts["updated"] > 50 and counts["failed"] > 10
    assert _stored(hub, "piped") == _stored(hub, "serial")
    # Once more over the stored records: the same again, now mostly unchanged.
    again = hub.upsert("piped", rows, stamp=Stamp("j", "r2"), batch_size=4)
    monkeypatch.setattr(HubService, "PIPELINED", True)
    assert _outcomes(again) == _outcomes(hub.upsert("serial", rows, stamp=Stamp("j", "r2"), batch_size=4))


def _lock_is_free(hub: HubService, object_type: str) -> bool:
    type_id = hub.schema(object_type).id
    with hub.db.begin() as session:
        return bool(
            session.execute(
                text("SELECT pg_try_advisory_xact_lock(:ns, :id)"), {"ns": _PG_LOCK_NAMESPACE, "id": type_id}
            ).scalar()
        )


@pytest.fixture
def pg_hub(postgres_schema_url: str, tmp_path):  # type: ignore[no-untyped-def]
    from crmhub.config import Settings
    from crmhub.store.database import Database

    service = HubService(
        Database(postgres_schema_url),
        settings=Settings(home=tmp_path / "home", database_url=postgres_schema_url),
    )
    service.init()
    try:
        yield service
    finally:
        service.close()


def test_given_a_batch_the_server_refuses_when_pipelined_then_earlier_batches_stay_and_the_lock_is_free(
    pg_hub: HubService,
) -> None:
    with pg_hub.db.begin() as session:  # a server-side failure in the fourth batch's COPY
        session.execute(
            text(
                "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.key = 'boom' THEN RAISE EXCEPTION 'refused %', NEW.key; END IF; RETURN NEW; END $$"
            )
        )
        session.execute(
            text("CREATE TRIGGER refuse BEFORE INSERT ON record FOR EACH ROW EXECUTE FUNCTION refuse_boom()")
        )
    rows = [{"account_id": f"A-{i:02d}"} for i in range(30)]
    rows[17] = {"account_id": "boom"}
    with pytest.raises(Exception, match="refused boom"):
        pg_hub.upsert("account", rows, batch_size=5)
    stored = sorted(_stored(pg_hub, "account"))
    assert stored == [f"A-{i:02d}" for i in range(15)]  # batches 1-3; not 4 (refused) nor 5 (behind it)
    assert _lock_is_free(pg_hub, "account")
    assert pg_hub.upsert("account", rows[:3] + rows[20:]).counts()["created"] == 10  # the hub goes on


def test_given_a_pipelined_upsert_when_another_writer_waits_then_it_gets_its_turn_between_batches(
    pg_hub: HubService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(HubService, "PIPELINE_TURN", 2)
    other_done = threading.Event()
    seen: dict[str, bool] = {}
    errors: list[BaseException] = []

    def other_writer() -> None:
        try:
            pg_hub.upsert("account", [{"account_id": "OTHER", "name": "in between"}])
            other_done.set()
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    def waiting_advisory_locks() -> int:
        with pg_hub.db.read() as session:
            return int(
                session.execute(
                    text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                ).scalar()
                or 0
            )

    def rows():  # type: ignore[no-untyped-def]
        for i in range(40):
            if i == 4:  # the upsert holds the lock: the other writer must wait for it
                assert not _lock_is_free(pg_hub, "account")
                threading.Thread(target=other_writer, daemon=True).start()
                deadline = time.monotonic() + 10
                while waiting_advisory_locks() == 0:
                    assert time.monotonic() < deadline, "the other writer never waited for the lock"
                    time.sleep(0.01)
            if i == 39:
                # Still inside the upsert (it holds the lock again): the other writer can only be
                # done if it had a turn in between. Waiting a little absorbs a slow thread switch
                # on a loaded machine; without turns it never finishes before the upsert ends.
                seen["other_done_before_the_end"] = other_done.wait(timeout=10)
            yield {"account_id": f"A-{i:02d}"}

    result = pg_hub.upsert("account", rows(), batch_size=2)
    assert result.counts()["created"] == 40 and not errors
    assert seen == {"other_done_before_the_end": True}
    assert pg_hub.find_record("account", "OTHER").values["name"] == "in between"
    assert _lock_is_free(pg_hub, "account")
