"""Automatic mapping proposals: keys first, then name/label similarity with compatible types.

Each proposal carries a confidence in [0, 1]. Fields without a good match are proposed as new
attributes with the type describe reports (``Products__c`` multi-picklist → ``products`` multi-value).

When the hub's records of the type are keyed from another connection's ids already (a second CRM),
the source's id field is not proposed for the key: it goes to an attribute of its own
(``hubspot_company_id``), and :func:`match_proposal` proposes matching on a shared natural key
instead (accounts: ``domain``; contacts: ``email``, which is their key).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from crmhub.mapping.spec import MappingRow, NewAttribute

#: CRM field names whose meaning a name comparison does not reveal.
SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "employees": (
        "numberofemployees",
        "numberemployees",
        "employee_count",
        "numemployees",
        "numberofemployees",
    ),
    "annual_revenue": ("annualrevenue", "revenue"),
    "billing_country": ("billingcountry", "country"),
    "billing_city": ("billingcity", "city"),
    "first_name": ("firstname",),
    "last_name": ("lastname",),
    "title": ("jobtitle",),
    "domain": ("domain", "website_domain"),
    "owner_email": ("owner_email", "hubspot_owner_email"),
    "type": ("type", "account_type", "accounttype"),
    # Zoho names the account's name and a contact's account lookup both Account_Name.
    "name": ("accountname",),
    "account": ("accountid", "associatedcompanyid", "account_id", "accountname"),
    "country": ("mailingcountry",),
}

COMPATIBLE: Mapping[str, frozenset[str]] = {
    "text": frozenset(
        {"text", "number", "currency", "boolean", "date", "datetime", "foreign_key", "multi_text"}
    ),
    "number": frozenset({"number", "currency"}),
    "currency": frozenset({"number", "currency"}),
    "boolean": frozenset({"boolean"}),
    "date": frozenset({"date", "datetime"}),
    "datetime": frozenset({"datetime", "date"}),
    "foreign_key": frozenset({"text", "foreign_key"}),
    "multi_text": frozenset({"multi_text", "text"}),
}


@dataclass(frozen=True, slots=True)
class SourceField:
    path: str
    label: str
    value_type: str
    is_id: bool = False


@dataclass(frozen=True, slots=True)
class TargetAttribute:
    name: str
    label: str
    type: str
    is_key: bool = False


@dataclass(frozen=True, slots=True)
class Proposal:
    row: MappingRow
    confidence: float
    reason: str


def snake(name: str) -> str:
    """``BillingCountry`` → ``billing_country``; ``Owner.Email`` → ``owner_email``; drops ``__c``."""
    text = re.sub(r"__c$", "", name, flags=re.IGNORECASE)
    text = text.replace(".", "_")
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    text = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    text = re.sub(r"_+", "_", text)
    if not text or not text[0].isalpha():
        text = f"f_{text}"
    return text[:63]


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _score(source: SourceField, target: TargetAttribute) -> float:
    s_name, t_name = snake(source.path), target.name
    if s_name == t_name:
        return 1.0
    squashed = _squash(source.path.removesuffix("__c"))
    if squashed in SYNONYMS.get(t_name, ()):
        return 0.95
    return (
        max(
            fuzz.ratio(s_name, t_name),
            fuzz.ratio(_squash(source.label), _squash(target.label)),
            fuzz.token_sort_ratio(source.label.lower(), target.label.lower()),
        )
        / 100.0
    )


def automap(
    sources: Sequence[SourceField],
    targets: Sequence[TargetAttribute],
    *,
    threshold: float = 0.82,
    propose_new: bool = True,
    reserved: Sequence[str] = (),
    own_id_attribute: str | None = None,
) -> list[Proposal]:
    """Mapping proposals, keys first, each source and each target used at most once.

    ``own_id_attribute``: the hub's key holds another connection's ids; the source's id field goes
    to this attribute (created if new) instead of to the key.
    """
    proposals: list[Proposal] = []
    used_sources: set[str] = set()
    used_targets: set[str] = set()

    id_source = next((s for s in sources if s.is_id), None)
    if own_id_attribute is not None and id_source is not None:
        known = next((t for t in targets if t.name == own_id_attribute), None)
        proposals.append(
            Proposal(
                MappingRow(
                    source=id_source.path,
                    target=own_id_attribute,
                    new_attribute=None
                    if known
                    else NewAttribute(type="text", label=f"{id_source.label} (remote id)"),
                ),
                0.9,
                f"this connection's own id: the hub's key holds another connection's ids, so "
                f"{id_source.path} gets an attribute of its own",
            )
        )
        used_sources.add(id_source.path)
        used_targets.add(own_id_attribute)

    key = next((t for t in targets if t.is_key), None)
    if key is not None:
        exact = next((s for s in sources if snake(s.path) == key.name), None)
        id_field = None if own_id_attribute is not None else id_source
        email = (
            next((s for s in sources if snake(s.path) in ("email", "e_mail")), None)
            if key.name == "email"
            else None
        )
        chosen = exact or email or id_field
        if chosen is not None and chosen.path not in used_sources:
            proposals.append(
                Proposal(
                    MappingRow(source=chosen.path, target=key.name),
                    1.0 if chosen is exact else 0.9,
                    f"key: {chosen.path} identifies the record",
                )
            )
            used_sources.add(chosen.path)
            used_targets.add(key.name)

    candidates: list[tuple[float, SourceField, TargetAttribute]] = []
    for source in sources:
        if source.path in used_sources:
            continue
        for target in targets:
            if target.name in used_targets or target.is_key:
                continue
            score = _score(source, target)
            if source.value_type not in COMPATIBLE.get(target.type, frozenset()):
                if source.value_type != "text":
                    continue
                # Text converts to anything with a source format, value by value: a weaker match.
                score *= 0.9
            if score >= threshold:
                candidates.append((score, source, target))
    for score, source, target in sorted(candidates, key=lambda c: (-c[0], c[1].path, c[2].name)):
        if source.path in used_sources or target.name in used_targets:
            continue
        used_sources.add(source.path)
        used_targets.add(target.name)
        proposals.append(
            Proposal(
                MappingRow(source=source.path, target=target.name),
                round(score, 2),
                f"{source.path} ≈ {target.name} ({score:.0%})",
            )
        )

    domain = next((t for t in targets if t.name == "domain"), None)
    if domain is not None and "domain" not in used_targets:
        website = next(
            (
                s
                for s in sources
                if snake(s.path) in ("website", "url", "web_site") and s.value_type == "text"
            ),
            None,
        )
        if website is not None:
            used_targets.add("domain")
            proposals.append(
                Proposal(
                    MappingRow(expression=f"DOMAIN({website.path})", target="domain"),
                    0.85,
                    f"domain normalised from {website.path} (what records of several CRMs are matched on)",
                )
            )

    if propose_new:
        taken = {t.name for t in targets} | used_targets | set(reserved)
        for source in sources:
            if source.path in used_sources or source.is_id:
                continue
            name = snake(source.path)
            if name in taken:
                name = f"source_{name}"[:63]
            if name in taken:
                continue
            taken.add(name)
            proposals.append(
                Proposal(
                    MappingRow(
                        source=source.path,
                        target=name,
                        new_attribute=NewAttribute(
                            type=source.value_type if source.value_type != "foreign_key" else "text",
                            label=source.label,
                        ),
                    ),
                    0.5,
                    f"new {source.value_type} attribute from {source.path}",
                )
            )
    return proposals


@dataclass(frozen=True, slots=True)
class MatchProposal:
    """Attributes to match existing hub records on (a job's ``match_on``), with a confidence."""

    match_on: tuple[str, ...]
    confidence: float
    reason: str


#: Natural keys records of several CRMs share, per object type (normalised when compared).
NATURAL_KEYS: Mapping[str, tuple[str, ...]] = {"account": ("domain",), "contact": ("email",)}


def match_proposal(object_type: str, key: str | None, proposals: Sequence[Proposal]) -> MatchProposal | None:
    """For a second CRM: match on the type's natural key when the proposed mapping fills it."""
    targets = {p.row.target for p in proposals}
    natural = [a for a in NATURAL_KEYS.get(object_type, ()) if a in targets]
    if not natural:
        return None
    if natural == [key]:
        return MatchProposal(
            tuple(natural),
            0.95,
            f"{key} is the key and a natural one: records of both CRMs with the same {key} are one record",
        )
    return MatchProposal(
        tuple(natural),
        0.8,
        f"match on {', '.join(natural)} (compared normalised, case-insensitive): the hub's {key} holds "
        "another connection's ids, so a record of this CRM meets its counterpart through these",
    )


def own_id_attribute_name(kind: str, remote_object: str, taken: Sequence[str] = ()) -> str:
    """``hubspot`` + ``companies`` → ``hubspot_company_id`` (``…_2_id`` when that name is taken)."""
    singular = snake(remote_object)
    if singular.endswith("ies"):
        singular = singular[:-3] + "y"
    elif singular.endswith("s") and not singular.endswith("ss"):
        singular = singular[:-1]
    base = snake(f"{kind}_{singular}")[:55]
    name = f"{base}_id"
    n = 2
    while name in taken:
        name = f"{base}_{n}_id"
        n += 1
    return name
