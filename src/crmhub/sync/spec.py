"""Job specs: what an integration job moves, how it maps, and its settings. Jobs as code (YAML)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crmhub.core.cadence import Schedule
from crmhub.core.errors import ConfigError
from crmhub.mapping.spec import MappingRow, NewAttribute

#: The longest job YAML accepted (a job with a thousand mapping rows is well under it).
MAX_YAML_CHARS = 1_000_000


class _AliasRefused(yaml.YAMLError):
    pass


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing aliases: an anchor used as ``*ref`` can make a 600-byte text
    expand into millions of elements (a "billion laughs"), and no job needs one."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            mark = event.start_mark
            raise _AliasRefused(
                f"aliases (*{event.anchor}) are not accepted in job YAML "
                f"(line {mark.line + 1}, column {mark.column + 1})"
            )
        return super().compose_node(parent, index)


#: What a new job's name may be (as a connection's).
JOB_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


def check_job_name(name: str) -> None:
    """ConfigError unless ``name`` is lower-case letters, digits, ``-`` and ``_``, starting with a
    letter, at most 63 characters — like a connection's: never a job id (all digits), never hiding
    characters (NUL, right-to-left overrides), and a safe file name for exports. Checked when a job
    is created or renamed, so jobs stored under older names keep loading and running."""
    if not JOB_NAME_RE.match(name):
        suggestion = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_") or "a-job"
        if not suggestion[0].isalpha():
            suggestion = f"job-{suggestion}"
        raise ConfigError(
            f"job name {name[:80]!r} must be lower-case letters, digits, '-' and '_', start with a "
            "letter and be at most 63 characters",
            hint=f"try {suggestion[:63]!r}",
        )

Direction = Literal["inbound", "outbound"]
DeletePolicy = Literal["keep", "unlink", "soft_delete"]


class JobSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    create_records: bool = Field(
        True, description="Create new records (off: new ones are counted as ignored)."
    )
    update_records: bool = Field(True, description="Update existing records (outbound).")
    most_recent_wins: bool = Field(
        False, description="Resolve conflicts per attribute by the newer source time."
    )
    write_back: list[str] = Field(
        default_factory=list, description="Hub attributes that flow back to the source."
    )
    stamp_hub_id_field: str | None = Field(
        None, description="Remote field that receives the hub id (e.g. Hub_ID__c)."
    )
    remote_id_attribute: str | None = Field(None, description="Hub attribute that receives the remote id.")
    delete_policy: DeletePolicy = Field(
        "keep", description="What a full sync does to linked records not seen."
    )
    error_threshold_percent: float = Field(
        10.0, ge=0, le=100, description="Fail a run above this share of bad records."
    )
    full_sync_every: timedelta | None = Field(timedelta(days=1), description="Run a full sync this often.")
    lookback_seconds: int = Field(
        300, ge=0, description="Incremental reads start this long before the cursor."
    )
    snapshot_retention: int = Field(10, ge=0, description="Keep the source snapshots of this many runs.")
    batch_size: int = Field(2000, ge=1, le=50000)


NotifyWhen = Literal["failure", "success", "errors_above"]


class WebhookChannel(BaseModel):
    """POST a JSON body, signed ``X-Crmhub-Signature: sha256=<HMAC-SHA256 of the body with secret>``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["webhook"] = "webhook"
    url: str = Field(
        pattern=r"^https?://\S+$", max_length=2000, description="http(s) URL receiving the POST."
    )
    secret: str | None = Field(
        None,
        max_length=1024,
        description="Key of the body's HMAC signature (at most 255 characters; stored encrypted).",
    )

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        # Stored sealed ("fernet:…", longer than the key itself); a key given in clear is at most 255.
        if value is not None and not value.startswith("fernet:") and len(value) > 255:
            raise ValueError("a webhook secret is at most 255 characters")
        return value


