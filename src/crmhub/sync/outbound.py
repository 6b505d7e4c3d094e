"""Outbound runs: hub → CRM.

Hub records of the job's object type matching its filter are read in hub-id order, batch by batch.
Each is mapped to the remote payload; attributes whose value arrived from this same connection are
left out (no echo); a record whose payload hash equals its link's last-sent hash is skipped. The rest
are matched (link → the remote match field → create if allowed) and written in batches; links and
hashes are stored for what succeeded, and the remote id is written back to the hub when the job says
so. A record that failed keeps its old hash, so the next run sends it again even if it did not change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy.orm import Session

from crmhub.connectors.base import REMOTE_ID, Connector, WriteMode
from crmhub.core.clock import utcnow
from crmhub.core.perf import gc_paused
from crmhub.mapping.transform import Transformer
from crmhub.store import links as link_repo
from crmhub.store import records as record_repo
from crmhub.store import runs as run_repo
from crmhub.store.database import Database, StatisticsKeeper
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
from crmhub.sync.spec import JobSpec

#: Records written in the same instant as the last run's start are looked at again (clock skew).
WATERMARK_SKEW = timedelta(seconds=5)
#: More failures than this and the next run looks at everything instead.
MAX_RETRY_IDS = 20_000


@dataclass(slots=True)
class Decision:
    """What an outbound run does with one hub record, and why (shared by runs and the preview)."""

    action: Literal["create", "update", "unchanged", "ignored", "failed"]
    reason: str
    #: What would be sent (an update names its record by ``REMOTE_ID``); empty when nothing is.
    payload: dict[str, Any] = field(default_factory=dict)
    digest: str | None = None
    #: The linked remote record, when there is a link.
    remote_id: str | None = None
    #: Mapped targets left out because their value arrived from this connection (echo suppression).
    left_out: list[str] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)


class OutboundPlan:
    """An outbound job compiled: filter, transformer, payload rules and the decision per record.

    It needs no run: :class:`OutboundRun` executes it and :func:`preview_outbound` shows it.
    """

    def __init__(
        self, db: Database, spec: JobSpec, *, job_version: int, connection_id: int, echo_jobs: frozenset[str]
    ) -> None:
        self.db = db
        self.spec = spec
        self.settings = spec.settings
        self.connection_id = connection_id
        self.echo_jobs = echo_jobs
        with db.read() as session:
            self.schema = load_schema(session, spec.object_type)
        self.source_of = {row.target: row.source for row in spec.mapping}
        self.transformer = Transformer.compile(
            spec.mapping,
            target_types={row.target: _remote_type(row, self.schema.types) for row in spec.mapping},
            source_types=self.schema.types,
        )
        self.salt = fingerprint(job_version, [r.model_dump(mode="json") for r in spec.mapping])
        self.filter = None
        if spec.filter:
            from crmhub.expr import parse

            self.filter = parse(spec.filter)

    def select(
        self, after: str | None, *, limit: int, since: datetime | None = None, also: Sequence[str] = ()
    ) -> list[Record]:
        """The next hub records the filter selects, in hub id order."""
        where = None
        if self.filter is not None:
            from crmhub.expr.types import ValueType
            from crmhub.store.expr_sql import compile_sql

            where = compile_sql(
                self.filter,
                Record.values,
                dialect_name=self.db.dialect,
                schema={name: ValueType(t) for name, t in self.schema.types.items()},
            )
        with self.db.read() as session:
            return record_repo.changed_page(
                session, self.schema, after=after, limit=limit, since=since, also=also, where=where
            )

    def context(self, records: list[Record]) -> tuple[dict[str, link_repo.LinkState], dict[str, str]]:
        """The records' links on this connection and remote object, and their parents' remote ids."""
        with self.db.read() as session:
            links = link_repo.link_states_by_hub(
                session,
                connection_id=self.connection_id,
                remote_object=self.spec.remote_object,
                hub_ids=[r.hub_id for r in records],
            )
            parents = self._parents(session, records)
        return links, parents

    def visible(self, record: Record) -> dict[str, Any]:
        """The record's values less those that arrived from this connection (unless written back)."""
        values = record.values
        echo = self.echo_jobs
        if not echo:
            return values
        stamps = record.stamps
        default = stamps.get("_")
        return {
            k: v
            for k, v in values.items()
            if k in self.settings.write_back or (stamps.get(k) or default or [None, None])[1] not in echo
        }

    def decide(
        self, record: Record, links: dict[str, link_repo.LinkState], parents: dict[str, str]
    ) -> Decision:
        spec, settings = self.spec, self.settings
        values = self.visible(record)
        payload, errors = self.transformer(values)
        if errors:
            return Decision(
                "failed",
                "a value does not map",
                ledger=[
                    {
                        "phase": "map",
                        "hub_id": record.hub_id,
                        "field": e.source,
                        "raw_value": None if e.raw is None else str(e.raw)[:2000],
                        "message": f"{spec.object_type} {record.hub_id} → {e.target}: {e.message}",
                        "error_class": e.error_class,
                    }
                    for e in errors
                ],
            )
        # Leave out targets whose source attribute was suppressed (or absent): never send a null for them.
        left_out = sorted(
            t
            for t, src in self.source_of.items()
            if src is not None and src in record.values and src not in values
        )
        payload = {t: v for t, v in payload.items() if v is not None or self.source_of.get(t) in values}
        link = links.get(record.hub_id)
        remote_id = link.remote_id if link is not None else None
        if spec.parent_link and spec.parent_field:
            parent_hub = values.get(spec.parent_link)  # a parent that came from this connection is not echoed
            if parent_hub:
                parent_remote = parents.get(parent_hub)
                if parent_remote is None:
                    return Decision(
                        "failed",
                        f"its {spec.parent_link} is not linked on this connection",
                        remote_id=remote_id,
                        left_out=left_out,
                        ledger=[
                            {
                                "phase": "map",
                                "hub_id": record.hub_id,
                                "field": spec.parent_link,
                                "raw_value": parent_hub,
                                "message": f"{spec.object_type} {record.hub_id}: its {spec.parent_link} {parent_hub} "
                                f"is not linked to a {spec.parent_object or 'parent'} record on this connection yet; "
                                "export the parents first",
                                "error_class": "MissingParent",
                            }
                        ],
                    )
                payload[spec.parent_field] = parent_remote
        if not payload:
            # Nothing of the record is to be sent (echo suppression left every mapped field out, or it
            # has none of them): no call, so the CRM's modstamp does not move and no echo comes back.
            why = (
                "every mapped field came from this connection" if left_out else "no mapped field has a value"
            )
            return Decision("unchanged", f"nothing to send: {why}", remote_id=remote_id, left_out=left_out)
        if settings.stamp_hub_id_field:
            payload[settings.stamp_hub_id_field] = record.hub_id
        digest = record_hash(self.salt, payload)
        if link is not None:
            if link.last_sent_hash == digest:
                return Decision(
                    "unchanged", "same payload as last sent", payload, digest, remote_id, left_out
                )
            if not settings.update_records:
                return Decision("ignored", "updates are disabled", payload, digest, remote_id, left_out)
            return Decision(
                "update",
                f"linked to {spec.remote_object} {link.remote_id}",
                {REMOTE_ID: link.remote_id, **payload},
                digest,
                remote_id,
                left_out,
            )
        if not settings.create_records:
            # Creation off: only records linked already are touched; the rest are counted, not sent.
            return Decision("ignored", "not linked and creation is disabled", payload, digest, None, left_out)
        if spec.match_field:
            return Decision(
                "create",
                f"not linked: matched by {spec.match_field} (created when no record has it)",
                payload,
                digest,
                None,
                left_out,
            )
        return Decision("create", "not linked and no match field", payload, digest, None, left_out)

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
            connection_id=self.connection_id,
            hub_ids=sorted(str(p) for p in parent_ids if p is not None),
            remote_object=spec.parent_object or None,
        )


