"""Request and response bodies: ``XCreate`` / ``XUpdate`` in, ``XPublic`` out. Secrets never come out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from crmhub.core.cadence import Schedule
from crmhub.mapping.spec import CategoryName, MappingRow, ValueTypeName
from crmhub.sync.spec import JobSettings, JobSpec, NotificationRule

WRITE_ONLY: dict[str, Any] = {"writeOnly": True}


def check_ref(value: str) -> str:
    """A name or an id: an all-digit reference must be an id the database can hold."""
    if value.isdigit() and (not value.isascii() or int(value) > 2**31 - 1):
        raise ValueError("is neither a known name nor an id (ids are 1 to 2147483647)")
    return value


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` if the store can keep it as JSON: integers within 64 bits, nesting within reason."""
    if depth > 32:
        raise ValueError("the data is nested too deeply")
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        raise ValueError("a number is too large (more than 64 bits)")
    if isinstance(value, dict):
        for item in value.values():
            json_safe(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            json_safe(item, depth + 1)
    return value


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        return json_safe(data)


# Health and auth ----------------------------------------------------------------------------------


class HealthPublic(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class LoginCreate(_In):
    email: str = Field(max_length=255)
    password: str = Field(max_length=1024, json_schema_extra=WRITE_ONLY)


class UserPublic(BaseModel):
    id: int
    email: str
    name: str
    role: str
    active: bool
    permissions: list[str]
    permission_sets: list[str]
    last_login_at: datetime | None
    created_at: datetime


class SessionPublic(BaseModel):
    user: UserPublic
    csrf_token: str = Field(description="Echo it in X-CSRF-Token on unsafe requests made with the cookie.")
    expires_at: datetime = Field(
        description="When the session ends if it is not used; using it moves this on (up to its maximum age)."
    )


# Users, permission sets, tokens, audit ------------------------------------------------------------


class UserCreate(_In):
    email: str = Field(max_length=255)
    name: str = Field("", max_length=255)
    role: Literal["admin", "advanced", "viewer"] = "viewer"
    password: str | None = Field(None, max_length=1024, json_schema_extra=WRITE_ONLY)


class UserUpdate(_In):
    name: str | None = Field(None, max_length=255)
    role: Literal["admin", "advanced", "viewer"] | None = None
    active: bool | None = None
    password: str | None = Field(None, max_length=1024, json_schema_extra=WRITE_ONLY)


class PermissionSetCreate(_In):
    name: str = Field(min_length=1, max_length=127)
    permissions: list[str] = Field(max_length=50)


class PermissionSetPublic(BaseModel):
    id: int
    name: str
    permissions: list[str]


class GrantCreate(_In):
    permission_set: Annotated[str, AfterValidator(check_ref)] = Field(
        min_length=1, max_length=127, description="Name (or id) of the set."
    )


class TokenCreate(_In):
    name: str = Field(min_length=1, max_length=127)
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class TokenPublic(BaseModel):
    id: int
    kind: str
    name: str
    prefix: str
    user_id: int | None
    job_id: int | None
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="The token itself: shown this once, stored only as a hash.")


class TriggerCall(BaseModel):
    """The exact call a company's own data process makes to start the job."""

    method: Literal["POST"] = "POST"
    url: str
    headers: dict[str, str]
    curl: str
    poll: str = Field(description="URL template to poll the run the call started.")


class TriggerTokenCreated(TokenCreated):
    call: TriggerCall


class TriggerInfoPublic(BaseModel):
    tokens: list[TokenPublic]
    call: TriggerCall


class AuditEventPublic(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    object_kind: str
    object_name: str
    details: dict[str, Any]


# Connections --------------------------------------------------------------------------------------


class ConnectorFieldPublic(BaseModel):
    name: str
    required: bool
    secret: bool
    description: str
    default: Any = None


class ConnectorKindPublic(BaseModel):
    kind: str
    label: str
    description: str
    settings: list[ConnectorFieldPublic]
    credentials: list[ConnectorFieldPublic]


SettingValue = str | bool | int | float | list[str] | None
Credential = Annotated[str, Field(max_length=10_000)]


class ConnectionCreate(_In):
    name: str = Field(min_length=1, max_length=127)
    kind: str = Field(min_length=1, max_length=31)
    settings: dict[str, SettingValue] = Field(default_factory=dict)
    credentials: dict[str, Credential] = Field(
        default_factory=dict, json_schema_extra=WRITE_ONLY, description="Encrypted at rest; never returned."
    )


class ConnectionUpdate(_In):
    settings: dict[str, SettingValue] | None = Field(
        None, description="Settings to change (merged; null removes)."
    )
    credentials: dict[str, Credential | None] | None = Field(
        None,
        json_schema_extra=WRITE_ONLY,
        description="Credentials to change (merged; null removes); never returned.",
    )


class ConnectionPublic(BaseModel):
    id: int
    name: str
    kind: str
    settings: dict[str, Any]
    credential_fields: list[str] = Field(description="Which credentials are set (never their values).")
    status: str
    status_message: str
    warnings: list[str] = Field(
        default_factory=list, description="What the settings risk though valid (a CSV without id_column)."
    )


class ConnectionCheckPublic(BaseModel):
    ok: bool
    message: str
    details: dict[str, Any]
    warnings: list[str] = Field(default_factory=list, description="As on the connection.")


class RemoteObjectPublic(BaseModel):
    name: str
    label: str
    creatable: bool
    updatable: bool
    queryable: bool


class RemoteFieldPublic(BaseModel):
    name: str
    label: str
    type: str
    value_type: str
    creatable: bool
    updatable: bool
    external_id: bool
    nillable: bool
    picklist_values: list[str]
    reference_to: list[str]
    relationship_name: str | None
    length: int | None


class ObjectDescriptionPublic(BaseModel):
    object: RemoteObjectPublic
    fields: list[RemoteFieldPublic]
    modstamp_field: str | None
    id_field: str


# Jobs and runs ------------------------------------------------------------------------------------


class RunSummary(BaseModel):
    id: str
    status: str
    trigger: str
    mode: str
    created_at: datetime
    finished_at: datetime | None


class Progress(BaseModel):
    done: int
    total: int | None
    percent: float | None


class RunPublic(BaseModel):
    id: str
    job_id: int
    job_name: str | None
    job_version: int
    trigger: str
    mode: str
    status: str
    dry_run: bool
    counts: dict[str, int]
    progress: Progress
    usage: dict[str, Any]
    message: str
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    links: dict[str, str]


class ProgressEvent(BaseModel):
    """The data of one ``progress`` or ``end`` event of the live progress stream."""

    run_id: str
    status: str
    done: int | None = None
    total: int | None = None
    percent: float | None = None
    counts: dict[str, int] | None = None
    message: str | None = None
    cancel_requested: bool | None = None
    at: str | None = None


#: One Server-Sent Event of the progress stream (OpenAPI 3.1: ``schema`` describes one event).
PROGRESS_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["progress", "end"]},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": ProgressEvent.model_json_schema(),
        },
        "retry": {"type": "integer"},
    },
}


