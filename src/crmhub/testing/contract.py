"""The connector contract, shipped: the standard cases every connector passes against its emulator.

Each case is a plain function of a :class:`~crmhub.testing.rigs.Rig` that asserts; it declares the
capabilities it needs, and :func:`contract_cases` yields every case with the reason it does not
apply to a connector (a missing capability), so a runner skips it with that reason, never silently.
Run them from pytest with :func:`crmhub.testing.pytest_cases` (see ``docs/connectors.md``)::

    @pytest.mark.parametrize(("rig", "case"), *pytest_cases([MyRig()]))
    def test_contract(rig, case):
        skip_unless_applies(rig, case)
        case.check(rig)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from crmhub.connectors.base import REMOTE_ID, Capability, Connector, RemoteRecord
from crmhub.connectors.errors import ApiLimitError
from crmhub.core.cursor import Cursor
from crmhub.core.values import format_datetime
from crmhub.emulators._common.faults import FaultConfig
from crmhub.expr import ValueType, compile_converter, compile_python, fields, parse
from crmhub.testing.rigs import Rig, Session, read_all

__all__ = ["CASES", "ContractCase", "case", "contract_cases"]


@dataclass(frozen=True)
class ContractCase:
    """One standard case: its name (a given / when / then sentence), what it needs, the check."""

    name: str
    needs: tuple[Capability, ...]
    why: str
    run: Callable[[Rig], None]

    def skip_reason(self, rig: Rig) -> str | None:
        """Why this case does not apply to ``rig``'s connector, or ``None`` when it does."""
        missing = [c.value for c in self.needs if c not in rig.capabilities]
        if not missing:
            return None
        return f"{rig.kind} has no {', '.join(missing)} capability" + (f" ({self.why})" if self.why else "")

    def check(self, rig: Rig) -> None:
        """Run the case against ``rig`` (it raises AssertionError on a broken promise)."""
        self.run(rig)

    def __repr__(self) -> str:
        return self.name


CASES: list[ContractCase] = []


def case(*needs: Capability, why: str = "") -> Callable[[Callable[[Rig], None]], Callable[[Rig], None]]:
    """Register a contract case that needs ``needs`` (``why``: why a connector may lack them)."""

    def register(fn: Callable[[Rig], None]) -> Callable[[Rig], None]:
        CASES.append(ContractCase(fn.__name__.replace("_", " "), tuple(needs), why, fn))
        return fn

    return register


def contract_cases(rigs: Sequence[Rig]) -> Iterator[tuple[Rig, ContractCase, str | None]]:
    """Every (rig, case) pair with the reason the case is skipped for that rig (``None``: it runs)."""
    for rig in rigs:
        for item in CASES:
            yield rig, item, item.skip_reason(rig)


# -- helpers ----------------------------------------------------------------------------------------


def _value_types(connector: Connector, rig: Rig, object_name: str, paths: set[str]) -> dict[str, str]:
    """Hub value types of field paths (dot paths end at the parent's field)."""
    out = {}
    for path in paths:
        if "." in path:
            assert rig.names.parent is not None and rig.names.parent_field is not None
            info = connector.describe(rig.names.parent).field(rig.names.parent_field)
        else:
            info = connector.describe(object_name).field(path)
        assert info is not None, f"{object_name} has no field {path}"
        out[path] = info.value_type
    return out


def _matches_locally(connector: Connector, rig: Rig, object_name: str, text: str) -> Any:
    """A predicate evaluating filter ``text`` on raw record values the way crmhub does."""
    expr = parse(text)
    types = _value_types(connector, rig, object_name, fields(expr))
    converters = {p: compile_converter(t, None, field=p) for p, t in types.items()}  # type: ignore[arg-type]
    evaluate = compile_python(expr)

    def matches(record: RemoteRecord) -> bool:
        typed = {p: converters[p](record.values.get(p)) for p in converters}
        return evaluate(typed) is True

    return matches


def _keyed(s: Session, skip: int = 0) -> tuple[str, str]:
    """(id, key) of a record that has a value in the rig's key field (not every seeded record has one)."""
    keyed = [(i, s.value(i, s.rig.names.key)) for i in s.ids()]
    return [(i, str(k)) for i, k in keyed if k][skip]


def _ordered(rig: Rig, records: list[RemoteRecord]) -> bool:
    keys = [(r.modstamp, rig.id_order(r.id)) for r in records]
    return all(a < b for a, b in zip(keys, keys[1:], strict=False))