class OutboundRun:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.spec = ctx.spec
        self.settings = ctx.spec.settings
        self.counts = Counts()
        self.errors = 0
        self.statistics = StatisticsKeeper()
        self.plan = OutboundPlan(
            ctx.db,
            ctx.spec,
            job_version=ctx.job_version,
            connection_id=ctx.connection_id,
            echo_jobs=ctx.echo_jobs,
        )
        self.schema = self.plan.schema
        resumed = ctx.state.get("outbound_run") == ctx.run_id
        with ctx.db.read() as session:
            run = run_repo.get_run(session, ctx.run_id)
            self.counts = Counts.from_dict(run.counts)
            self.errors = run_repo.count_errors(session, ctx.run_id)
            #: Records that failed in this run: retried by the next one. A run resumed under its id
            #: (its worker was killed) finds those of its committed batches in its ledger.
            self.failed_ids: set[str] = (
                set(run_repo.failed_hub_ids(session, ctx.run_id, phases=("map", "write")))
                if resumed
                else set()
            )
        # Only records changed since the last completed run (plus those that failed then) need a look;
        # a full run, a new job version or no history means all of them.
        watermark = ctx.state.get("outbound_since") or {}
        self.since: datetime | None = None
        self.retry: list[str] = []
        if ctx.mode != "full" and watermark.get("version") == ctx.job_version and watermark.get("at"):
            self.since = datetime.fromisoformat(watermark["at"]) - WATERMARK_SKEW
            self.retry = list(watermark.get("retry") or [])

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
        return self.plan.select(
            after,
            limit=self.settings.batch_size,
            since=self.since,
            also=sorted(self.retry) if self.retry else (),
        )

    def _batch(self, records: list[Record], after: str, snapshot: SnapshotWriter) -> None:
        ctx, spec, counts = self.ctx, self.spec, self.counts
        now = utcnow()
        ledger: list[dict[str, Any]] = []
        links, parents = self.plan.context(records)
        to_update: list[tuple[Record, dict[str, Any], str]] = []
        to_create: list[tuple[Record, dict[str, Any], str]] = []
        counts.read += len(records)
        for record in records:
            decision = self.plan.decide(record, links, parents)
            action = decision.action
            if action == "failed":
                counts.failed += 1
                self.failed_ids.add(record.hub_id)
                ledger.extend(decision.ledger)
            elif action == "unchanged":
                counts.unchanged += 1
            elif action == "ignored":
                counts.ignored += 1
            else:
                assert decision.digest is not None
                item = (record, decision.payload, decision.digest)
                (to_update if action == "update" else to_create).append(item)
        snapshot.write([{"hub_id": r.hub_id, "payload": p} for r, p, _ in to_update + to_create])

        sent: list[tuple[Record, str, str, bool]] = []  # record, remote id, digest, created
        if to_update:
            # Linked records are updated by their remote id; the match field tells a file which column that is.
            sent += self._send(to_update, "update", spec.match_field, ledger)
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
        else:  # a dry run keeps only its own record up to date: what would fail, progress, heartbeat
            with ctx.db.begin() as session:
                run_repo.add_errors(session, ctx.run_id, ledger)
                self.errors += len(ledger)
                run = session.get(Run, ctx.run_id)
                assert run is not None
                run.counts = counts.as_dict()
                run.progress_done = counts.read
                run.heartbeat_at = utcnow()
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
            mode=cast(WriteMode, mode),
            match=match,
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
                        "matched_by": "outbound",
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