class RunEventPublic(BaseModel):
    id: int
    at: datetime
    kind: str
    message: str
    data: dict[str, Any]


class RunErrorPublic(BaseModel):
    id: int
    phase: str
    row: int | None
    remote_id: str | None
    hub_id: str | None
    field: str | None
    raw_value: str | None
    message: str
    error_class: str
    created_at: datetime


class RunCreate(_In):
    full: bool = Field(False, description="A full sync: re-read everything and apply the delete policy.")
    dry_run: bool = Field(False, description="Do everything but the writes.")
    queue: bool = Field(False, description="Queue behind a run in progress instead of answering 409.")


class TriggerCreate(_In):
    full: bool = Field(False, description="A full sync instead of an incremental one.")
    queue: bool = Field(
        True, description="Queue behind a run in progress (false: answer 409 while one is going)."
    )


class TriggeredRunPublic(BaseModel):
    run_id: str
    status: str
    poll_url: str = Field(description="GET it with the same trigger token until the status is final.")


class TriggerRunStatus(BaseModel):
    run_id: str
    status: str
    finished: bool
    counts: dict[str, int]
    message: str
    created_at: datetime
    finished_at: datetime | None


class JobSummary(BaseModel):
    id: int
    name: str
    direction: str
    connection_id: int
    remote_object: str
    object_type: str
    version: int
    enabled: bool
    draft: bool = Field(
        False, description="The saved version does not validate: it stays disabled and is not run."
    )
    problems: list[str] = Field(default_factory=list, description="Why a draft does not validate.")
    schedule: dict[str, Any] | None
    next_run_at: datetime | None
    updated_at: datetime
    last_run: RunSummary | None


class JobPublic(JobSummary):
    spec: JobSpec
    trigger_url: str


class JobDraft(JobSpec):
    """A job spec as a request body."""

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        return json_safe(data)


