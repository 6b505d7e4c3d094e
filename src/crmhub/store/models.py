"""The hub's tables (SQLAlchemy 2 declarative). One base, one naming convention, aware UTC times."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from crmhub.connectors.base import REMOTE_ID_MAX_LENGTH
from crmhub.core.clock import utcnow
from crmhub.store.types import JSONDoc, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class AttributeType(StrEnum):
    """The value types of attributes (the same names as ``crmhub.expr.ValueType``)."""

    TEXT = "text"
    NUMBER = "number"
    CURRENCY = "currency"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    FOREIGN_KEY = "foreign_key"
    MULTI_TEXT = "multi_text"


class AttributeCategory(StrEnum):
    """Where an attribute's values come from / what they describe."""

    FIRMOGRAPHICS = "firmographics"
    TECHNOGRAPHICS = "technographics"
    SCORES = "scores"
    CRM = "crm"
    CALCULATED = "calculated"
    CSV = "csv"
    JOURNEY_STAGE = "journey_stage"
    SEGMENT = "segment"
    SYSTEM = "system"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONDoc}


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ObjectType(TimestampMixin, Base):
    """A kind of hub record: account, contact, user, or one defined at run time."""

    __tablename__ = "object_type"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    label: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)

    attributes: Mapped[list[Attribute]] = relationship(
        back_populates="object_type", cascade="all, delete-orphan", order_by="Attribute.id"
    )


class Attribute(TimestampMixin, Base):
    """A typed field of an object type."""

    __tablename__ = "attribute"
    __table_args__ = (UniqueConstraint("object_type_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_type_id: Mapped[int] = mapped_column(ForeignKey("object_type.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    label: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(20))
    is_key: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Keys compared case-insensitively (contact email); stored keys are lower-cased.
    case_insensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    #: For foreign keys: the name of the object type the value points at.
    fk_target: Mapped[str | None] = mapped_column(String(63), default=None)
    description: Mapped[str] = mapped_column(Text, default="")
    #: The job that created it (None for built-in and hand-made attributes).
    created_by_job: Mapped[str | None] = mapped_column(String(64), default=None)

    object_type: Mapped[ObjectType] = relationship(back_populates="attributes")


#: The longest key value a record can have (characters; the column's width on PostgreSQL).
KEY_MAX_LENGTH = 512


class Record(Base):
    """One hub record. ``values`` holds attribute → canonical JSON value; ``stamps`` the lineage.

    ``stamps`` is ``{"_": [source_time, job, run], "<attribute>": [source_time, job, run], …}``: the
    ``"_"`` entry is the stamp of every attribute without an entry of its own, so a record written
    whole by one run carries one stamp, not twenty.
    """

    __tablename__ = "record"
    __table_args__ = (
        UniqueConstraint("object_type_id", "key"),
        Index("ix_record_object_type_id_updated_at", "object_type_id", "updated_at"),
    )

    hub_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    object_type_id: Mapped[int] = mapped_column(ForeignKey("object_type.id", ondelete="CASCADE"))
    #: The normalised key value (lower-cased for case-insensitive keys); None for key-less types.
    key: Mapped[str | None] = mapped_column(String(KEY_MAX_LENGTH))
    values: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    stamps: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class Connection(TimestampMixin, Base):
    """A configured, authenticated link to one CRM org/portal or file location."""

    __tablename__ = "connection"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(127), unique=True)
    kind: Mapped[str] = mapped_column(String(31))
    settings: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    #: Fernet token of the JSON credentials; never returned in plain text by a listing.
    credentials: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    status: Mapped[str] = mapped_column(String(31), default="untested")
    status_message: Mapped[str] = mapped_column(Text, default="")