@dataclass(slots=True)
class OutboundPreviewRow:
    """One hub record an outbound run would look at: its values, the payload, create or update and why."""

    hub_id: str
    key: str | None
    action: str  #: create / update / unchanged / ignored / failed
    reason: str
    #: The hub values the mapping reads (source attribute → value), as stored.
    raw: dict[str, Any]
    #: The payload the run would send (remote field → value), the hub id stamp included.
    mapped: dict[str, Any]
    remote_id: str | None = None
    left_out: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def preview_outbound(
    plan: OutboundPlan, connector: Connector | None, *, limit: int = 10
) -> list[OutboundPreviewRow]:
    """The first ``limit`` hub records the job's filter selects and what a full run would do with each.

    Nothing is written. ``connector`` (when given) is asked which unlinked records its match field
    finds, so that "create" and "update" are told apart as the CRM would; without it, or when the CRM
    cannot be asked, such a record says it is matched by the field.
    """
    spec = plan.spec
    records = plan.select(None, limit=limit)
    links, parents = plan.context(records)
    decisions = [plan.decide(record, links, parents) for record in records]
    matched = _matches(plan, connector, decisions)
    sources = [row.source for row in spec.mapping if row.source] + (
        [spec.parent_link] if spec.parent_link else []
    )
    out = []
    for record, decision in zip(records, decisions, strict=True):
        action, reason = decision.action, decision.reason
        value = decision.payload.get(spec.match_field) if spec.match_field else None
        if action == "create" and value is not None and connector is not None:
            found = matched.get(_fold(value)) if matched is not None else None
            if matched is None:
                reason = f"not linked: matched by {spec.match_field} = {value!r} (the CRM could not be asked)"
            elif found is not None:
                action, reason = (
                    "update",
                    f"not linked: {spec.match_field} = {value!r} matches {spec.remote_object} {found}",
                )
            else:
                reason = f"not linked: no {spec.remote_object} has {spec.match_field} = {value!r}"
        elif action == "create" and spec.match_field and value is None:
            reason = f"not linked and no {spec.match_field} value to match by"
        out.append(
            OutboundPreviewRow(
                hub_id=record.hub_id,
                key=record.key,
                action=action,
                reason=reason,
                raw={src: record.values[src] for src in dict.fromkeys(sources) if src in record.values},
                mapped={k: v for k, v in decision.payload.items() if k != REMOTE_ID},
                remote_id=decision.remote_id,
                left_out=decision.left_out,
                errors=[row["message"] for row in decision.ledger],
            )
        )
    return out


def _fold(value: Any) -> str:
    return str(value).casefold()


def _matches(
    plan: OutboundPlan, connector: Connector | None, decisions: list[Decision]
) -> dict[str, str] | None:
    """Match-field value (case-folded) → remote id, for the records that would be created; None: not asked."""
    match = plan.spec.match_field
    values = [
        d.payload[match]
        for d in decisions
        if match and d.action == "create" and d.payload.get(match) is not None
    ]
    if connector is None or not values or match is None:
        return {}
    from crmhub.core.errors import CrmHubError
    from crmhub.expr import ast

    condition = ast.In(ast.Field(match), tuple(ast.Literal(v) for v in dict.fromkeys(values)))
    try:
        found = connector.preview(plan.spec.remote_object, [match], filter=condition, limit=len(values))
    except CrmHubError:
        return None
    return {_fold(r.values.get(match)): r.id for r in found if r.values.get(match) is not None}


def _remote_type(row: Any, hub_types: dict[str, str]) -> str:
    """The type a mapped value is sent as: the source attribute's type (the CRM formats it)."""
    if row.new_attribute is not None:
        return str(row.new_attribute.type)
    if row.source is not None and row.source in hub_types:
        return hub_types[row.source]
    return "text"
