"""Building and running integration jobs: the use cases behind `crmhub jobs …`, the API and the UI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from crmhub.connectors.base import Connector, FieldInfo
from crmhub.core.cadence import next_run
from crmhub.core.clock import utcnow
from crmhub.core.errors import CrmHubError, ExpressionError, NotFoundError, ValidationError
from crmhub.mapping.automap import (
    MatchProposal,
    Proposal,
    SourceField,
    TargetAttribute,
    automap,
    match_proposal,
    own_id_attribute_name,
)
from crmhub.mapping.spec import MappingRow
from crmhub.mapping.templates import template_rows
from crmhub.mapping.transform import Transformer
from crmhub.services.connections import ConnectionService
from crmhub.services.hub import SYSTEM_ACTOR, HubService
from crmhub.store import audit
from crmhub.store import connections as connection_repo
from crmhub.store import jobs as job_repo
from crmhub.store import runs as run_repo
from crmhub.store import schema as schema_repo
from crmhub.store.models import Job, Run
from crmhub.store.schema import RESERVED_NAMES, AttributeSpec, validate_name
from crmhub.sync.common import Progress, RunOutcome
from crmhub.sync.outbound import OutboundPlan, OutboundPreviewRow, preview_outbound
from crmhub.sync.runner import cancel_run, execute_run, start_run
from crmhub.sync.spec import JobSpec


class RunSubmitter(Protocol):
    """Anything that takes a committed run id for execution (see ``crmhub.execute``)."""

    def submit(self, run_id: str) -> None: ...


@dataclass(frozen=True)
class Problem:
    """One reason a job does not validate; ``row`` is the mapping row (0-based) it is about."""

    message: str
    row: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = f"mapping row {self.row + 1}: " if self.row is not None else ""
        return f"{where}{self.message}"


@dataclass
class PreviewRow:
    remote_id: str
    raw: dict[str, Any]
    mapped: dict[str, Any]
    errors: list[str] = field(default_factory=list)


@dataclass
class AutomapPlan:
    """What automap proposes for a job: mapping rows, and for a second CRM, the match rule."""

    proposals: list[Proposal]
    match: MatchProposal | None = None
    #: the attribute proposed for this connection's remote ids (a second CRM), if any
    own_id_attribute: str | None = None


class JobService:
    def __init__(self, hub: HubService) -> None:
        self.hub = hub
        self.db = hub.db
        self.connections = ConnectionService(hub)

    # CRUD -----------------------------------------------------------------------------------

    def create(
        self,
        spec: JobSpec,
        *,
        enabled: bool = False,
        actor: str = SYSTEM_ACTOR,
        sync_now: bool = False,
        executor: RunSubmitter | None = None,
    ) -> Job:
        """Create a job; ``enabled`` switches its schedule on (the job must validate).

        ``sync_now`` starts a run right after saving: handed to ``executor`` when given, else run here.
        """
        if enabled:
            self._require_valid(spec)
        with self.db.begin() as session:
            connection = connection_repo.get_connection(session, spec.connection)
            self._create_new_attributes(session, spec)
            job = job_repo.create_job(
                session,
                name=spec.name,
                direction=spec.direction,
                connection_id=connection.id,
                remote_object=spec.remote_object,
                object_type=spec.object_type,
                spec=spec.model_dump(mode="json"),
                enabled=enabled,
            )
            _mirror_schedule(job, spec)
            audit.record_event(
                session,
                actor=actor,
                action="create",
                object_kind="job",
                object_name=spec.name,
                details={"direction": spec.direction, "version": 1},
            )
        if sync_now:
            self._sync_now(spec.name, executor)
        return job

    def update(
        self,
        name: str,
        spec: JobSpec,
        *,
        actor: str = SYSTEM_ACTOR,
        enabled: bool | None = None,
        sync_now: bool = False,
        executor: RunSubmitter | None = None,
    ) -> Job:
        """Save a new version. ``enabled`` False saves it with scheduling disabled (no validation
        needed), True enables it (it must validate), None keeps the current setting."""
        with self.db.begin() as session:
            job = job_repo.get_job(session, name)
            if enabled if enabled is not None else job.enabled:
                problems = self.validate(spec)
                if problems:
                    state = "is enabled" if job.enabled and enabled is None else "is to be enabled"
                    raise ValidationError(
                        f"job {name!r} {state} and the new version does not validate: {problems[0]}",
                        hint="fix it, or save it with scheduling disabled",
                    )
            connection = connection_repo.get_connection(session, spec.connection)
            self._create_new_attributes(session, spec)
            job_repo.update_job_spec(
                session,
                job,
                spec.model_dump(mode="json"),
                name=spec.name,
                direction=spec.direction,
                connection_id=connection.id,
                remote_object=spec.remote_object,
                object_type=spec.object_type,
            )
            if enabled is not None:
                job.enabled = enabled
            _mirror_schedule(job, spec)
            audit.record_event(
                session,
                actor=actor,
                action="update",
                object_kind="job",
                object_name=name,
                details={"version": job.version},
            )
        if sync_now:
            self._sync_now(spec.name, executor)
        return job

    def save(self, spec: JobSpec, *, actor: str = SYSTEM_ACTOR) -> Job:
        """Create the job, or save a new version when one of that name exists (YAML import)."""
        with self.db.read() as session:
            exists = any(j.name == spec.name for j in job_repo.list_jobs(session))
        return self.update(spec.name, spec, actor=actor) if exists else self.create(spec, actor=actor)

    def get(self, name: str) -> tuple[Job, JobSpec]:
        with self.db.read() as session:
            job = job_repo.get_job(session, name)
            return job, JobSpec.model_validate(job.spec)

    def list(self) -> list[tuple[Job, Run | None]]:
        with self.db.read() as session:
            return [(job, run_repo.last_run(session, job.id)) for job in job_repo.list_jobs(session)]

    def delete(self, name: str, *, actor: str = SYSTEM_ACTOR) -> None:
        with self.db.begin() as session:
            job = job_repo.get_job(session, name)
            if run_repo.active_runs(session, job.id):
                raise ValidationError(f"job {name!r} has a run in progress", hint="cancel it first")
            job_repo.delete_job(session, job)
            audit.record_event(session, actor=actor, action="delete", object_kind="job", object_name=name)

    def duplicate(self, name: str, new_name: str, *, actor: str = SYSTEM_ACTOR) -> Job:
        _, spec = self.get(name)
        return self.create(spec.model_copy(update={"name": new_name}), actor=actor)

    def export_yaml(self, name: str) -> str:
        return self.get(name)[1].to_yaml()

    def set_enabled(self, name: str, enabled: bool, *, actor: str = SYSTEM_ACTOR) -> None:
        _, spec = self.get(name)
        if enabled:
            self._require_valid(spec)
        with self.db.begin() as session:
            job = job_repo.get_job(session, name)
            job.enabled = enabled
            _mirror_schedule(job, spec)
            audit.record_event(
                session,
                actor=actor,
                action="enable" if enabled else "disable",
                object_kind="job",
                object_name=name,
            )

    def _sync_now(self, name: str, executor: RunSubmitter | None) -> None:
        """Sync immediately after saving: hand a run to ``executor`` (queued behind a running one), or
        run it here (RunInProgressError when one is running already; the job stays saved)."""
        if executor is not None:
            self.submit(name, executor=executor, trigger="saved", queue=True)
        else:
            self.run(name, trigger="saved")

    def _create_new_attributes(self, session: Any, spec: JobSpec) -> None:
        if spec.direction != "inbound":
            return
        object_type = schema_repo.get_object_type(session, spec.object_type)
        existing = {a.name for a in object_type.attributes}
        for row in spec.mapping:
            if row.new_attribute is not None and row.target not in existing:
                schema_repo.add_attribute(
                    session,
                    object_type,
                    AttributeSpec(
                        name=row.target,
                        type=row.new_attribute.type,
                        label=row.new_attribute.label,
                        category=row.new_attribute.category,
                        fk_target=row.new_attribute.fk_target,
                        created_by_job=spec.name,
                    ),
                )
                existing.add(row.target)

    # Building -------------------------------------------------------------------------------

    def _describe(self, connector: Connector, spec: JobSpec) -> dict[str, FieldInfo]:
        """Source field path → FieldInfo for the job's selected and mapped fields (dot paths resolved)."""
        resolve = getattr(connector, "resolve_path", None)
        description = connector.describe(spec.remote_object)
        out = {f.name: f for f in description.fields}
        paths = set(spec.fields) | {r.source for r in spec.mapping if r.source}
        for path in paths:
            if "." in path and resolve is not None:
                out[path] = resolve(spec.remote_object, path)
        return out

    def automap(self, spec: JobSpec) -> list[Proposal]:
        """Mapping proposals for the job's selected source fields (or all fields when none are selected)."""
        return self.automap_plan(spec).proposals

    def automap_plan(self, spec: JobSpec) -> AutomapPlan:
        """Mapping proposals and, for an inbound job of a second CRM, how to match existing records."""
        if spec.direction != "inbound":
            return AutomapPlan(self._automap(spec, None))
        own_id = self._own_id_attribute(spec)
        proposals = self._automap(spec, own_id)
        match = None
        if own_id is not None:
            schema = self.hub.schema(spec.object_type)
            match = match_proposal(spec.object_type, schema.key, proposals)
        return AutomapPlan(proposals, match, own_id)

    def _own_id_attribute(self, spec: JobSpec) -> str | None:
        """The attribute for this connection's remote ids when the type is keyed from another
        connection's (None: the key may hold them, as for the first CRM)."""
        from crmhub.store import records as record_repo

        with self.db.read() as session:
            connection = connection_repo.get_connection(session, spec.connection)
            schema = schema_repo.load_schema(session, spec.object_type)
            if schema.key is None:
                return None
            key_jobs = {int(j) for j in record_repo.key_jobs_sample(session, schema) if j.isdigit()}
            owners = set(job_repo.connections_of_jobs(session, key_jobs).values())
            if not owners - {connection.id}:
                return None
            # A name another connection's jobs write is theirs: take the next one.
            taken = {
                row.target
                for job in job_repo.list_jobs(session)
                if job.connection_id != connection.id
                for row in JobSpec.model_validate(job.spec).mapping
            }
            return own_id_attribute_name(connection.kind, spec.remote_object, sorted(taken))

    def _automap(self, spec: JobSpec, own_id: str | None) -> list[Proposal]:
        connector = self.connections.open(spec.connection)
        try:
            schema = self.hub.schema(spec.object_type)
            object_type = self.hub.object_type(spec.object_type)
            if spec.direction == "inbound":
                described = self._describe(connector, spec)
                wanted = spec.fields or [f for f in described if "." not in f]
                missing = [p for p in wanted if p not in described]
                if missing:
                    raise ValidationError(f"{spec.remote_object} has no field(s) {', '.join(missing)}")
                id_field = connector.describe(spec.remote_object).id_field
                sources = [
                    SourceField(p, described[p].label, described[p].value_type, is_id=p == id_field)
                    for p in wanted
                ]
                targets = [TargetAttribute(a.name, a.label, a.type, a.is_key) for a in object_type.attributes]
                return automap(sources, targets, reserved=sorted(RESERVED_NAMES), own_id_attribute=own_id)
            description = connector.describe(spec.remote_object)
            writable = [f for f in description.fields if f.creatable or f.updatable]
            # The CRM object's default template first, then fuzzy matches for what it leaves open.
            names = {f.name for f in writable}
            templated = [
                Proposal(row, 1.0, f"template {connector.kind} {spec.remote_object}")
                for row in template_rows(connector.kind, spec.remote_object, spec.object_type)
                if row.target in names and row.source in schema.types
            ]
            used_sources = {p.row.source for p in templated}
            used_targets = {p.row.target for p in templated}
            sources = [
                SourceField(a.name, a.label, a.type)
                for a in object_type.attributes
                if a.name in schema.types and a.name not in used_sources
            ]
            targets = [
                TargetAttribute(f.name, f.label, f.value_type) for f in writable if f.name not in used_targets
            ]
            return templated + automap(sources, targets, propose_new=False)
        finally:
            connector.close()

    def validate(self, spec: JobSpec, *, preview_rows: int = 10) -> list[Problem]:
        """Everything that would make the job fail before any record moves, each tied to its row."""
        problems: list[Problem] = []
        schema = self.hub.schema(spec.object_type)
        targets_seen: dict[str, int] = {}
        for i, row in enumerate(spec.mapping):
            if row.target in targets_seen:
                problems.append(
                    Problem(
                        f"{row.target!r} is already written by row {targets_seen[row.target] + 1}",
                        i,
                        row.target,
                    )
                )
            targets_seen.setdefault(row.target, i)
        if spec.direction == "inbound":
            problems += self._validate_inbound(spec, schema)
        else:
            problems += self._validate_outbound(spec, schema)
        if spec.filter:
            from crmhub.expr import parse

            try:
                parse(spec.filter)
            except ExpressionError as exc:
                problems.append(Problem(f"filter: {exc}", None, "filter"))
        if not problems and spec.direction == "inbound" and preview_rows:
            try:
                for n, row in enumerate(self.preview(spec, limit=preview_rows)):
                    for err in row.errors:
                        problems.append(Problem(f"preview row {n + 1} ({row.remote_id}): {err}"))
            except CrmHubError as exc:
                problems.append(Problem(f"preview failed: {exc}"))
        return problems

    def _validate_inbound(self, spec: JobSpec, schema: Any) -> list[Problem]:
        problems: list[Problem] = []
        if not any(r.target == schema.key for r in spec.mapping):
            problems.append(
                Problem(
                    f"the key attribute {schema.key!r} of {spec.object_type} is not mapped", None, schema.key
                )
            )
        connector = self.connections.open(spec.connection)
        try:
            try:
                described = self._describe(connector, spec)
            except CrmHubError as exc:
                return [*problems, Problem(f"cannot describe {spec.remote_object}: {exc}")]
        finally:
            connector.close()
        source_types = {path: info.value_type for path, info in described.items()}
        for path in spec.fields:
            if path not in described:
                problems.append(Problem(f"{spec.remote_object} has no field {path!r}", None, path))
        target_types: dict[str, str] = {}
        for i, row in enumerate(spec.mapping):
            if row.target in schema.types:
                target_types[row.target] = schema.types[row.target]
            elif row.new_attribute is not None:
                try:
                    validate_name(row.target, what="attribute")
                except ValidationError as exc:
                    problems.append(Problem(str(exc), i, row.target))
                    continue
                target_types[row.target] = row.new_attribute.type
            else:
                problems.append(
                    Problem(
                        f"{spec.object_type} has no attribute {row.target!r}; map to an existing one or create it",
                        i,
                        row.target,
                    )
                )
                continue
            if row.source is not None and row.source not in described:
                problems.append(Problem(f"{spec.remote_object} has no field {row.source!r}", i, row.source))
                continue
            try:
                Transformer.compile([row], target_types=target_types, source_types=source_types)
            except CrmHubError as exc:
                problems.append(Problem(str(exc), i, row.target))
        return problems

    def _validate_outbound(self, spec: JobSpec, schema: Any) -> list[Problem]:
        problems: list[Problem] = []
        connector = self.connections.open(spec.connection)
        try:
            description = connector.describe(spec.remote_object)
        except CrmHubError as exc:
            return [Problem(f"cannot describe {spec.remote_object}: {exc}")]
        finally:
            connector.close()
        writable = {f.name for f in description.fields if f.creatable or f.updatable}
        for i, row in enumerate(spec.mapping):
            if row.source is not None and row.source not in schema.types:
                problems.append(Problem(f"{spec.object_type} has no attribute {row.source!r}", i, row.source))
            if row.target not in writable:
                problems.append(
                    Problem(
                        f"{spec.remote_object} field {row.target!r} is not writable or does not exist",
                        i,
                        row.target,
                    )
                )
        if spec.match_field and description.field(spec.match_field) is None:
            problems.append(
                Problem(
                    f"{spec.remote_object} has no match field {spec.match_field!r}", None, spec.match_field
                )
            )
        return problems

    def _require_valid(self, spec: JobSpec) -> None:
        problems = self.validate(spec)
        if problems:
            listing = "; ".join(str(p) for p in problems[:5])
            raise ValidationError(
                f"job {spec.name!r} does not validate: {listing}",
                hint="fix the mapping (`crmhub jobs validate`) before enabling it",
            )

    def preview(self, spec: JobSpec, *, limit: int = 10) -> list[PreviewRow]:
        """The first source rows matching the filter, raw and mapped side by side."""
        if spec.direction != "inbound":
            raise ValidationError("preview shows source rows of inbound jobs")
        schema = self.hub.schema(spec.object_type)
        target_types = {
            r.target: schema.types.get(r.target) or (r.new_attribute.type if r.new_attribute else "text")
            for r in spec.mapping
        }
        transformer = Transformer.compile(spec.mapping, target_types=target_types)
        fields = list(dict.fromkeys([*spec.fields, *(r.source for r in spec.mapping if r.source)]))
        filter_ast = None
        if spec.filter:
            from crmhub.expr import parse

            filter_ast = parse(spec.filter)
        connector = self.connections.open(spec.connection)
        try:
            records = connector.preview(spec.remote_object, fields, filter=filter_ast, limit=limit)
        finally:
            connector.close()
        out = []
        for record in records:
            mapped, errors = transformer(record.values)
            out.append(
                PreviewRow(
                    record.id,
                    record.values,
                    mapped,
                    [f"{e.target} ← {e.source}: {e.message}" for e in errors],
                )
            )
        return out

    def preview_outbound(self, spec: JobSpec, *, limit: int = 10) -> list[OutboundPreviewRow]:
        """The first hub records an outbound job's filter selects: the payload each would send, and
        whether it would be created or updated and why (link, match field). Nothing is written."""
        if spec.direction != "outbound":
            raise ValidationError(f"job {spec.name!r} is inbound: its preview shows source rows")
        with self.db.read() as session:
            connection = connection_repo.get_connection(session, spec.connection)
            echo = frozenset(str(j) for j in job_repo.inbound_job_ids(session, connection.id))
            try:
                version = job_repo.get_job(session, spec.name).version  # a saved job: its hashes apply
            except NotFoundError:
                version = 0
            connection_id = connection.id
        plan = OutboundPlan(self.db, spec, job_version=version, connection_id=connection_id, echo_jobs=echo)
        connector = self.connections.open(spec.connection)
        try:
            return preview_outbound(plan, connector, limit=limit)
        finally:
            connector.close()

    # Running --------------------------------------------------------------------------------

    def run(
        self,
        name: str,
        *,
        full: bool = False,
        dry_run: bool = False,
        trigger: str = "manual",
        queue: bool = False,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> tuple[Run, RunOutcome]:
        run = start_run(self.db, name, trigger=trigger, full=full, dry_run=dry_run, queue=queue)
        outcome = execute_run(
            self.db,
            run.id,
            open_connector=self.connections.open,
            data_dir=self.hub.settings.resolved_home,
            on_progress=on_progress,
            read_process=self.connections.read_process(),
        )
        return run, outcome

    def submit(
        self,
        name: str,
        *,
        executor: RunSubmitter,
        trigger: str = "manual",
        full: bool = False,
        dry_run: bool = False,
        queue: bool = False,
        idempotency_key: str | None = None,
    ) -> Run:
        """Create a queued run and hand it to an executor (after the run row is committed)."""
        run = start_run(
            self.db,
            name,
            trigger=trigger,
            full=full,
            dry_run=dry_run,
            queue=queue,
            idempotency_key=idempotency_key,
            for_executor=True,
        )
        executor.submit(run.id)
        return run

    def cancel(self, run_id: str) -> Run:
        return cancel_run(self.db, run_id)

    def rebuild_mapping(self, name: str, **kw: Any) -> tuple[Run, RunOutcome]:
        """Clear the job's links and re-match everything with a full sync."""
        from crmhub.store.links import clear_links

        with self.db.begin() as session:
            job = job_repo.get_job(session, name)
            clear_links(session, connection_id=job.connection_id, remote_object=job.remote_object)
            job.state = {}
            audit.record_event(
                session, actor=SYSTEM_ACTOR, action="rebuild_mapping", object_kind="job", object_name=name
            )
        return self.run(name, full=True, trigger="rebuild", **kw)


def _mirror_schedule(job: Job, spec: JobSpec) -> None:
    """Copy the spec's schedule to the job's columns and set when the scheduler runs it next.

    A disabled job or one without a schedule has no next run. An unchanged schedule keeps a pending
    ``next_run_at`` (a slot that is due but not yet taken by the scheduler is not lost by a save).
    """
    stored = spec.schedule.model_dump(mode="json") if spec.schedule is not None else None
    changed = stored != job.schedule
    job.schedule = stored
    if not job.enabled or spec.schedule is None:
        job.next_run_at = None
    elif changed or job.next_run_at is None:
        job.next_run_at = next_run(spec.schedule, utcnow())


def mapping_rows(proposals: list[Proposal], *, min_confidence: float = 0.0) -> list[MappingRow]:
    return [p.row for p in proposals if p.confidence >= min_confidence]
