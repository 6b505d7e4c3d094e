"""Outbound runs: hub → CRM.

Hub records of the job's object type matching its filter are read in hub-id order, batch by batch.
Each is mapped to the remote payload; attributes whose value arrived from this same connection are
left out (no echo); a record whose payload hash equals its link's last-sent hash is skipped. The rest
are matched (link → the remote match field → create if allowed) and written in batches; links and
hashes are stored for what succeeded, and the remote id is written back to the hub when the job says
so. A record that failed keeps its old hash, so the next run sends it again even if it did not change.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from crmhub.connectors.base import REMOTE_ID
from crmhub.core.clock import utcnow
from crmhub.core.perf import gc_paused
from crmhub.mapping.transform import Transformer
from crmhub.store import links as link_repo
from crmhub.store import records as record_repo
from crmhub.store import runs as run_repo
from crmhub.store.database import StatisticsKeeper
from crmhub.store.models import Job, Record, Run
from crmhub.store.records import Stamp
from crmhub.store.schema import load_schema
from crmhub.sync.common import (
    Counts,
    Progress,
    SnapshotWriter,
    fingerprint,
    open_snapshot,
    record_hash,
    save_snapshot,
)
from crmhub.sync.context import Cancelled, RunContext

#: Records written in the same instant as the last run's start are looked at again (clock skew).
WATERMARK_SKEW = timedelta(seconds=5)
#: More failures than this and the next run looks at everything instead.
MAX_RETRY_IDS = 20_000


class OutboundRun:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.spec = ctx.spec
        self.settings = ctx.spec.settings
        self.counts = Counts()
        self.errors = 0
        self.statistics = StatisticsKeeper()
        with ctx.db.read() as session:
            self.schema = load_schema(session, self.spec.object_type)
            run = run_repo.get_run(session, ctx.run_id)
            self.counts = Counts.from_dict(run.counts)
            self.errors = run_repo.count_errors(session, ctx.run_id)
        self.source_of = {row.target: row.source for row in self.spec.mapping}
        self.transformer = Transformer.compile(
            self.spec.mapping,
            target_types={row.target: _remote_type(row, self.schema.types) for row in self.spec.mapping},
            source_types=self.schema.types,
        )
        self.salt = fingerprint(ctx.job_version, [r.model_dump(mode="json") for r in self.spec.mapping])
        # Only records changed since the last completed run (plus those that failed then) need a look;
        # a full run, a new job version or no history means all of them.
        watermark = ctx.state.get("outbound_since") or {}
        self.since: datetime | None = None
        self.retry: list[str] = []
        if ctx.mode != "full" and watermark.get("version") == ctx.job_version and watermark.get("at"):
            self.since = datetime.fromisoformat(watermark["at"]) - WATERMARK_SKEW
            self.retry = list(watermark.get("retry") or [])
        self.failed_ids: set[str] = set()
        self.filter = None
        if self.spec.filter:
            from crmhub.expr import parse

            self.filter = parse(self.spec.filter)

    def execute(self) -> Counts:
        ctx = self.ctx
        after = (
            (ctx.state.get("outbound") or {}).get("after")
            if ctx.state.get("outbound_run") == ctx.run_id
            else None
        )
        snapshot = open_snapshot(ctx)
        try:
            with gc_paused() as collect:
                while True:
                    batch = self._select(after)
                    if not batch:
                        break
                    after = batch[-1].hub_id
                    self._batch(batch, after, snapshot)
                    collect()  # the collector is paused: free this batch's ORM cycles now
            if not ctx.dry_run:
                with ctx.db.begin() as session:
                    job = session.get(Job, ctx.job_id)
                    assert job is not None
                    too_many = len(self.failed_ids) > MAX_RETRY_IDS  # then the next run looks at everything
                    job.state = {
                        **job.state,
                        "outbound_since": {
                            "version": ctx.job_version,
                            "at": None if too_many else ctx.started_at.isoformat(),
                            "retry": [] if too_many else sorted(self.failed_ids),
                        },
                    }
        finally:
            save_snapshot(ctx, snapshot)
        return self.counts

    def _select(self, after: str | None) -> list[Record]:
        where = None
        if self.filter is not None:
            from crmhub.store.expr_sql import compile_sql

            where = compile_sql(
                self.filter, Record.values, dialect_name=self.ctx.db.dialect, schema=self.schema.types
            )
        with self.ctx.db.read() as session:
            return record_repo.changed_page(
                session,
                self.schema,
                after=after,
                limit=self.settings.batch_size,
                since=self.since,
                also=sorted(self.retry) if self.retry else (),
                where=where,
            )

    def _payload(self, record: Record) -> tuple[dict[str, Any], list[Any]]:
        values = record.values
        echo = self.ctx.echo_jobs
        if echo:
            stamps = record.stamps
            default = stamps.get("_")
            values = {
                k: v
                for k, v in values.items()
                if k in self.settings.write_back or (stamps.get(k) or default or [None, None])[1] not in echo
            }
        payload, errors = self.transformer(values)
        # Leave out targets whose source attribute was suppressed (or absent): never send a null for them.
        payload = {t: v for t, v in payload.items() if v is not None or self.source_of.get(t) in values}
        return payload, errors

    def _batch(self, records: list[Record], after: str, snapshot: SnapshotWriter) -> None:
        ctx, spec, counts = self.ctx, self.spec, self.counts
        now = utcnow()
        ledger: list[dict[str, Any]] = []
        with ctx.db.read() as session:
            links = link_repo.link_states_by_hub(
                session,
                connection_id=ctx.connection_id,
                remote_object=spec.remote_object,
                hub_ids=[r.hub_id for r in records],
            )
            parents = self._parents(session, records)
        to_update: list[tuple[Record, dict[str, Any], str]] = []
        to_create: list[tuple[Record, dict[str, Any], str]] = []
        counts.read += len(records)
        for record in records:
            payload, errors = self._payload(record)
            if errors:
                counts.failed += 1
                self.failed_ids.add(record.hub_id)
                ledger.extend(
                    {
                        "phase": "map",
                        "hub_id": record.hub_id,
                        "field": e.source,
                        "raw_value": None if e.raw is None else str(e.raw)[:2000],
                        "message": f"{spec.object_type} {record.hub_id} → {e.target}: {e.message}",
                        "error_class": e.error_class,
                    }
                    for e in errors
                )
                continue
            if spec.parent_link and spec.parent_field:
                parent_hub = record.values.get(spec.parent_link)
                if parent_hub:
                    parent_remote = parents.get(parent_hub)
                    if parent_remote is None:
                        counts.failed += 1
                        self.failed_ids.add(record.hub_id)
                        ledger.append(
                            {
                                "phase": "map",
                                "hub_id": record.hub_id,
                                "field": spec.parent_link,
                                "raw_value": parent_hub,
                                "message": f"{spec.object_type} {record.hub_id}: its {spec.parent_link} {parent_hub} is not "
                                f"linked to a {spec.parent_object or 'parent'} record on this connection yet; "
                                "export the parents first",
                                "error_class": "MissingParent",
                            }
                        )
                        continue
                    payload[spec.parent_field] = parent_remote
            if self.settings.stamp_hub_id_field:
                payload[self.settings.stamp_hub_id_field] = record.hub_id
            digest = record_hash(self.salt, payload)
            link = links.get(record.hub_id)
            if link is not None and link.last_sent_hash == digest:
                counts.unchanged += 1
                continue
            if link is not None:
                if not self.settings.update_records:
                    counts.ignored += 1
                    continue
                to_update.append((record, {REMOTE_ID: link.remote_id, **payload}, digest))
            else:
                to_create.append((record, payload, digest))
        snapshot.write([{"hub_id": r.hub_id, "payload": p} for r, p, _ in to_update + to_create])

        sent: list[tuple[Record, str, str, bool]] = []  # record, remote id, digest, created
        if to_update:
            # Linked records are updated by their remote id; the match field tells a file which column that is.
            sent += self._send(to_update, "update", spec.match_field, ledger)
        if to_create and not self.settings.create_records:
            # Creation off: only records linked already are touched; the rest are counted, not sent.
            counts.ignored += len(to_create)
            to_create = []
        if to_create:
            mode, match = ("upsert", spec.match_field) if spec.match_field else ("create", None)
            sent += self._send(to_create, mode, match, ledger)

        cancel = False
        if not ctx.dry_run:
            with ctx.db.begin() as session:
                self._store_links(session, sent, links, now)
                run_repo.add_errors(session, ctx.run_id, ledger)
                self.errors += len(ledger)
                self.statistics.grown(session, self.counts.sent)
                job = session.get(Job, ctx.job_id)
                assert job is not None
                job.state = {**job.state, "outbound_run": ctx.run_id, "outbound": {"after": after}}
                run = session.get(Run, ctx.run_id)
                assert run is not None
                run.counts = counts.as_dict()
                run.progress_done = counts.read
                run.usage = ctx.connector.usage.as_dict()
                run.heartbeat_at = utcnow()
                run.checkpoint = {**run.checkpoint, "snapshot": snapshot.checkpoint().to_json()}
                cancel = bool(run.cancel_requested)
        if ctx.on_progress is not None:
            ctx.on_progress(Progress(ctx.run_id, counts.read, None, counts))
        if cancel:
            raise Cancelled

    def _send(
        self,
        items: list[tuple[Record, dict[str, Any], str]],
        mode: str,
        match: str | None,
        ledger: list[dict[str, Any]],
    ) -> list[tuple[Record, str, str, bool]]:
        ctx, counts = self.ctx, self.counts
        if ctx.dry_run:
            for _record, _payload, _digest in items:
                counts.sent += 1
                if mode == "update":
                    counts.updated += 1
                else:
                    counts.created += 1
            return []
        results = ctx.connector.write(
            self.spec.remote_object,
            [payload for _, payload, _ in items],
            mode=mode,
            match=match,  # type: ignore[arg-type]
        )
        out = []
        for (record, _payload, digest), result in zip(items, results, strict=True):
            if not result.ok or not result.remote_id:
                counts.failed += 1
                self.failed_ids.add(record.hub_id)
                ledger.append(
                    {
                        "phase": "write",
                        "hub_id": record.hub_id,
                        "remote_id": result.remote_id,
                        "field": ",".join(result.fields) or None,
                        "message": f"{self.spec.remote_object} {mode} of {record.hub_id} rejected: "
                        f"{result.error_code or 'error'}: {result.message or ''}".strip(),
                        "error_class": result.error_code or "WriteRejected",
                    }
                )
                continue
            counts.sent += 1
            created = bool(result.created) if mode != "update" else False
            if created:
                counts.created += 1
            else:
                counts.updated += 1
            out.append((record, result.remote_id, digest, created))
        return out

    def _store_links(
        self,
        session: Session,
        sent: list[tuple[Record, str, str, bool]],
        links: dict[str, link_repo.LinkState],
        now: datetime,
    ) -> None:
        ctx, spec = self.ctx, self.spec
        link_repo.mark_sent(
            session, [(links[r.hub_id].id, d) for r, _rid, d, _c in sent if r.hub_id in links], now=now
        )
        new = [(r, rid, d) for r, rid, d, _c in sent if r.hub_id not in links]
        if new:
            existing_remote = set(
                link_repo.link_states_by_remote(
                    session,
                    connection_id=ctx.connection_id,
                    remote_object=spec.remote_object,
                    remote_ids=[rid for _, rid, _ in new],
                )
            )
            link_repo.insert_links(
                session,
                [
                    {
                        "hub_id": r.hub_id,
                        "connection_id": ctx.connection_id,
                        "remote_object": spec.remote_object,
                        "remote_id": rid,
                        "last_sent_hash": d,
                        "last_sent_at": now,
                        "created_at": now,
                    }
                    for r, rid, d in new
                    if rid not in existing_remote
                ],
            )
        attr = self.settings.remote_id_attribute
        if attr and sent:
            record_repo.upsert_records(
                session,
                self.schema,
                [{"hub_id": r.hub_id, attr: rid} for r, rid, _d, _c in sent],
                stamp=Stamp(job=str(ctx.job_id), run=ctx.run_id),
                match="hub_id",
                now=now,
            )

    def _parents(self, session: Session, records: list[Record]) -> dict[str, str]:
        """Parent hub id → its remote id on this connection (e.g. a contact's account → Salesforce AccountId)."""
        spec = self.spec
        if not (spec.parent_link and spec.parent_field):
            return {}
        parent_ids = {r.values.get(spec.parent_link) for r in records} - {None}
        if not parent_ids:
            return {}
        return link_repo.remote_ids_of_hub(
            session,
            connection_id=self.ctx.connection_id,
            hub_ids=sorted(parent_ids),
            remote_object=spec.parent_object or None,
        )


def _remote_type(row: Any, hub_types: dict[str, str]) -> str:
    """The type a mapped value is sent as: the source attribute's type (the CRM formats it)."""
    if row.new_attribute is not None:
        return str(row.new_attribute.type)
    if row.source is not None and row.source in hub_types:
        return hub_types[row.source]
    return "text"