class JobCreate(JobDraft):
    """A job spec (its ``schedule`` included), plus whether scheduling is on from the start."""

    enabled: bool = Field(False, description="Turn scheduling on (the job must validate).")
    sync_now: bool = Field(False, description="Start a run right after saving.")

    def spec(self) -> JobSpec:
        return JobSpec.model_validate(self.model_dump(exclude={"enabled", "sync_now"}))


class JobUpdate(_In):
    """Fields to change; each replaces the stored one, except ``settings``, whose keys are merged
    into the stored settings (a new version of the job is saved)."""

    name: str | None = Field(None, min_length=1, max_length=127)
    description: str | None = None
    connection: str | None = None
    remote_object: str | None = None
    parent_object: str | None = None
    object_type: str | None = None
    fields: list[str] | None = None
    filter: str | None = None
    mapping: list[MappingRow] | None = None
    match_field: str | None = None
    parent_link: str | None = None
    parent_field: str | None = None
    settings: JobSettings | None = None
    notifications: list[NotificationRule] | None = None
    schedule: Schedule | None = Field(None, description="The cadence; null removes it.")


class JobDuplicate(_In):
    name: str = Field(min_length=1, max_length=127)


class JobImport(_In):
    yaml: str = Field(max_length=1_000_000, description="A job as exported by GET /jobs/{job}/export.")


class ProblemPublic(BaseModel):
    message: str
    row: int | None
    field: str | None
    severity: Literal["error", "warning"] = Field(
        "error", description="A warning (e.g. one bad preview value) does not stop the job."
    )


class ValidationPublic(BaseModel):
    ok: bool = Field(description="No errors: the job can be enabled and run (warnings may remain).")
    problems: list[ProblemPublic]


class ProposalPublic(BaseModel):
    row: MappingRow
    confidence: float
    reason: str


class PreviewRowPublic(BaseModel):
    remote_id: str
    raw: dict[str, Any]
    mapped: dict[str, Any]
    errors: list[str]


class OutboundPreviewRowPublic(BaseModel):
    """One hub record of an outbound job's preview: its hub values, the payload, create or update and why."""

    hub_id: str
    key: str | None
    action: str = Field(description="create, update, unchanged, ignored or failed")
    reason: str = Field(description="Why: the link, the match field, or what left it out")
    remote_id: str | None = Field(description="The linked remote record, if any")
    raw: dict[str, Any] = Field(description="The hub values the mapping reads")
    mapped: dict[str, Any] = Field(description="The payload the run would send")
    left_out: list[str] = Field(description="Mapped fields left out: their values came from this connection")
    errors: list[str]


# Hub ----------------------------------------------------------------------------------------------


class AttributeCreate(_In):
    name: str = Field(min_length=1, max_length=63)
    type: ValueTypeName = "text"
    category: CategoryName = "crm"
    label: str | None = Field(None, max_length=255)
    description: str = Field("", max_length=2000)
    fk_target: str | None = Field(None, max_length=63)


class AttributePublic(BaseModel):
    name: str
    label: str
    type: str
    category: str
    is_key: bool
    case_insensitive: bool
    fk_target: str | None
    description: str
    created_by_job: str | None


class ObjectTypeCreate(_In):
    name: str = Field(min_length=1, max_length=63)
    label: str | None = Field(None, max_length=255)
    description: str = Field("", max_length=2000)
    key: str | None = Field(None, max_length=63, description="The attribute (in attributes) that is the key.")
    attributes: list[AttributeCreate] = Field(default_factory=list, max_length=500)


class ObjectTypePublic(BaseModel):
    name: str
    label: str
    description: str
    builtin: bool
    key: str | None
    attributes: list[AttributePublic]


class LinkPublic(BaseModel):
    connection_id: int
    connection: str | None = Field(None, description="The connection's name.")
    remote_object: str
    remote_id: str
    matched_by: str | None = Field(
        None,
        description="How the link was made: created, key, match:<attribute>, outbound (None: before 2026-12).",
    )
    last_received_at: datetime | None
    last_sent_at: datetime | None


class KeyChange(BaseModel):
    value: str = Field(min_length=1, max_length=512, description="The record's new key value.")


class Lineage(BaseModel):
    source_time: str | None = Field(description="When the source says the value changed.")
    job: str | None = Field(description="The job (id) or writer that set the value.")
    job_name: str | None = Field(description="That job's name, when it still exists.")
    run: str | None = Field(description="The run that set the value.")


class RecordPublic(BaseModel):
    hub_id: str
    object_type: str
    key: str | None
    values: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class RecordDetail(RecordPublic):
    lineage: dict[str, Lineage | None] = Field(description="Per attribute: source time, job and run.")
    links: list[LinkPublic]