class Link(Base):
    """Cross-reference of one hub record and one remote record."""

    __tablename__ = "link"
    __table_args__ = (
        UniqueConstraint("connection_id", "remote_object", "remote_id"),
        UniqueConstraint("hub_id", "connection_id", "remote_object"),
        # References (a contact's AccountId) are resolved by remote id alone, across remote objects.
        Index("ix_link_connection_id_remote_id", "connection_id", "remote_id"),
        Index(
            "ix_link_write_back_pending",
            "connection_id",
            "remote_object",
            sqlite_where=text("write_back_pending"),
            postgresql_where=text("write_back_pending"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hub_id: Mapped[str] = mapped_column(ForeignKey("record.hub_id", ondelete="CASCADE"))
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    remote_object: Mapped[str] = mapped_column(String(127))
    remote_id: Mapped[str] = mapped_column(String(REMOTE_ID_MAX_LENGTH))
    last_received_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    last_sent_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    last_received_at: Mapped[datetime | None] = mapped_column(default=None)
    last_sent_at: Mapped[datetime | None] = mapped_column(default=None)
    #: When a full sync last saw the remote record (delete detection after the sync).
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: How the link was made: the identification route of its hub record (``created``, ``key``,
    #: ``match:<attribute>``, ``outbound``, ``manual``); None for links made before migration 0005.
    matched_by: Mapped[str | None] = mapped_column(String(63), default=None)
    #: The hub id still has to be stamped into the remote record (``stamp_hub_id_field``).
    write_back_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AuditEvent(Base):
    """Append-only log of configuration changes: who, what, when."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(63))
    object_kind: Mapped[str] = mapped_column(String(63))
    object_name: Mapped[str] = mapped_column(String(255))
    details: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)


class Job(TimestampMixin, Base):
    """An inbound or outbound integration job. ``spec`` is the current version of its JobSpec."""

    __tablename__ = "job"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(127), unique=True)
    direction: Mapped[str] = mapped_column(String(10))
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="RESTRICT"), index=True)
    remote_object: Mapped[str] = mapped_column(String(127))
    object_type: Mapped[str] = mapped_column(String(63))
    version: Mapped[int] = mapped_column(Integer, default=1)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Sync state: {"cursor": {...}, "last_full_sync_at": "..."}; moves only with committed batches.
    state: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    #: The cadence (see crmhub.schedule), e.g. {"kind": "daily", "at": "06:30", "timezone": "Europe/Berlin"}.
    schedule: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, default=None)
    #: When the scheduler runs the job next (None: not scheduled); indexed for the scheduler's tick.
    next_run_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    #: Why the saved version does not validate (messages); non-empty makes the job a draft: kept
    #: disabled and never run until a version that validates is saved.
    problems: Mapped[list[str]] = mapped_column(JSONDoc, default=list)

    @property
    def draft(self) -> bool:
        return bool(self.problems)


class JobVersion(Base):
    """Every saved version of a job's spec; a run records the version it ran."""

    __tablename__ = "job_version"
    __table_args__ = (UniqueConstraint("job_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Run(Base):
    """One execution of a job: its current state on the row, history in ``run_event``."""

    __tablename__ = "run"
    __table_args__ = (
        Index("ix_run_job_id_created_at", "job_id", "created_at"),
        # A job's newest run is one seek (run ids are ULIDs): the jobs page and the job's history.
        Index("ix_run_job_id_id", "job_id", "id"),
        # Runs by status (active runs, history filtered by status newest first).
        Index("ix_run_status_id", "status", "id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"))
    job_version: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(20))
    mode: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(30))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int | None] = mapped_column(Integer, default=None)
    usage: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    message: Mapped[str] = mapped_column(Text, default="")
    #: Resume point: the batch number last committed and the state after it.
    checkpoint: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    worker: Mapped[str | None] = mapped_column(String(255), default=None)


class RunEvent(Base):
    """Append-only history of a run."""

    __tablename__ = "run_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)


class RunError(Base):
    """The error ledger: one row per bad record of a run."""

    __tablename__ = "run_error"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), index=True)
    phase: Mapped[str] = mapped_column(String(20))
    row: Mapped[int | None] = mapped_column(Integer, default=None)
    remote_id: Mapped[str | None] = mapped_column(String(255), default=None)
    hub_id: Mapped[str | None] = mapped_column(String(26), default=None)
    field: Mapped[str | None] = mapped_column(String(255), default=None)
    raw_value: Mapped[str | None] = mapped_column(Text, default=None)
    message: Mapped[str] = mapped_column(Text)
    error_class: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Artifact(Base):
    """A file a run produced: its source snapshot (gzip JSON lines)."""

    __tablename__ = "artifact"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    path: Mapped[str] = mapped_column(Text)
    records: Mapped[int] = mapped_column(Integer, default=0)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Role(StrEnum):
    """What a user may do: everything, manage connections and jobs, or only look."""

    ADMIN = "admin"
    ADVANCED = "advanced"
    VIEWER = "viewer"


class User(TimestampMixin, Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    #: argon2id hash of the password (None: the user cannot log in with a password).
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    role: Mapped[str] = mapped_column(String(20), default=Role.VIEWER.value)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)


class PermissionSet(TimestampMixin, Base):
    """A named bundle of single permissions (e.g. "manage account feeds") granted to users."""

    __tablename__ = "permission_set"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(127), unique=True)
    permissions: Mapped[list[str]] = mapped_column(JSONDoc, default=list)


class UserPermissionSet(Base):
    __tablename__ = "user_permission_set"
    __table_args__ = (UniqueConstraint("user_id", "permission_set_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    permission_set_id: Mapped[int] = mapped_column(ForeignKey("permission_set.id", ondelete="CASCADE"))


class ApiToken(Base):
    """A personal API token (``user_id``) or a job-scoped trigger token (``job_id``). Stored hashed.

    The token text is ``<prefix>_<secret>``; ``prefix`` finds the row, ``token_hash`` (SHA-256 of the
    whole token: it has 256 bits of entropy, so a slow hash adds nothing) proves it.
    """

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # "personal" | "trigger"
    name: Mapped[str] = mapped_column(String(127), default="")
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    token_hash: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), default=None
    )
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class LoginAttempt(Base):
    """Failed logins per user and per client address, for brute-force protection."""

    __tablename__ = "login_attempt"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)  # "user:<email>" or "ip:<address>"
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)


class SchedulerLease(Base):
    """Leader election on SQLite (PostgreSQL uses an advisory lock): who ticks, until when."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column()