class EmailChannel(BaseModel):
    """An e-mail over SMTP (``CRMHUB_SMTP_HOST`` / ``_PORT`` / ``_FROM``)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["email"] = "email"
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=255)]] = Field(
        min_length=1, max_length=50
    )


class NotificationRule(BaseModel):
    """When a run ends: on failure, on success, or when its error count is above ``threshold``.

    The key is ``when`` rather than ``on``: YAML 1.1 (PyYAML) reads a bare ``on:`` key as ``true``.
    """

    model_config = ConfigDict(extra="forbid")

    when: NotifyWhen
    threshold: int | None = Field(None, ge=0, description="errors_above: notify above this many errors.")
    channel: Annotated[WebhookChannel | EmailChannel, Field(discriminator="kind")]

    @model_validator(mode="after")
    def _threshold(self) -> NotificationRule:
        if self.when == "errors_above" and self.threshold is None:
            raise ValueError("a rule 'when: errors_above' needs a threshold")
        return self


class JobSpec(BaseModel):
    """One integration job. Every saved edit becomes a new version; runs record the version."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    direction: Direction
    connection: str
    remote_object: str
    parent_object: str | None = None
    object_type: str
    fields: list[str] = Field(default_factory=list, description="Source fields (inbound), dot paths allowed.")
    filter: str | None = Field(
        None, description="Inbound: a filter over source fields; outbound: over hub attributes."
    )
    mapping: list[MappingRow] = Field(default_factory=list)
    match_field: str | None = Field(None, description="Outbound: the remote field matched before creating.")
    match_on: list[str] = Field(
        default_factory=list,
        description=(
            "Inbound: hub attributes that identify an existing record when no link does, tried in order "
            "after the key (e.g. [domain] for accounts, [email] for contacts). Naming the key here lets "
            "it match a record keyed from another connection's remote ids."
        ),
    )
    parent_link: str | None = Field(
        None, description="Outbound: hub foreign-key attribute whose linked remote record becomes the parent."
    )
    parent_field: str | None = Field(
        None, description="Outbound: remote field holding the parent id (AccountId)."
    )
    settings: JobSettings = Field(default_factory=JobSettings)
    schedule: Schedule | None = Field(
        None, description="When the scheduler runs the job (see crmhub.schedule); none: only on demand."
    )
    notifications: list[NotificationRule] = Field(
        default_factory=list, description="Webhooks and e-mails sent when a run ends."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a job needs a name")
        return value.strip()

    def to_yaml(self) -> str:
        data = self.model_dump(mode="json", exclude_none=True)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    @classmethod
    def from_yaml(cls, text: str, *, origin: str = "job YAML") -> JobSpec:
        if len(text) > MAX_YAML_CHARS:
            raise ConfigError(
                f"{origin} is {len(text):,} characters long; a job is at most {MAX_YAML_CHARS:,}",
                hint="a job's YAML is its settings and mapping; keep data out of it",
            )
        try:
            data = yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader that refuses aliases
        except _AliasRefused as exc:
            raise ConfigError(f"{origin}: {exc}", hint="write the repeated part out in full") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ConfigError(f"{origin} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
        return cls.from_data(data, origin=origin)

    @classmethod
    def from_data(cls, data: Any, *, origin: str = "job") -> JobSpec:
        if not isinstance(data, dict):
            raise ConfigError(f"{origin} must be a mapping of job settings")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(_explain(e) for e in exc.errors())
            raise ConfigError(f"{origin}: {problems}") from None


#: The schedule kinds in plain words (what a pydantic tag error would only list as names).
SCHEDULE_KINDS = {
    "once": "once at a date and time (at: 2026-12-24T06:00)",
    "every_minutes": "every N minutes (minutes: 15)",
    "hourly": "every hour at a minute past (minute: 5)",
    "daily": "every day at a time (at: '06:30')",
    "workdays": "Monday to Friday at a time (at: '06:30')",
    "weekly": "on some weekdays at a time (days: [mon, thu], at: '06:30')",
    "monthly": "on a day of the month at a time (day: 1, at: '06:30')",
}


def _kinds() -> str:
    return "; ".join(f"{kind}: {words}" for kind, words in SCHEDULE_KINDS.items())


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model whose keys sit at ``loc`` in a job document (for "did you mean" on unknown keys)."""
    from crmhub.core import cadence

    model: type[BaseModel] | None = JobSpec
    nested: dict[tuple[type[BaseModel], str], type[BaseModel]] = {
        (JobSpec, "settings"): JobSettings,
        (JobSpec, "mapping"): MappingRow,
        (JobSpec, "notifications"): NotificationRule,
        (MappingRow, "new_attribute"): NewAttribute,
    }
    kinds: dict[str, type[BaseModel]] = {
        "once": cadence.Once,
        "every_minutes": cadence.EveryMinutes,
        "hourly": cadence.Hourly,
        "daily": cadence.Daily,
        "workdays": cadence.Workdays,
        "weekly": cadence.Weekly,
        "monthly": cadence.Monthly,
        "webhook": WebhookChannel,
        "email": EmailChannel,
    }
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        if part in kinds and model in (JobSpec, NotificationRule):
            model = kinds[part]
        elif (model, part) in nested:
            model = nested[(model, part)]
        elif part == "schedule" or part == "channel":
            continue  # the tag (kind) comes next
        else:
            return None
    return model


def _explain(error: Any) -> str:
    """One pydantic error in a job document's words: the path without pydantic's union tags, the
    schedule kinds explained, and a "did you mean" for an unknown key."""
    from crmhub.expr.checker import did_you_mean

    loc = tuple(error["loc"])
    shown = [str(p) for p in loc if not (loc[:1] == ("schedule",) and p in SCHEDULE_KINDS)]
    where = ".".join(shown) or "job"
    kind = error.get("type")
    if loc[:1] == ("schedule",) and kind == "union_tag_invalid":
        tag = str((error.get("ctx") or {}).get("tag", ""))
        return f"schedule: {tag!r} is not a kind of schedule{did_you_mean(tag, SCHEDULE_KINDS)}; use one of — {_kinds()}"
    if loc[:1] == ("schedule",) and kind in ("union_tag_not_found", "model_attributes_type", "dict_type"):
        return f"schedule: say which kind of schedule with 'kind:' — {_kinds()}"
    if loc[:1] == ("schedule",) and kind == "missing" and len(loc) > 2 and loc[1] in SCHEDULE_KINDS:
        return f"{where}: a {loc[1]} schedule runs {SCHEDULE_KINDS[str(loc[1])]}; it needs {str(loc[-1])!r}"
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        known = list(model.model_fields) if model is not None else []
        return f"{where}: unknown key {str(loc[-1])!r}{did_you_mean(str(loc[-1]), known)}"
    return f"{where}: {error['msg']}"
