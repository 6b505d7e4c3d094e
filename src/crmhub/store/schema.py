"""Object types and attributes: definitions, name rules, and the compiled per-type schema."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from crmhub.core.errors import NotFoundError, ValidationError
from crmhub.core.values import Coercer, coercer_for
from crmhub.store.models import Attribute, AttributeCategory, AttributeType, ObjectType

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
#: Names that collide with record columns, the stamps' default entry, or SQL words people filter with.
RESERVED_NAMES = frozenset(
    {
        "hub_id",
        "id",
        "key",
        "values",
        "stamps",
        "created_at",
        "updated_at",
        "deleted_at",
        "object_type",
        "and",
        "or",
        "not",
        "null",
        "true",
        "false",
        "in",
        "like",
        "is",
        "select",
        "from",
        "where",
    }
)


def validate_name(name: str, *, what: str) -> str:
    """Return ``name`` if it is a valid object type / attribute name, else raise ValidationError."""
    if not isinstance(name, str) or name == "":
        raise ValidationError(f"{what} name is empty", hint="use lower-case letters, digits and _")
    if name in RESERVED_NAMES:
        raise ValidationError(f"{what} name {name!r} is reserved", hint="choose another name")
    if not NAME_RE.match(name):
        reason = "contains spaces" if " " in name else "is not lower-case letters, digits and _"
        suggestion = re.sub(r"[^a-z0-9_]+", "_", name.strip().lower()).strip("_") or "a_name"
        if not suggestion[0].isalpha():
            suggestion = f"a_{suggestion}"
        raise ValidationError(
            f"{what} name {name!r} {reason} (must start with a letter, at most 63 characters)",
            hint=f"try {suggestion[:63]!r}",
        )
    return name


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    """What a caller gives to define an attribute."""

    name: str
    type: str = AttributeType.TEXT
    label: str | None = None
    category: str = AttributeCategory.CRM
    is_key: bool = False
    case_insensitive: bool = False
    fk_target: str | None = None
    description: str = ""
    created_by_job: str | None = None


@dataclass(slots=True)
class TypeSchema:
    """An object type compiled for the record paths: ids, key rule and one coercer per attribute."""

    id: int
    name: str
    key: str | None
    key_case_insensitive: bool
    types: dict[str, str]
    coercers: dict[str, Coercer] = field(default_factory=dict)
    #: foreign-key attribute → the object type it points at
    references: dict[str, str] = field(default_factory=dict)

    def normalise_key(self, value: Any) -> str | None:
        if value is None:
            return None
        text = value if type(value) is str else str(value)
        text = text.strip()
        if not text:
            return None
        return text.lower() if self.key_case_insensitive else text


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def create_object_type(
    session: Session, *, name: str, label: str | None = None, description: str = "", builtin: bool = False
) -> ObjectType:
    validate_name(name, what="object type")
    if session.scalar(select(ObjectType.id).where(ObjectType.name == name)) is not None:
        raise ValidationError(f"object type {name!r} already exists")
    ot = ObjectType(name=name, label=label or _label(name), description=description, builtin=builtin)
    session.add(ot)
    session.flush()
    return ot


def add_attribute(session: Session, object_type: ObjectType, spec: AttributeSpec) -> Attribute:
    validate_name(spec.name, what="attribute")
    try:
        type_ = AttributeType(spec.type)
    except ValueError:
        allowed = ", ".join(t.value for t in AttributeType)
        raise ValidationError(
            f"attribute {spec.name!r}: unknown type {spec.type!r}", hint=f"use one of {allowed}"
        ) from None
    try:
        category = AttributeCategory(spec.category)
    except ValueError:
        allowed = ", ".join(c.value for c in AttributeCategory)
        raise ValidationError(
            f"attribute {spec.name!r}: unknown category {spec.category!r}", hint=f"use one of {allowed}"
        ) from None
    existing = {a.name for a in object_type.attributes}
    if spec.name in existing:
        raise ValidationError(f"object type {object_type.name!r} already has an attribute {spec.name!r}")
    if type_ is AttributeType.FOREIGN_KEY:
        if not spec.fk_target:
            raise ValidationError(
                f"attribute {spec.name!r} is a foreign key but names no target object type",
                hint="give fk_target, e.g. 'account'",
            )
        if session.scalar(select(ObjectType.id).where(ObjectType.name == spec.fk_target)) is None:
            raise ValidationError(
                f"attribute {spec.name!r}: target object type {spec.fk_target!r} does not exist"
            )
    elif spec.fk_target:
        raise ValidationError(f"attribute {spec.name!r}: only foreign keys take a target object type")
    if spec.is_key:
        if any(a.is_key for a in object_type.attributes):
            raise ValidationError(f"object type {object_type.name!r} already has a key attribute")
        if type_ not in (AttributeType.TEXT, AttributeType.NUMBER):
            raise ValidationError(f"key attribute {spec.name!r} must be text or number, not {type_.value}")
    attribute = Attribute(
        name=spec.name,
        label=spec.label or _label(spec.name),
        type=type_.value,
        category=category.value,
        is_key=spec.is_key,
        case_insensitive=spec.case_insensitive,
        fk_target=spec.fk_target,
        description=spec.description,
        created_by_job=spec.created_by_job,
    )
    object_type.attributes.append(attribute)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent definer won the race
        raise ValidationError(
            f"object type {object_type.name!r} already has an attribute {spec.name!r}"
        ) from exc
    return attribute


def get_object_type(session: Session, name: str) -> ObjectType:
    ot = session.scalar(
        select(ObjectType).where(ObjectType.name == name).options(selectinload(ObjectType.attributes))
    )
    if ot is None:
        from crmhub.expr.checker import did_you_mean

        names = list(session.scalars(select(ObjectType.name).order_by(ObjectType.name)))
        raise NotFoundError(
            f"object type {name!r} does not exist{did_you_mean(name, names)}",
            hint=f"known object types: {', '.join(names) or 'none'}",
        )
    return ot


def list_object_types(session: Session) -> list[ObjectType]:
    return list(
        session.scalars(
            select(ObjectType).order_by(ObjectType.name).options(selectinload(ObjectType.attributes))
        )
    )


#: One statement for a type and its attributes, built once: loading a schema is on every records
#: page and every sync batch, and the ORM's two-query relationship load cost most of such a page.
_SCHEMA_ROWS = (
    select(
        ObjectType.id,
        ObjectType.name,
        Attribute.name.label("attribute"),
        Attribute.type,
        Attribute.is_key,
        Attribute.case_insensitive,
        Attribute.fk_target,
    )
    .outerjoin(Attribute, Attribute.object_type_id == ObjectType.id)
    .where(ObjectType.name == bindparam("name"))
    .order_by(Attribute.id)
)


def load_schema(session: Session, name: str) -> TypeSchema:
    """The object type ``name`` compiled for the record paths; NotFoundError names the known ones."""
    rows = session.execute(_SCHEMA_ROWS, {"name": name}).all()  # (autoflushes a pending attribute)
    if not rows:
        get_object_type(session, name)  # raises NotFoundError with the known names
    attributes = [r for r in rows if r.attribute is not None]
    key = next((a for a in attributes if a.is_key), None)
    types = {a.attribute: a.type for a in attributes}
    return TypeSchema(
        id=rows[0].id,
        name=rows[0].name,
        key=key.attribute if key else None,
        key_case_insensitive=bool(key and key.case_insensitive),
        types=types,
        coercers={n: coercer_for(t) for n, t in types.items()},
        references={a.attribute: a.fk_target for a in attributes if a.fk_target},
    )