# -- discovery --------------------------------------------------------------------------------------


@case()
def given_a_connection_when_discovered_then_objects_types_picklists_external_ids_and_relationships_show(
    rig: Rig,
) -> None:
    n = rig.names
    with rig.open(size=20, children=5) as s:
        c = s.connector
        assert n.object in [o.name for o in c.list_objects()]
        described = c.describe(n.object)
        types = {f.name: f.value_type for f in described.fields}
        assert types[n.name] == "text"
        assert types[n.number] == "number"
        assert types[n.multi] == rig.multi_type
        if n.date:
            assert types[n.date] == "date"
        key = described.field(n.key)
        assert key is not None and key.external_id
        if rig.has_picklists:
            picklist = described.field(n.picklist)
            assert picklist is not None
            assert set(n.picklist_values) <= set(picklist.picklist_values)
            multi = described.field(n.multi)
            assert multi is not None and set(n.multi_values) <= set(multi.picklist_values)
        if Capability.INCREMENTAL in rig.capabilities:
            assert described.modstamp_field is not None
            assert types[described.modstamp_field] == "datetime"
        if Capability.RELATIONSHIPS in rig.capabilities:
            assert n.child and n.reference and n.path and n.parent
            reference = c.describe(n.child).field(n.reference)
            assert reference is not None
            assert reference.relationship_name == n.path.split(".")[0]
            assert n.parent in reference.reference_to


# -- preview ----------------------------------------------------------------------------------------


@case()
def given_records_when_previewed_with_a_filter_then_ten_matching_rows_come_back(rig: Rig) -> None:
    n = rig.names
    text = f'{n.picklist} IN ("{n.picklist_values[0]}", "{n.picklist_values[1]}")'
    with rig.open(size=400) as s:
        c = s.connector
        rows = c.preview(n.object, [n.name, n.picklist], filter=parse(text), limit=10)
        unfiltered = c.preview(n.object, [n.name], limit=10)
        matches = _matches_locally(c, rig, n.object, text)
        assert len(rows) == 10
        assert all(matches(r) for r in rows)
        assert len(unfiltered) == 10
        # Without the filter the first rows are mixed, so the filter is what made them all match.
        assert not all(matches(r) for r in c.preview(n.object, [n.picklist], limit=10))


# -- full read ----------------------------------------------------------------------------------------


@case()
def given_records_when_read_in_full_then_every_record_comes_once_in_modstamp_order_in_real_pages(
    rig: Rig,
) -> None:
    n = rig.names
    size, page_size = (1100, 200) if rig.min_page > 100 else (450, 100)
    with rig.open(size=size) as s:
        touched: list[str] = []
        if Capability.INCREMENTAL in rig.capabilities:
            touched = s.touch(
                25
            )  # the first records (by modstamp) move to the end: id order ≠ modstamp order
        records, pages = read_all(s.connector.read(n.object, [n.name, n.number], page_size=page_size))
        ids = [r.id for r in records]
        assert len(ids) == len(set(ids)) == s.count() == size
        assert set(ids) == set(s.ids())
        assert [len(p.records) for p in pages] == [page_size] * (size // page_size) + (
            [size % page_size] if size % page_size else []
        )
        assert len(pages) == math.ceil(size / page_size)
        if Capability.INCREMENTAL in rig.capabilities:
            assert _ordered(rig, records)
            assert ids[-25:] == sorted(touched, key=rig.id_order)  # one bulk change: one modstamp
            assert ids != sorted(ids, key=rig.id_order)
        else:
            assert ids == s.ids()  # a file reads in file order


@case(Capability.TOTAL_ESTIMATE)
def given_records_when_read_then_every_page_carries_the_total_to_read(rig: Rig) -> None:
    n = rig.names
    with rig.open(size=450) as s:
        _, pages = read_all(s.connector.read(n.object, [n.name], page_size=max(rig.min_page, 100)))
        assert len(pages) > 1
        assert {p.total for p in pages} == {450}


# -- incremental read with ties ---------------------------------------------------------------------


