"""Building and running integration jobs: the use cases behind `crmhub jobs …`, the API and the UI."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from crmhub.connectors.base import Connector, FieldInfo
from crmhub.core.cadence import next_run
from crmhub.core.clock import utcnow
from crmhub.core.errors import CrmHubError, ExpressionError, JobInvalidError, NotFoundError, ValidationError
from crmhub.expr.checker import did_you_mean
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
from crmhub.store.connections import seal_webhook_secrets
from crmhub.store.models import Job, Run
from crmhub.store.schema import RESERVED_NAMES, AttributeSpec, validate_name
from crmhub.sync.common import Progress, RunOutcome
from crmhub.sync.outbound import OutboundPlan, OutboundPreviewRow, _remote_type, preview_outbound
from crmhub.sync.runner import cancel_run, execute_run, refuse_draft, start_run
from crmhub.sync.spec import JobSpec, check_job_name


class RunSubmitter(Protocol):
    """Anything that takes a committed run id for execution (see ``crmhub.execute``)."""

    def submit(self, run_id: str) -> None: ...


Severity = Literal["error", "warning"]

#: At most this many distinct hub values are checked against a destination's picklist.
PICKLIST_SAMPLE = 1000


@dataclass(frozen=True)
class Problem:
    """One reason a job does not validate; ``row`` is the mapping row (0-based) it is about.

    A ``warning`` does not stop the job (e.g. one bad value among the preview rows: the run would
    put that record in its error ledger); an ``error`` does.
    """

    message: str
    row: int | None = None
    field: str | None = None
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"mapping row {self.row + 1}: " if self.row is not None else ""
        return f"{where}{self.message}"

    @property
    def where(self) -> str:
        """``mapping[3]`` (1-based, as the CLI shows rows), ``filter``, the field it is about, or ``job``."""
        if self.row is not None:
            return f"mapping[{self.row + 1}]"
        return self.field or "job"


def errors_of(problems: list[Problem]) -> list[Problem]:
    """The problems that stop a job (warnings left out)."""
    return [p for p in problems if p.severity == "error"]


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
        """Create a job; ``enabled`` switches its schedule on.

        The job is validated first. One that does not validate is saved as a draft (disabled, its
        problems kept, never run); asked to be enabled or synced now, it is not saved at all
        (JobInvalidError lists the problems). ``sync_now`` starts a run right after saving: handed to
        ``executor`` when given, else run here.
        """
        check_job_name(spec.name)
        problems = errors_of(self.validate(spec))
        if problems and (enabled or sync_now):
            raise _invalid(spec.name, problems, "is not saved", "fix it, or save it without enabling it")
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
                spec=seal_webhook_secrets(spec.model_dump(mode="json"), self.connections.vault()),
                enabled=enabled,
            )
            job.problems = [str(p) for p in problems]
            _mirror_schedule(job, spec)
            audit.record_event(
                session,
                actor=actor,
                action="create",
                object_kind="job",
                object_name=spec.name,
                details={"direction": spec.direction, "version": 1, "draft": bool(problems)},
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
        """Save a new version. ``enabled`` False saves it with scheduling disabled, True enables it,
        None keeps the current setting.

        A version that does not validate is saved only disabled, as a draft; when the job is (to be)
        enabled or synced now, nothing is saved and JobInvalidError lists the problems.
        """
        problems = errors_of(self.validate(spec))
        with self.db.begin() as session:
            job = job_repo.get_job(session, name)
            if spec.name != job.name:  # a rename: the new name follows today's rule
                check_job_name(spec.name)
            if problems and (sync_now or (enabled if enabled is not None else job.enabled)):
                state = "is enabled" if job.enabled and enabled is None else "is to be enabled"
                if sync_now and not (enabled if enabled is not None else job.enabled):
                    state = "is to be run now"
                raise _invalid(
                    name,
                    problems,
                    f"{state}, so the new version is not saved",
                    "fix it, or save it with scheduling disabled (a draft)",
                )
            connection = connection_repo.get_connection(session, spec.connection)
            self._create_new_attributes(session, spec)
            job_repo.update_job_spec(
                session,
                job,
                seal_webhook_secrets(spec.model_dump(mode="json"), self.connections.vault()),
                name=spec.name,
                direction=spec.direction,
                connection_id=connection.id,
                remote_object=spec.remote_object,
                object_type=spec.object_type,
            )
            if enabled is not None:
                job.enabled = enabled
            job.problems = [str(p) for p in problems]
            _mirror_schedule(job, spec)
            audit.record_event(
                session,
                actor=actor,
                action="update",
                object_kind="job",
                object_name=name,
                details={"version": job.version, "draft": bool(problems)},
            )
        if sync_now:
            self._sync_now(spec.name, executor)
        return job

    def save(
        self,
        spec: JobSpec,
        *,
        actor: str = SYSTEM_ACTOR,
        enabled: bool | None = None,
        sync_now: bool = False,
        executor: RunSubmitter | None = None,
    ) -> Job:
        """Create the job, or save a new version when one of that name exists (YAML import)."""
        with self.db.read() as session:
            exists = any(j.name == spec.name for j in job_repo.list_jobs(session))
        if exists:
            return self.update(
                spec.name, spec, actor=actor, enabled=enabled, sync_now=sync_now, executor=executor
            )
        return self.create(spec, actor=actor, enabled=bool(enabled), sync_now=sync_now, executor=executor)

    def get(self, name: str) -> tuple[Job, JobSpec]:
        with self.db.read() as session:
            job = job_repo.get_job(session, name)
            return job, JobSpec.model_validate(job.spec)

    def list(self) -> builtins.list[tuple[Job, Run | None]]:
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
        """Switch scheduling on or off; on, the job must validate now (a draft stays a draft)."""
        _, spec = self.get(name)
        problems = errors_of(self.validate(spec)) if enabled else []
        with self.db.begin() as session:
            job = job_repo.get_job(session, name)
            if enabled:
                # What validation found now is what the job's draft mark says from here on.
                job.problems = [str(p) for p in problems]
        if problems:
            raise _invalid(
                name, problems, "is not enabled", "fix it (`crmhub jobs validate`), then enable it"
            )
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

    def _describe(
        self, connector: Connector, spec: JobSpec, *, unresolved: dict[str, str] | None = None
    ) -> dict[str, FieldInfo]:
        """Source field path → FieldInfo for the job's selected and mapped fields (dot paths resolved).

        With ``unresolved``, a dot path that does not resolve is left out and its reason kept there
        (validation reports each on its own); without it, the first one raises.
        """
        description = connector.describe(spec.remote_object)
        out = {f.name: f for f in description.fields}
        paths = set(spec.fields) | {r.source for r in spec.mapping if r.source}
        for path in sorted(paths):
            if "." in path:
                try:
                    out[path] = connector.resolve_path(spec.remote_object, path)
                except CrmHubError as exc:
                    if unresolved is None:
                        raise
                    unresolved[path] = exc.message
        return out

    def automap(self, spec: JobSpec) -> builtins.list[Proposal]:
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

    def _automap(self, spec: JobSpec, own_id: str | None) -> builtins.list[Proposal]:
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

    def validate(self, spec: JobSpec, *, preview_rows: int = 10) -> builtins.list[Problem]:
        """Everything that would make the job fail before any record moves, each tied to its row.

        Errors stop the job; warnings (a bad value among the preview rows) do not. Whatever the
        spec holds, the answer is a list of problems, never an exception.
        """
        problems: builtins.list[Problem] = []
        try:
            schema = self.hub.schema(spec.object_type)
        except CrmHubError as exc:
            return [Problem(str(exc), None, "object_type")]
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
        try:
            connector = self.connections.open(spec.connection)
        except CrmHubError as exc:
            return [*problems, Problem(f"connection {spec.connection!r}: {exc}", None, "connection")]
        try:
            if spec.direction == "inbound":
                problems += self._validate_inbound(spec, schema, connector)
            else:
                problems += self._validate_outbound(spec, schema, connector)
        finally:
            connector.close()
        if not errors_of(problems) and spec.direction == "inbound" and preview_rows:
            try:
                for n, shown in enumerate(self.preview(spec, limit=preview_rows)):
                    for err in shown.errors:
                        # The run would ledger this record and carry on: a warning, not a failure.
                        problems.append(
                            Problem(f"preview row {n + 1} ({shown.remote_id}): {err}", severity="warning")
                        )
            except CrmHubError as exc:
                problems.append(Problem(f"preview failed: {exc}"))
        return problems

    def _validate_filter(self, spec: JobSpec, types: dict[str, str], *, where: str) -> builtins.list[Problem]:
        """The filter parses and type-checks against ``types`` (every unknown field named)."""
        if not spec.filter:
            return []
        from crmhub.expr import ValueType, check, parse

        try:
            check(parse(spec.filter), {k: ValueType(v) for k, v in types.items()})
        except ExpressionError as exc:
            return [Problem(f"filter ({where}): {exc}", None, "filter")]
        return []

    def _validate_settings(
        self, spec: JobSpec, schema: Any, fields: dict[str, FieldInfo]
    ) -> builtins.list[Problem]:
        """Settings that name hub attributes or remote fields name ones that exist (and can be written)."""
        problems: builtins.list[Problem] = []
        settings = spec.settings
        if settings.remote_id_attribute and settings.remote_id_attribute not in schema.types:
            problems.append(
                Problem(
                    f"settings.remote_id_attribute: {spec.object_type} has no attribute "
                    f"{settings.remote_id_attribute!r}{did_you_mean(settings.remote_id_attribute, schema.types)}",
                    None,
                    "settings.remote_id_attribute",
                )
            )
        for attribute in settings.write_back:
            if attribute not in schema.types:
                problems.append(
                    Problem(
                        f"settings.write_back: {spec.object_type} has no attribute {attribute!r}"
                        f"{did_you_mean(attribute, schema.types)}",
                        None,
                        "settings.write_back",
                    )
                )
        stamp = settings.stamp_hub_id_field
        if stamp and fields:
            info = fields.get(stamp) or next(
                (f for f in fields.values() if f.name.lower() == stamp.lower()), None
            )
            if info is None:
                problems.append(
                    Problem(
                        f"settings.stamp_hub_id_field: {spec.remote_object} has no field {stamp!r}"
                        f"{did_you_mean(stamp, fields)}",
                        None,
                        "settings.stamp_hub_id_field",
                    )
                )
            elif not info.updatable:
                problems.append(
                    Problem(
                        f"settings.stamp_hub_id_field: {spec.remote_object} field {info.name!r} is not writable, "
                        "so the CRM would refuse every hub id stamped into it",
                        None,
                        "settings.stamp_hub_id_field",
                    )
                )
        return problems

    def _validate_inbound(self, spec: JobSpec, schema: Any, connector: Connector) -> builtins.list[Problem]:
        problems: builtins.list[Problem] = []
        # Without the key, records are found by the job's match rules (and then their links); a
        # job with neither could only ever create (see crmhub.sync.identity).
        if not any(r.target == schema.key for r in spec.mapping) and not spec.match_on:
            problems.append(
                Problem(
                    f"the key attribute {schema.key!r} of {spec.object_type} is not mapped, and the job has "
                    "no match_on rule to find existing records by: map the key, or add match_on "
                    "(e.g. [domain] for a second CRM whose ids live in an attribute of their own)",
                    None,
                    schema.key,
                )
            )
        unresolved: dict[str, str] = {}
        try:
            described = self._describe(connector, spec, unresolved=unresolved)
        except CrmHubError as exc:
            return [*problems, Problem(f"cannot describe {spec.remote_object}: {exc}", None, "remote_object")]
        source_types = {path: info.value_type for path, info in described.items()}
        for path in spec.fields:
            if path in unresolved:
                problems.append(Problem(unresolved[path], None, path))
            elif path not in described:
                problems.append(
                    Problem(
                        f"{spec.remote_object} has no field {path!r}{did_you_mean(path, described)}",
                        None,
                        path,
                    )
                )
        problems += self._validate_filter(spec, source_types, where=f"over {spec.remote_object} fields")
        # A CSV file takes any column: only a CRM's fields are checked.
        problems += self._validate_settings(spec, schema, described if connector.kind != "csv" else {})
        mapped = {r.target for r in spec.mapping}
        for attribute in spec.match_on:
            if attribute not in schema.types:
                problems.append(
                    Problem(
                        f"match_on: {spec.object_type} has no attribute {attribute!r}"
                        f"{did_you_mean(attribute, schema.types)}",
                        None,
                        "match_on",
                    )
                )
            elif attribute not in mapped:
                problems.append(
                    Problem(
                        f"match_on: {attribute!r} is not mapped, so records carry no value to match on; "
                        "map a source field to it",
                        None,
                        "match_on",
                    )
                )
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
                        f"{spec.object_type} has no attribute {row.target!r}"
                        f"{did_you_mean(row.target, schema.types)} Map to an existing one or create it "
                        "(new_attribute)",
                        i,
                        row.target,
                    )
                )
                continue
            if row.source is not None and row.source not in described:
                message = unresolved.get(row.source) or (
                    f"{spec.remote_object} has no field {row.source!r}{did_you_mean(row.source, described)}"
                )
                problems.append(Problem(message, i, row.source))
                continue
            try:
                Transformer.compile([row], target_types=target_types, source_types=source_types)
            except CrmHubError as exc:
                problems.append(Problem(str(exc), i, row.target))
        return problems

    def _validate_outbound(self, spec: JobSpec, schema: Any, connector: Connector) -> builtins.list[Problem]:
        """What the destination would refuse: fields, the match field, picklists, required fields,
        the parent; and the filter over the hub's attributes in the hub's SQL dialect."""
        problems: builtins.list[Problem] = []
        if connector.kind == "csv":
            # A CSV file takes any column and is created by the first run: only the hub side is checked.
            return self._validate_outbound_hub_side(spec, schema)
        try:
            description = connector.describe(spec.remote_object)
        except CrmHubError as exc:
            return [Problem(f"cannot describe {spec.remote_object}: {exc}", None, "remote_object")]
        by_name = {f.name: f for f in description.fields}
        writable = {f.name for f in description.fields if f.creatable or f.updatable}
        rows_ok: builtins.list[int] = []
        for i, row in enumerate(spec.mapping):
            ok = True
            if row.source is not None and row.source not in schema.types:
                problems.append(
                    Problem(
                        f"{spec.object_type} has no attribute {row.source!r}{did_you_mean(row.source, schema.types)}",
                        i,
                        row.source,
                    )
                )
                ok = False
            if row.target not in writable:
                what = "is not writable" if row.target in by_name else "does not exist"
                problems.append(
                    Problem(
                        f"{spec.remote_object} field {row.target!r} {what}"
                        f"{did_you_mean(row.target, writable) if row.target not in by_name else ''}",
                        i,
                        row.target,
                    )
                )
                ok = False
            if ok:
                try:
                    Transformer.compile(
                        [row],
                        target_types={row.target: _remote_type(row, schema.types)},
                        source_types=schema.types,
                    )
                    rows_ok.append(i)
                except CrmHubError as exc:
                    problems.append(Problem(str(exc), i, row.target))
        mapped = {r.target for r in spec.mapping}
        if spec.match_field:
            match = description.field(spec.match_field)
            if match is None:
                problems.append(
                    Problem(
                        f"{spec.remote_object} has no match field {spec.match_field!r}"
                        f"{did_you_mean(spec.match_field, by_name)}",
                        None,
                        "match_field",
                    )
                )
            else:
                if not match.external_id:
                    problems.append(
                        Problem(
                            f"{spec.remote_object} field {match.name!r} is not unique (not an external id), so "
                            "the CRM cannot match records on it; pick a unique / external id field "
                            f"({', '.join(f.name for f in description.fields if f.external_id and f.creatable) or 'none on this object'})",
                            None,
                            "match_field",
                        )
                    )
                if match.name not in mapped:
                    problems.append(
                        Problem(
                            f"the match field {match.name!r} is not mapped, so no record carries a value to "
                            "match on; map a hub attribute to it",
                            None,
                            "match_field",
                        )
                    )
        if spec.settings.create_records:
            given = mapped | ({spec.parent_field} if spec.parent_field else set())
            missing = [f.name for f in description.required_on_create() if f.name not in given]
            if missing:
                problems.append(
                    Problem(
                        f"{spec.remote_object} requires {', '.join(missing)} on create and the mapping does not "
                        "fill it; map it, or switch create_records off",
                        None,
                        missing[0],
                    )
                )
        problems += self._validate_settings(spec, schema, by_name)
        problems += self._validate_parent(spec, schema, connector, description)
        problems += self._validate_picklists(spec, schema, description, rows_ok)
        problems += self._validate_filter(spec, schema.types, where=f"over {spec.object_type} attributes")
        if spec.filter and not any(p.field == "filter" for p in problems):
            problems += self._validate_filter_sql(spec, schema)
        return problems

    def _validate_outbound_hub_side(self, spec: JobSpec, schema: Any) -> builtins.list[Problem]:
        problems: builtins.list[Problem] = []
        for i, row in enumerate(spec.mapping):
            if row.source is not None and row.source not in schema.types:
                problems.append(
                    Problem(
                        f"{spec.object_type} has no attribute {row.source!r}"
                        f"{did_you_mean(row.source, schema.types)}",
                        i,
                        row.source,
                    )
                )
                continue
            try:
                Transformer.compile(
                    [row],
                    target_types={row.target: _remote_type(row, schema.types)},
                    source_types=schema.types,
                )
            except CrmHubError as exc:
                problems.append(Problem(str(exc), i, row.target))
        problems += self._validate_filter(spec, schema.types, where=f"over {spec.object_type} attributes")
        if spec.filter and not any(p.field == "filter" for p in problems):
            problems += self._validate_filter_sql(spec, schema)
        return problems + self._validate_settings(spec, schema, {})

    def _validate_parent(
        self, spec: JobSpec, schema: Any, connector: Connector, description: Any
    ) -> builtins.list[Problem]:
        problems: builtins.list[Problem] = []
        if bool(spec.parent_link) != bool(spec.parent_field):
            given, other = (
                ("parent_link", "parent_field") if spec.parent_link else ("parent_field", "parent_link")
            )
            return [Problem(f"{given} is set without {other}; give both or neither", None, other)]
        if not spec.parent_field:
            return []
        assert spec.parent_link is not None
        if spec.parent_link not in schema.types:
            problems.append(
                Problem(
                    f"{spec.object_type} has no attribute {spec.parent_link!r} (parent_link)"
                    f"{did_you_mean(spec.parent_link, schema.types)}",
                    None,
                    "parent_link",
                )
            )
        elif schema.types[spec.parent_link] != "foreign_key":
            problems.append(
                Problem(
                    f"parent_link {spec.parent_link!r} is a {schema.types[spec.parent_link]} attribute; it must "
                    "be a foreign key to the parent's hub records",
                    None,
                    "parent_link",
                )
            )
        parent = description.field(spec.parent_field)
        if parent is None:
            names = [f.name for f in description.fields]
            problems.append(
                Problem(
                    f"{spec.remote_object} has no parent field {spec.parent_field!r}"
                    f"{did_you_mean(spec.parent_field, names)}",
                    None,
                    "parent_field",
                )
            )
        if spec.parent_object:
            try:
                connector.describe(spec.parent_object)
            except CrmHubError as exc:
                problems.append(
                    Problem(f"parent object {spec.parent_object!r}: {exc}", None, "parent_object")
                )
            else:
                if (
                    parent is not None
                    and parent.reference_to
                    and spec.parent_object not in parent.reference_to
                ):
                    problems.append(
                        Problem(
                            f"{spec.remote_object} field {parent.name!r} points at "
                            f"{', '.join(parent.reference_to)}, not {spec.parent_object}",
                            None,
                            "parent_object",
                        )
                    )
        return problems

    def _validate_picklists(
        self, spec: JobSpec, schema: Any, description: Any, rows: builtins.list[int]
    ) -> builtins.list[Problem]:
        """Hub values of each mapped attribute that the destination's restricted picklist would refuse.

        The distinct values the hub holds (at most :data:`PICKLIST_SAMPLE` per attribute) go through
        the row's conversion, as a run would send them.
        """
        from crmhub.store.views import distinct_values

        problems: builtins.list[Problem] = []
        for i in rows:
            row = spec.mapping[i]
            target = description.field(row.target)
            if row.source is None or target is None or not target.restricted_picklist:
                continue
            allowed = set(target.picklist_values)
            transformer = Transformer.compile(
                [row], target_types={row.target: _remote_type(row, schema.types)}
            )
            with self.db.read() as session:
                values = distinct_values(session, schema, row.source, limit=PICKLIST_SAMPLE)
            bad: builtins.list[str] = []
            for value in values:
                mapped, errors = transformer({row.source: value})
                sent = mapped.get(row.target)
                items = sent if isinstance(sent, list) else [sent]
                bad += [str(v) for v in items if v is not None and str(v) not in allowed and not errors]
            if bad:
                bad = sorted(set(bad))
                shown = ", ".join(repr(v) for v in bad[:5]) + (
                    f" and {len(bad) - 5} more" if len(bad) > 5 else ""
                )
                options = ", ".join(sorted(allowed)[:10]) + (" …" if len(allowed) > 10 else "")
                problems.append(
                    Problem(
                        f"{len(bad)} value(s) of {spec.object_type}.{row.source} in the hub are not options of "
                        f"{spec.remote_object}.{row.target}, which the CRM refuses: {shown}. Options: {options}. "
                        "Map the values with an expression (e.g. IF / CASE), or add the options in the CRM",
                        i,
                        row.target,
                    )
                )
        return problems

    def _validate_filter_sql(self, spec: JobSpec, schema: Any) -> builtins.list[Problem]:
        """The outbound filter compiles to the hub's SQL (a function SQL cannot run is named)."""
        from crmhub.expr import ValueType, parse
        from crmhub.store.expr_sql import compile_sql
        from crmhub.store.models import Record

        assert spec.filter is not None
        try:
            compile_sql(
                parse(spec.filter),
                Record.values,
                dialect_name=self.db.dialect,
                schema={k: ValueType(v) for k, v in schema.types.items()},
            )
        except ExpressionError as exc:
            return [Problem(f"filter: the hub cannot run it in SQL: {exc}", None, "filter")]
        return []

    def preview(self, spec: JobSpec, *, limit: int = 10) -> builtins.list[PreviewRow]:
        """The first source rows matching the filter, raw and mapped side by side.

        A job whose mapping or filter does not compile raises JobInvalidError naming the rows.
        """
        if spec.direction != "inbound":
            raise ValidationError("preview shows source rows of inbound jobs")
        schema = self.hub.schema(spec.object_type)
        target_types = {
            r.target: schema.types.get(r.target) or (r.new_attribute.type if r.new_attribute else "text")
            for r in spec.mapping
        }
        problems: builtins.list[Problem] = []
        for i, row in enumerate(spec.mapping):
            try:
                Transformer.compile([row], target_types=target_types)
            except CrmHubError as exc:
                problems.append(Problem(str(exc), i, row.target))
        filter_ast = None
        if spec.filter:
            from crmhub.expr import parse

            try:
                filter_ast = parse(spec.filter)
            except ExpressionError as exc:
                problems.append(Problem(f"filter: {exc}", None, "filter"))
        if problems:
            raise _invalid(
                spec.name, problems, "cannot be previewed", "fix the rows named (`crmhub jobs validate`)"
            )
        transformer = Transformer.compile(spec.mapping, target_types=target_types)
        fields = list(dict.fromkeys([*spec.fields, *(r.source for r in spec.mapping if r.source)]))
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

    def preview_outbound(self, spec: JobSpec, *, limit: int = 10) -> builtins.list[OutboundPreviewRow]:
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
        self._recheck_draft(name)
        run = start_run(self.db, name, trigger=trigger, full=full, dry_run=dry_run, queue=queue)
        return run, self.execute(run.id, on_progress=on_progress)

    def _recheck_draft(self, name: str) -> None:
        """A draft asked to run is validated again first: one saved while the CRM was unreachable, or
        whose CRM field has been added since, runs once it validates (and stays a draft otherwise,
        refused by ``start_run`` with what validation found now)."""
        job, spec = self.get(name)
        if not job.problems:
            return
        problems = errors_of(self.validate(spec))
        with self.db.begin() as session:
            row = job_repo.get_job(session, name)
            if row.version == job.version:  # not saved again meanwhile
                row.problems = [str(p) for p in problems]

    def execute(self, run_id: str, *, on_progress: Callable[[Progress], None] | None = None) -> RunOutcome:
        """Execute a created run here, to its end (an executor for one run, e.g. the CLI's --sync-now)."""
        return execute_run(
            self.db,
            run_id,
            open_connector=self.connections.open,
            data_dir=self.hub.settings.resolved_home,
            on_progress=on_progress,
            read_process=self.connections.read_process(),
        )

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
        self._recheck_draft(name)
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
            refuse_draft(job)  # before its links go: a draft's full sync would not run
            clear_links(session, connection_id=job.connection_id, remote_object=job.remote_object)
            job.state = {}
            audit.record_event(
                session, actor=SYSTEM_ACTOR, action="rebuild_mapping", object_kind="job", object_name=name
            )
        return self.run(name, full=True, trigger="rebuild", **kw)


def _invalid(name: str, problems: list[Problem], what: str, hint: str) -> JobInvalidError:
    """JobInvalidError for job ``name``: the first problems in the message, every one in ``problems``."""
    listing = "; ".join(str(p) for p in problems[:3])
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return JobInvalidError(
        f"job {name!r} does not validate and {what}: {listing}{more}",
        problems=[(p.where, str(p)) for p in problems],
        hint=hint,
        headline=f"job {name!r} does not validate and {what}",
    )


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
