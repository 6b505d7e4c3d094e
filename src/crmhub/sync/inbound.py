"""Inbound runs: CRM (or file) → hub.

Per page, in one transaction: drop records the cursor has seen; skip records whose hash equals
their link's last-received hash (unchanged at the source, no mapping, no write); map the rest;
resolve identity (link → key → create if allowed); upsert with per-attribute stamps (most recent
wins when the job says so); create and refresh links; advance the cursor; record counts and errors.
A killed run resumes from the last committed page. A full sync then applies the delete policy to
linked records it did not see.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from crmhub.connectors.base import REMOTE_ID, Capability, Page, RemoteRecord
from crmhub.core.clock import utcnow
from crmhub.core.concurrency import prefetch
from crmhub.core.cursor import Cursor
from crmhub.core.errors import ValidationError
from crmhub.core.perf import gc_paused
from crmhub.mapping.transform import Transformer
from crmhub.store import links as link_repo
from crmhub.store import records as record_repo
from crmhub.store import runs as run_repo
from crmhub.store.database import StatisticsKeeper
from crmhub.store.models import Job, Run
from crmhub.store.records import Outcome, Stamp
from crmhub.store.schema import load_schema
from crmhub.sync.common import (
    Counts,
    Progress,
    SnapshotWriter,
    fingerprint,
    json_hash,
    open_snapshot,
    record_docs,
    save_snapshot,
)
from crmhub.sync.context import Cancelled, DryRunRollback, RunContext
from crmhub.sync.identity import Identifier
from crmhub.sync.readahead import PreparedPage, ReadOrder, read_in_child


class InboundRun:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.spec = ctx.spec
        self.settings = ctx.spec.settings
        self.counts = Counts()
        self.errors = 0
        self.stamp = Stamp(job=str(ctx.job_id), run=ctx.run_id)
        with ctx.db.read() as session:
            self.schema = load_schema(session, self.spec.object_type)
            #: object type name → id, for the types this job's foreign keys point at
            self.reference_types = {
                name: load_schema(session, name).id for name in set(self.schema.references.values())
            }
            run = run_repo.get_run(session, ctx.run_id)
            self.counts = Counts.from_dict(run.counts)
            self.errors = run_repo.count_errors(session, ctx.run_id)
        if self.schema.key is None:
            raise ValidationError(f"object type {self.spec.object_type!r} has no key attribute")
        self.transformer = Transformer.compile(
            self.spec.mapping, target_types=self.schema.types, canonical=True
        )
        #: Foreign-key targets: the source gives a remote id, the hub stores the linked record's hub id.
        self.fk_targets = [
            r.target for r in self.spec.mapping if self.schema.types.get(r.target) == "foreign_key"
        ]
        self.unresolved = 0
        self.identifier = Identifier(
            schema=self.schema,
            connection_id=ctx.connection_id,
            remote_object=self.spec.remote_object,
            match_on=list(self.spec.match_on),
        )
        self.statistics = StatisticsKeeper()
        self.salt = fingerprint(ctx.job_version, [r.model_dump(mode="json") for r in self.spec.mapping])
        self.fields = self._fields()
        self.pages = 0  #: pages this process has handled
        #: After a hand-off: the reader's usage so far, and how much to add to its total estimates.
        self.reader_usage: dict[str, Any] = {}
        self.total_offset = 0

    def _fields(self) -> list[str]:
        wanted = list(self.spec.fields)
        for row in self.spec.mapping:
            if row.source is not None and row.source not in wanted:
                wanted.append(row.source)
        if self.spec.mapping and any(r.expression for r in self.spec.mapping):
            from crmhub.expr import fields as expr_fields
            from crmhub.expr import parse

            for row in self.spec.mapping:
                if row.expression:
                    for path in sorted(expr_fields(parse(row.expression))):
                        if path not in wanted:
                            wanted.append(path)
        return wanted

    # The run ------------------------------------------------------------------------------

    def execute(self) -> Counts:
        ctx = self.ctx
        state = dict(ctx.state)
        #: A dry full sync's pages roll back their seen-marks: the links they saw, for the delete count.
        self.dry_seen: set[int] = set()
        if self.settings.stamp_hub_id_field and not ctx.dry_run:
            self._finish_write_backs()
        # A source that cannot read "since" (a file) is read whole every time: a full sync.
        full = ctx.mode == "full" or Capability.INCREMENTAL not in ctx.connector.capabilities
        if full:
            resumed = state.get("full_sync") or {}
            full_started = resumed.get("started_at") or ctx.started_at.isoformat()
            cursor = Cursor.from_json(resumed.get("cursor"))
            since = cursor.read_from(timedelta(0)) if cursor.modstamp else None
        else:
            full_started = None
            cursor = Cursor.from_json(state.get("cursor"))
            since = cursor.read_from(timedelta(seconds=self.settings.lookback_seconds))
        filter_ast = None
        if self.spec.filter:
            from crmhub.expr import parse

            filter_ast = parse(self.spec.filter)
        pages = ctx.connector.read(
            self.spec.remote_object,
            self.fields,
            filter=filter_ast,
            since=since,
            until=ctx.started_at,
            page_size=self.settings.batch_size,
            include_deleted=not full,
        )
        snapshot = open_snapshot(ctx)
        try:
            with gc_paused() as collect:
                order: ReadOrder | None = None
                source = prefetch(iter(pages))
                try:
                    for page in source:
                        cursor = self._page(
                            page, cursor, full=full, full_started=full_started, snapshot=snapshot
                        )
                        collect()  # the collector is paused: free this page's reference cycles now
                        if self.pages == 1 and (order := self._read_order(page, cursor, full=full)):
                            break
                finally:
                    source.close()
                if order is not None:
                    # The rest of a big read: pages come prepared from a reader process.
                    close = getattr(pages, "close", None)
                    if close is not None:
                        close()
                    prepared = read_in_child(order)
                    try:
                        for ready in prepared:
                            cursor = self._page(
                                ready, cursor, full=full, full_started=full_started, snapshot=snapshot
                            )
                            collect()
                    finally:
                        prepared.close()
            if full and full_started is not None:
                self._reconcile_deletes(datetime.fromisoformat(full_started), cursor)
            if self.unresolved and not ctx.dry_run:
                with ctx.db.begin() as session:
                    run_repo.add_event(
                        session,
                        ctx.run_id,
                        "references",
                        f"{self.unresolved} reference(s) point at records not linked yet; they are filled in "
                        "when a later run finds the parents linked",
                    )
        finally:
            save_snapshot(ctx, snapshot)
        return self.counts

    def _read_order(self, page: Page, cursor: Cursor, *, full: bool) -> ReadOrder | None:
        """After the first page: hand the rest of a big read to a reader process, or None to go on here.

        The reader starts from the committed cursor (as a resumed run would), so it needs a source that
        reads "since" and a cursor that moved; the records at the cursor's modstamp that were read
        already are read again and dropped by the cursor.
        """
        ctx, policy = self.ctx, self.ctx.read_process
        if policy is None or not policy.min_records or page.total is None or cursor.modstamp is None:
            return None
        left = page.total - len(page.records) - len(page.rejected)
        if left < policy.min_records or Capability.INCREMENTAL not in ctx.connector.capabilities:
            return None
        order = ReadOrder(
            recipe=policy.recipe(ctx.connection_id),
            remote_object=self.spec.remote_object,
            fields=self.fields,
            filter=self.spec.filter or None,
            since=cursor.read_from(timedelta(0)),
            until=ctx.started_at,
            page_size=self.settings.batch_size,
            include_deleted=not full,
            mapping=[r.model_dump(mode="json") for r in self.spec.mapping],
            target_types=dict(self.schema.types),
            salt=self.salt,
            cursor=cursor,
        )
        #: The reader's query counts only what is left (and the records at the cursor again).
        self.total_offset = self.counts.read - len(cursor.ids_at)
        if not ctx.dry_run:
            with ctx.db.begin() as session:
                run_repo.add_event(
                    session,
                    ctx.run_id,
                    "reader_process",
                    f"about {left} records left to read: the read continues in a reader process "
                    "(fetching, parsing and mapping on another core)",
                    {"records_left": left},
                )
        return order

    def _page(
        self,
        page: Page | PreparedPage,
        cursor: Cursor,
        *,
        full: bool,
        full_started: str | None,
        snapshot: SnapshotWriter,
    ) -> Cursor:
        ctx = self.ctx
        self.pages += 1
        digests: list[str] | None = None
        mapped: list[Any] | None = None
        if isinstance(page, PreparedPage):
            # From the reader process: cursor-filtered, serialized, hashed and mapped already.
            ctx.connector.usage.add_from(page.usage, self.reader_usage)
            self.reader_usage = page.usage
            fresh, digests, mapped = page.records(), page.digests, page.mapped_rows()
            docs: list[bytes] = []
            snapshot.write_lines(page.snapshot, len(fresh))
            total = None if page.total is None else page.total + self.total_offset
        else:
            fresh = [
                r for r in page.records if not (r.modstamp is not None and cursor.seen(r.modstamp, r.id))
            ]
            # Each record's values are serialized once: for its snapshot line and for its hash.
            docs = record_docs(fresh)
            snapshot.write_read(fresh, docs)
            total = page.total
        ledger: list[dict[str, Any]] = [
            {
                "phase": "read",
                "row": rej.row,
                "remote_id": rej.remote_id,
                "raw_value": rej.raw,
                "message": rej.message,
                "error_class": "RejectedRow",
            }
            for rej in page.rejected
        ]
        counts = self.counts
        counts.read += len(fresh) + len(page.rejected)
        counts.failed += len(page.rejected)
        new_cursor = cursor.advance((r.modstamp, r.id) for r in fresh if r.modstamp is not None).capped(
            ctx.started_at
        )
        now = utcnow()
        write_backs: list[tuple[str, str]] = []
        try:
            with ctx.db.begin() as session:
                self._apply(
                    session, fresh, docs, digests, mapped, ledger, now=now, full=full, write_backs=write_backs
                )
                run_repo.add_errors(session, ctx.run_id, ledger)
                self.errors += len(ledger)
                if not ctx.dry_run:
                    self.statistics.grown(session, self.counts.created)
                cancel = self._checkpoint(
                    session,
                    new_cursor,
                    full=full,
                    full_started=full_started,
                    total=total,
                    snapshot=snapshot,
                )
                if ctx.dry_run:
                    if full and full_started is not None:
                        self._note_dry_seen(session, fresh, datetime.fromisoformat(full_started))
                    raise DryRunRollback
                if write_backs:
                    # Committed with the links: a kill before the CRM takes the stamps leaves them pending.
                    link_repo.mark_write_back_pending(
                        session,
                        connection_id=ctx.connection_id,
                        remote_object=self.spec.remote_object,
                        remote_ids=[remote for remote, _ in write_backs],
                    )
        except DryRunRollback:
            cancel = self._dry_checkpoint(ledger, total)
        if write_backs and not ctx.dry_run:
            self._write_back(write_backs)
        if ctx.on_progress is not None:
            ctx.on_progress(Progress(ctx.run_id, counts.read, total, counts))
        if cancel:
            raise Cancelled
        return new_cursor

    def _apply(
        self,
        session: Session,
        records: list[RemoteRecord],
        docs: list[bytes],
        digests: list[str] | None,
        mapped: list[Any] | None,
        ledger: list[dict[str, Any]],
        *,
        now: datetime,
        full: bool,
        write_backs: list[tuple[str, str]],
    ) -> None:
        """``digests`` and ``mapped`` come from a reader process; otherwise they are computed here."""
        ctx, counts, spec = self.ctx, self.counts, self.spec
        deleted = [r for r in records if r.deleted]
        links = link_repo.link_states_by_remote(
            session,
            connection_id=ctx.connection_id,
            remote_object=spec.remote_object,
            remote_ids=[r.id for r in records],
        )
        seen_links: list[int] = []
        by_hub: list[tuple[RemoteRecord, str, dict[str, Any]]] = []
        unlinked: list[tuple[RemoteRecord, str, dict[str, Any]]] = []
        remote_attr = self.settings.remote_id_attribute
        salt = self.salt
        transform = self.transformer
        for i, record in enumerate(records):
            if record.deleted:
                continue
            digest = json_hash(salt, docs[i]) if digests is None else digests[i]
            link = links.get(record.id)
            if link is not None and link.last_received_hash == digest:
                counts.unchanged += 1
                counts.by_link += 1
                seen_links.append(link.id)
                continue
            row, field_errors = transform(record.values) if mapped is None else mapped[i]
            if field_errors:
                if link is not None:  # read, if not loaded: a full sync must not take it for deleted
                    seen_links.append(link.id)
                counts.failed += 1
                for err in field_errors:
                    ledger.append(
                        {
                            "phase": "map",
                            "row": record.row,
                            "remote_id": record.id,
                            "field": err.source,
                            "raw_value": None if err.raw is None else str(err.raw)[:2000],
                            "message": f"{spec.remote_object} {record.id} → {err.target}: {err.message}",
                            "error_class": err.error_class,
                        }
                    )
                continue
            if remote_attr:
                row[remote_attr] = record.id
            if link is not None:
                row["hub_id"] = link.hub_id
                by_hub.append((record, digest, row))
            else:
                unlinked.append((record, digest, row))

        if self.fk_targets:
            pending = self._resolve_references(session, [row for _, _, row in by_hub + unlinked])
            if pending:
                # Not remembered as received: the record is loaded again once its parent is linked.
                by_hub = [(r, "" if id(row) in pending else d, row) for r, d, row in by_hub]
                unlinked = [(r, "" if id(row) in pending else d, row) for r, d, row in unlinked]
        counts.by_link += len(by_hub)
        #: how each record without a link was identified (record id → route), for its new link
        routes: dict[str, str] = {}
        by_key: list[tuple[RemoteRecord, str, dict[str, Any]]] = []
        keyless: list[tuple[RemoteRecord, str, dict[str, Any]]] = []
        if unlinked:
            identified = self.identifier.resolve(session, unlinked)
            for item, _hub_id, route in identified.existing:
                routes[item[0].id] = route
                by_hub.append(item)
                if route == "key":
                    counts.by_key += 1
                else:
                    counts.by_match += 1
            by_key, keyless = identified.keyed, identified.keyless
            counts.failed += len(identified.refused)
            ledger.extend(identified.refused)
        # record, digest, hub id, whether a link is to be made, whether the hub record is new
        received: list[tuple[RemoteRecord, str, str, bool, bool]] = []
        for items, match in ((by_hub, "hub_id"), (by_key, "key"), (keyless, "create")):
            if not items:
                continue
            result = record_repo.upsert_records(
                session,
                self.schema,
                [row for _, _, row in items],
                stamp=self.stamp,
                source_times=[rec.modstamp for rec, _, _ in items],
                match=match,
                most_recent=self.settings.most_recent_wins,
                create=self.settings.create_records,
                now=now,
                coerced=True,
            )
            for (record, digest, _row), outcome in zip(items, result.results, strict=True):
                status = outcome.status
                if outcome.key_conflict is not None:
                    ledger.append(self._key_conflict(record, outcome))
                if status in (Outcome.FAILED, Outcome.IGNORED) and record.id in links:
                    seen_links.append(links[record.id].id)  # seen at the source all the same
                if status is Outcome.FAILED:
                    counts.failed += 1
                    ledger.append(
                        {
                            "phase": "load",
                            "row": record.row,
                            "remote_id": record.id,
                            "field": outcome.attribute,
                            "raw_value": None if outcome.value is None else str(outcome.value)[:2000],
                            "message": outcome.error or "rejected",
                            "error_class": "ValueConversionError",
                        }
                    )
                    continue
                if status is Outcome.IGNORED:
                    counts.ignored += 1
                    continue
                setattr(counts, status.value, getattr(counts, status.value) + 1)
                assert outcome.hub_id is not None
                if match != "hub_id":
                    routes[record.id] = "key" if status is not Outcome.CREATED else "created"
                    if status is not Outcome.CREATED:
                        counts.by_key += 1  # a record of this page named the same key first
                received.append(
                    (record, digest, outcome.hub_id, record.id not in links, status is Outcome.CREATED)
                )

        # Links: refresh existing ones, create new ones (a hub record can be linked once per remote object).
        link_repo.mark_received(
            session, [(links[r.id].id, d) for r, d, _h, new, _c in received if not new], now=now, seen=full
        )
        fresh_links = [(r, d, h, created) for r, d, h, new, created in received if new]
        if fresh_links:
            self._create_links(
                session, fresh_links, ledger, routes, now=now, full=full, write_backs=write_backs
            )
        if full and seen_links:
            link_repo.mark_seen(session, seen_links, now=now)
        if deleted:
            self._deleted(session, [links[r.id] for r in deleted if r.id in links])

    def _resolve_references(self, session: Session, rows: list[dict[str, Any]]) -> set[int]:
        """Turn remote ids in foreign-key targets into hub ids through this connection's links.

        A reference to a record the hub has not linked (not synced yet, or filtered out) is left
        empty and counted; the next sync after the parent arrives fills it in.
        """
        pending: set[int] = set()
        found: dict[str, dict[str, str]] = {}  # object type → remote id → hub id
        for object_type in {self.schema.references.get(t) for t in self.fk_targets}:
            attrs = [t for t in self.fk_targets if self.schema.references.get(t) == object_type]
            wanted = {row[t] for row in rows for t in attrs if row.get(t)}
            if wanted:
                found[object_type or ""] = link_repo.hub_ids_of_remote(
                    session,
                    connection_id=self.ctx.connection_id,
                    remote_ids=list(wanted),
                    type_id=self.reference_types.get(object_type) if object_type else None,
                )
        if not found:
            return pending
        for row in rows:
            for target in self.fk_targets:
                value = row.get(target)
                if value:
                    hub_id = found.get(self.schema.references.get(target) or "", {}).get(value)
                    if hub_id is None:
                        self.unresolved += 1
                        pending.add(id(row))
                    row[target] = hub_id
        return pending

    def _create_links(
        self,
        session: Session,
        items: list[tuple[RemoteRecord, str, str, bool]],
        ledger: list[dict[str, Any]],
        routes: dict[str, str],
        *,
        now: datetime,
        full: bool,
        write_backs: list[tuple[str, str]],
    ) -> None:
        ctx, spec = self.ctx, self.spec
        # A hub record this batch created has no links yet; one it matched by key may have one.
        taken = {
            hub_id: state.remote_id
            for hub_id, state in link_repo.link_states_by_hub(
                session,
                connection_id=ctx.connection_id,
                remote_object=spec.remote_object,
                hub_ids=[h for _, _, h, created in items if not created],
            ).items()
        }
        rows = []
        claimed: set[str] = set()
        for record, digest, hub_id, created in items:
            other = taken.get(hub_id)
            if other is not None or hub_id in claimed:
                ledger.append(
                    {
                        "phase": "link",
                        "row": record.row,
                        "remote_id": record.id,
                        "hub_id": hub_id,
                        "message": f"{spec.remote_object} {record.id} has the same key as {other or 'another record'}, "
                        f"which is linked to hub record {hub_id} already; the values were merged into it",
                        "error_class": "DuplicateKey",
                    }
                )
                continue
            claimed.add(hub_id)
            rows.append(
                {
                    "hub_id": hub_id,
                    "connection_id": ctx.connection_id,
                    "remote_object": spec.remote_object,
                    "remote_id": record.id,
                    "last_received_hash": digest,
                    "last_received_at": now,
                    "last_seen_at": now if full else None,
                    "created_at": now,
                    "matched_by": routes.get(record.id, "created" if created else "key"),
                }
            )
            if self.settings.stamp_hub_id_field:
                write_backs.append((record.id, hub_id))
        if rows:
            link_repo.insert_links(session, rows)

    def _key_conflict(self, record: RemoteRecord, outcome: Any) -> dict[str, Any]:
        """The ledger row of a row that would have changed the key of the record it reached."""
        current, refused = outcome.key_conflict
        key_attr = self.schema.key
        held = f"is {current}" if current is not None else f"{refused} belongs to another record"
        return {
            "phase": "identify",
            "row": record.row,
            "remote_id": record.id,
            "hub_id": outcome.hub_id,
            "field": key_attr,
            "raw_value": None if refused is None else str(refused)[:2000],
            "message": (
                f"key conflict: {key_attr} {held}, this job would set {refused}; the key was kept and the "
                f"rest of {self.spec.remote_object} {record.id} applied (change a key with "
                "`crmhub records set-key`)"
            ),
            "error_class": "KeyConflict",
        }

    def _deleted(self, session: Session, links: list[link_repo.LinkState]) -> None:
        """Records the source reports deleted: apply the job's delete policy."""
        policy = self.settings.delete_policy
        if not links or policy == "keep":
            return
        if policy == "soft_delete":
            self.counts.deleted += record_repo.soft_delete(session, [link.hub_id for link in links])
            # Forget what was received, so a record that comes back is loaded (and revived) again.
            link_repo.forget_received(session, [link.id for link in links])
        else:  # unlink
            self.counts.deleted += link_repo.delete_links(session, [link.id for link in links])

    def _reconcile_deletes(self, full_started: datetime, cursor: Cursor) -> None:
        """After a full sync: linked records the sync did not see were deleted at the source."""
        ctx, spec, policy = self.ctx, self.spec, self.settings.delete_policy
        with ctx.db.begin() as session:
            rows = link_repo.unseen_since(
                session, connection_id=ctx.connection_id, remote_object=spec.remote_object, since=full_started
            )
            if ctx.dry_run:  # what the dry pages saw was rolled back with them
                rows = [row for row in rows if row[0] not in self.dry_seen]
            if rows and policy != "keep":
                link_ids = [lid for lid, _ in rows]
                if policy == "soft_delete":
                    ids = [hub_id for _, hub_id in rows]
                    for start in range(0, len(ids), 2000):
                        self.counts.deleted += record_repo.soft_delete(session, ids[start : start + 2000])
                    link_repo.forget_received(session, link_ids)
                else:
                    self.counts.deleted += link_repo.delete_links(session, link_ids)
            run_repo.add_event(
                session,
                ctx.run_id,
                "deletes",
                f"full sync: {len(rows)} linked record(s) not seen at the source; policy {policy}",
            )
            job = session.get(Job, ctx.job_id)
            if job is not None and not ctx.dry_run:
                state = dict(job.state)
                main = Cursor.from_json(state.get("cursor"))
                if cursor.modstamp and (main.modstamp is None or cursor.modstamp > main.modstamp):
                    main = cursor
                state["cursor"] = main.to_json()
                state["last_full_sync_at"] = full_started.isoformat()
                state.pop("full_sync", None)
                job.state = state
            run = session.get(Run, ctx.run_id)
            if run is not None:
                run.counts = self.counts.as_dict()
            if ctx.dry_run:
                session.rollback()

    def _checkpoint(
        self,
        session: Session,
        cursor: Cursor,
        *,
        full: bool,
        full_started: str | None,
        total: int | None,
        snapshot: SnapshotWriter,
    ) -> bool:
        """Commit the cursor and the snapshot's end with the batch; record progress; True if a cancel was asked."""
        ctx = self.ctx
        job = session.get(Job, ctx.job_id)
        assert job is not None
        state = dict(job.state)
        if full:
            state["full_sync"] = {"started_at": full_started, "cursor": cursor.to_json()}
        else:
            state["cursor"] = cursor.to_json()
        job.state = state
        run = session.get(Run, ctx.run_id)
        assert run is not None
        run.counts = self.counts.as_dict()
        run.progress_done = self.counts.read
        if total is not None:
            run.progress_total = total
        run.usage = ctx.connector.usage.as_dict()
        run.heartbeat_at = utcnow()
        if not ctx.dry_run:
            # The page's snapshot member was compressed while the page was loaded; this wait is short.
            run.checkpoint = {**run.checkpoint, "snapshot": snapshot.checkpoint().to_json()}
        return bool(run.cancel_requested)

    def _dry_checkpoint(self, ledger: list[dict[str, Any]], total: int | None) -> bool:
        """After a dry page rolled back: keep the run's own record (its ledger, progress, heartbeat) up
        to date, as a real page does — the hub and the job stay untouched. True if a cancel was asked."""
        with self.ctx.db.begin() as session:
            run_repo.add_errors(session, self.ctx.run_id, ledger)
            run = session.get(Run, self.ctx.run_id)
            assert run is not None
            run.counts = self.counts.as_dict()
            run.progress_done = self.counts.read
            if total is not None:
                run.progress_total = total
            run.heartbeat_at = utcnow()
            return bool(run.cancel_requested)

    def _note_dry_seen(self, session: Session, records: list[RemoteRecord], since: datetime) -> None:
        """Remember the links a dry full-sync page marked seen, before the page rolls back."""
        self.dry_seen.update(
            link_repo.seen_since(
                session,
                connection_id=self.ctx.connection_id,
                remote_object=self.spec.remote_object,
                remote_ids=[r.id for r in records if not r.deleted],
                since=since,
            )
        )

    def _finish_write_backs(self) -> None:
        """Stamp the hub ids a killed (or failed) run committed links for but never wrote to the CRM."""
        ctx, after = self.ctx, 0
        while True:
            with ctx.db.read() as session:
                pending = link_repo.pending_write_backs(
                    session,
                    connection_id=ctx.connection_id,
                    remote_object=self.spec.remote_object,
                    after_id=after,
                    limit=self.settings.batch_size,
                )
            if not pending:
                return
            after = pending[-1][0]
            self._write_back([(remote, hub) for _, remote, hub in pending])

    def _write_back(self, pairs: list[tuple[str, str]]) -> None:
        """Stamp the hub id into the remote records just linked (e.g. Hub_ID__c); clear what the CRM took."""
        field = self.settings.stamp_hub_id_field
        assert field is not None
        results = self.ctx.connector.write(
            self.spec.remote_object,
            [{REMOTE_ID: remote, field: hub} for remote, hub in pairs],
            mode="update",
        )
        # Rejected stamps stay pending (the next run tries again) and are ledger rows of this one.
        done = [pairs[r.index][0] for r in results if r.ok]
        failures = [
            {
                "phase": "write_back",
                "remote_id": pairs[r.index][0],
                "hub_id": pairs[r.index][1],
                "field": field,
                "message": f"could not stamp the hub id into {field}: {r.error_code}: {r.message}",
                "error_class": "WriteBackError",
            }
            for r in results
            if not r.ok
        ]
        with self.ctx.db.begin() as session:
            link_repo.clear_write_back_pending(
                session,
                connection_id=self.ctx.connection_id,
                remote_object=self.spec.remote_object,
                remote_ids=done,
            )
            run_repo.add_errors(session, self.ctx.run_id, failures)
        self.errors += len(failures)