@case(Capability.INCREMENTAL, why="a file is read whole every time")
def given_5000_records_sharing_one_modstamp_when_a_run_stops_after_one_page_and_resumes_then_none_is_lost_or_read_twice(
    rig: Rig,
) -> None:
    n = rig.names
    with rig.open(size=5200) as s:
        tie = rig.stamp((s.now() - timedelta(minutes=10)).replace(microsecond=123_000))
        tied = set(s.set_modstamp(tie, 5000))
        # The first run reads one page, then stops (killed, cancelled …): its cursor is what it read.
        run = s.connector.read(n.object, [n.name], since=tie, page_size=200)
        first_page = next(run)
        run.close()  # type: ignore[attr-defined]
        cursor = Cursor().advance((r.modstamp, r.id) for r in first_page.records if r.modstamp)
        assert 0 < len(first_page.records) < 5000
        assert cursor.modstamp == tie.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert cursor.ids_at == {r.id for r in first_page.records}
        # The next run reads from the cursor (with a lookback) and drops what the cursor has seen.
        again, pages = read_all(
            s.connector.read(n.object, [n.name], since=cursor.read_from(timedelta(minutes=1)), page_size=200)
        )
        fresh = [r for r in again if not (r.modstamp and cursor.seen(r.modstamp, r.id))]
        first_ids = [r.id for r in first_page.records]
        fresh_ids = [r.id for r in fresh]
        assert len(again) == 5000  # the lower bound is inclusive: the first page comes again …
        assert len(pages) > 1
        assert not set(first_ids) & set(fresh_ids)  # … and is dropped by the cursor
        assert len(fresh_ids) == len(set(fresh_ids))
        assert set(first_ids) | set(fresh_ids) == tied
        assert _ordered(rig, again)


# -- dot paths ----------------------------------------------------------------------------------------


@case(Capability.RELATIONSHIPS, why="a file has no related records")
def given_a_relationship_path_when_read_then_each_value_is_the_related_records_field(rig: Rig) -> None:
    n = rig.names
    assert n.child and n.reference and n.path and n.parent and n.parent_field
    with rig.open(size=60, children=120) as s:
        c = s.connector
        children, _ = read_all(c.read(n.child, [n.reference, n.path]))
        parents, _ = read_all(c.read(n.parent, [n.parent_field]))
        parent_value = {p.id: p.values[n.parent_field] for p in parents}
        linked = [r for r in children if r.values[n.reference]]
        assert linked, "the emulator seeds related records"
        for record in children:
            ref = record.values[n.reference]
            assert record.values[n.path] == (parent_value.get(str(ref)) if ref else None), record
        # A filter on the path selects what evaluating it locally selects.
        wanted = next(r.values[n.path] for r in linked)
        text = f'{n.path} = "{wanted}"'
        filtered, _ = read_all(c.read(n.child, [n.reference, n.path], filter=parse(text)))
        matches = _matches_locally(c, rig, n.child, text)
        expected = {r.id for r in children if matches(r)}
        assert expected and len(expected) < len(children)
        assert {r.id for r in filtered} == expected


# -- filter push-down ---------------------------------------------------------------------------------


@case()
def given_a_filter_the_crm_can_only_partly_evaluate_when_read_then_pushed_and_residual_select_what_the_filter_selects(
    rig: Rig,
) -> None:
    n = rig.names
    text = rig.filter_with_residual()
    expr = parse(text)
    with rig.open(size=600) as s:
        c = s.connector
        if Capability.FILTER_PUSHDOWN in rig.capabilities:
            schema = {p: ValueType(t) for p, t in _value_types(c, rig, n.object, fields(expr)).items()}
            pushdown = rig.compile(expr, schema)
            assert pushdown.pushed is not None and pushdown.residual is not None, pushdown
        filtered, _ = read_all(c.read(n.object, [n.name], filter=expr, page_size=200))
        everything, _ = read_all(c.read(n.object, [n.name, n.picklist], page_size=200))
        matches = _matches_locally(c, rig, n.object, text)
        expected = {r.id for r in everything if matches(r)}
        assert 0 < len(expected) < len(everything)
        assert {r.id for r in filtered} == expected
        assert len(filtered) == len(expected)
        assert all(set(r.values) == {n.name} for r in filtered)  # filter-only fields are not returned


# -- deletes ------------------------------------------------------------------------------------------


@case(Capability.DELETES, why="a file cannot say what was removed from it")
def given_records_deleted_in_the_crm_when_read_incrementally_with_deletes_then_they_come_marked_deleted(
    rig: Rig,
) -> None:
    n = rig.names
    with rig.open(size=200, children=0) as s:
        before = s.now() - timedelta(seconds=1)
        gone = s.ids()[10:13]
        for record_id in gone:
            s.delete(record_id)
        changed, _ = read_all(s.connector.read(n.object, [n.name], since=before, include_deleted=True))
        live, _ = read_all(s.connector.read(n.object, [n.name], since=before))
        assert {r.id for r in changed if r.deleted} == set(gone)
        assert all(r.modstamp is not None and r.modstamp >= format_datetime(before) for r in changed)
        assert not {r.id for r in live} & set(gone)
        assert s.count() == 197


# -- writes ---------------------------------------------------------------------------------------------


@case()
def given_a_batch_with_good_and_bad_records_when_created_then_each_result_says_which(rig: Rig) -> None:
    n = rig.names
    with rig.open(size=30, children=0) as s:
        _, existing_key = _keyed(s)
        records = [
            rig.record(name="Contract One", number=10, multi=list(n.multi_values), key="CT-0001"),
            rig.record(name="Contract Duplicate", key=existing_key),  # the key is taken
            rig.record(name="Contract Two", key="CT-0002"),
        ]
        if rig.typed:
            records.append(rig.record(name="Contract Bad", number="lots", key="CT-0003"))
        results = s.connector.write(n.object, records, mode="create", match=n.key)
        assert [r.index for r in results] == list(range(len(records)))
        assert [r.ok for r in results] == [True, False, True] + ([False] if rig.typed else [])
        assert all(r.error_code and r.message for r in results if not r.ok)
        assert all(r.created for r in results if r.ok)
        if rig.typed:
            assert n.number in results[3].fields or n.number.lower() in (results[3].message or "").lower()
        one = results[0].remote_id
        assert one is not None
        assert s.value(one, n.name) == "Contract One"
        assert sorted(str(s.value(one, n.multi)).split(";")) == sorted(n.multi_values)
        assert s.count() == 32


@case()
def given_a_batch_with_good_and_bad_records_when_updated_then_each_result_says_which(rig: Rig) -> None:
    n = rig.names
    with rig.open(size=30, children=0) as s:
        ids = s.ids()
        missing = ids[5]
        if rig.kind == "csv":
            missing = "99999"
        else:
            s.delete(missing)
        records = [{REMOTE_ID: ids[0], n.name: "Renamed"}, {REMOTE_ID: missing, n.name: "Nobody"}]
        if rig.typed:
            records.append({REMOTE_ID: ids[1], n.number: "lots"})
        results = s.connector.write(n.object, records, mode="update")
        assert [r.ok for r in results] == [True, False] + ([False] if rig.typed else [])
        assert results[0].created is False
        assert all(r.error_code and r.message for r in results[1:])
        assert s.value(ids[0], n.name) == "Renamed"
        if rig.typed:
            assert str(s.value(ids[1], n.number)) != "lots"


@case(Capability.UPSERT)
def given_a_batch_with_new_existing_and_bad_records_when_upserted_then_each_result_says_which(
    rig: Rig,
) -> None:
    n = rig.names
    with rig.open(size=30, children=0) as s:
        target, existing_key = _keyed(s, skip=1)
        records = [
            rig.record(key="UP-0001", name="Upserted New"),
            rig.record(key=existing_key, name="Upserted Old"),
        ]
        if rig.typed:
            records.append(rig.record(key="UP-0002", name="Upserted Bad", number="lots"))
        results = s.connector.write(n.object, records, mode="upsert", match=n.key)
        assert [(r.ok, r.created) for r in results[:2]] == [(True, True), (True, False)]
        if rig.typed:
            assert not results[2].ok and results[2].error_code
        assert results[1].remote_id == target
        assert s.value(target, n.name) == "Upserted Old"
        assert s.count() == 31


# -- rate limits, tokens, daily limit ------------------------------------------------------------------------


@case(Capability.REMOTE_API, why="files have no rate limit")
def given_a_storm_of_429s_with_retry_after_when_read_then_every_record_arrives_once_and_usage_counts_retries(
    rig: Rig,
) -> None:
    n = rig.names
    page_size = max(rig.min_page, 100)
    with rig.open(size=1000) as s:
        s.connector.describe(n.object)
        s.faults(FaultConfig(rate_limit_rate=0.3, retry_after_seconds=2, seed=11))
        records, _ = read_all(s.connector.read(n.object, [n.name], page_size=page_size))
        refused = s.injected("rate_limit")
        assert refused > 0
        assert sorted(r.id for r in records) == sorted(s.ids())
        assert s.connector.usage.retries == refused
        assert s.sleeps.count(2.0) == refused  # each wait honoured Retry-After
        assert s.connector.usage.as_dict()["retries"] == refused


@case(Capability.REMOTE_API, why="files have no HTTP bodies")
def given_page_bodies_cut_in_half_when_read_then_each_page_is_asked_again_and_every_record_arrives_once(
    rig: Rig,
) -> None:
    n = rig.names
    page_size = max(rig.min_page, 100)
    with rig.open(size=1000) as s:
        s.connector.describe(n.object)
        s.faults(FaultConfig(malformed_rate=0.3, seed=7))
        records, _ = read_all(s.connector.read(n.object, [n.name], page_size=page_size))
        assert s.injected("malformed") > 0
        assert sorted(r.id for r in records) == sorted(s.ids())
        assert _ordered(rig, records)


@case(Capability.REMOTE_API, why="files need no token")
def given_tokens_that_expire_between_pages_when_read_then_the_token_is_refreshed_and_no_page_is_lost(
    rig: Rig,
) -> None:
    n = rig.names
    page_size = max(rig.min_page, 100)
    with rig.open(size=800, oauth=True) as s:
        s.connector.describe(n.object)  # logged in: from here on, tokens expire under the read
        # Connectors fetch pages ahead in a helper thread, so "between pages" is decided by the
        # emulator: a seeded share of the page requests finds every token expired (seed 4: one or two
        # expiries, never two in a row, for each rig).
        s.faults(FaultConfig(expired_token_rate=0.34, seed=4))
        pages = list(s.connector.read(n.object, [n.name], page_size=page_size))
        s.faults(FaultConfig())
        records = [r for p in pages for r in p.records]
        assert sorted(r.id for r in records) == sorted(s.ids())
        assert _ordered(rig, records)
        assert len(pages) == 800 // page_size
        expired = s.injected("expired_token")
        assert expired >= 1
        assert s.connector.usage.refreshed_tokens == expired


@case(Capability.REMOTE_API, why="files need no token")
def given_a_session_that_expires_again_while_a_call_waits_out_a_rate_limit_then_the_call_succeeds(
    rig: Rig,
) -> None:
    n = rig.names
    with rig.open(size=20, children=0, oauth=True) as s:
        target = s.ids()[0]
        s.connector.describe(n.object)  # logged in: the next API request is the write
        # Each forced fault hits one API request, in order (never the token endpoint): the session
        # expires (401), the retry meets a rate limit (429), then the session has expired again (401).
        s.faults(FaultConfig(retry_after_seconds=0))
        s.emulator.inject_fault("expired_token")
        s.emulator.inject_fault("rate_limit")
        s.emulator.inject_fault("expired_token")
        results = s.connector.write(
            n.object, [{REMOTE_ID: target, n.name: "Written after two expiries"}], mode="update"
        )
        assert [r.ok for r in results] == [True], results
        assert s.value(target, n.name) == "Written after two expiries"
        assert (s.injected("expired_token"), s.injected("rate_limit")) == (2, 1)
        assert s.connector.usage.refreshed_tokens == 2


@case(Capability.REMOTE_API, why="files have no API limit")
def given_the_daily_limit_is_reached_mid_read_then_a_limit_error_stops_the_read_and_the_cursor_resumes_it(
    rig: Rig,
) -> None:
    n = rig.names
    page_size = max(rig.min_page, 100)
    with rig.open(size=900) as s:
        s.connector.describe(n.object)  # logged in and described: what is left is the pages
        s.allow_calls(2)
        pages = []
        stopped: ApiLimitError | None = None
        try:
            for page in s.connector.read(n.object, [n.name], page_size=page_size):
                pages.append(page)
        except ApiLimitError as exc:
            stopped = exc
        assert stopped is not None, "the read did not stop at the daily limit"
        assert "limit" in str(stopped).lower()
        assert stopped.hint and "cursor" in stopped.hint
        read = [r for p in pages for r in p.records]
        assert [len(p.records) for p in pages] == [page_size, page_size]
        assert _ordered(rig, read)
        cursor = Cursor().advance((r.modstamp, r.id) for r in read if r.modstamp)
        s.new_day()
        rest, _ = read_all(s.connector.read(n.object, [n.name], since=cursor.read_from(timedelta(0))))
        rest = [r for r in rest if not (r.modstamp and cursor.seen(r.modstamp, r.id))]
        ids = [r.id for r in read] + [r.id for r in rest]
        assert len(ids) == len(set(ids)) == 900
        assert set(ids) == set(s.ids())
