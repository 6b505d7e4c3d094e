"""Identity: which hub record an inbound remote record is, when no link says so yet.

The routes, in order (DESIGN.md, "Identity" and "One hub, many CRMs"):

1. **link** — the connection's link for this remote record (handled by the page loader);
2. **key** — a live or soft-deleted hub record with the row's key value. A key that is this record's
   own remote id (``Id → account_id``) never meets a record whose key another connection's job set:
   two CRMs' ids that happen to coincide are not the same company. That attempt is an identity
   conflict in the ledger, unless the job names the key in ``match_on`` (then the ids are meant to
   be shared, e.g. a CSV export of the same org);
3. **match rules** — ``match_on`` attributes other than the key, in order, compared normalised
   (``domain`` as DOMAIN() normalises it, anything else trimmed and lower-cased) against live
   records not yet linked to this remote object. Exactly one candidate identifies the record;
   several are an ambiguity in the ledger (nothing is merged);
4. **created** — a new hub record, if the job may create (with the row's key, or key-less when the
   job maps none: such a record is reached through its links and match rules).

A record reached by any route other than creation is then written by hub id, which never rewrites
its key (``crmhub.store.records.upsert_records``). Each link records the route that made it
(``link.matched_by``); each run counts the routes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from crmhub.connectors.base import RemoteRecord
from crmhub.expr.functions import domain as normalise_domain
from crmhub.store import jobs as job_repo
from crmhub.store import links as link_repo
from crmhub.store import records as record_repo
from crmhub.store.schema import TypeSchema

#: (remote record, its digest, its mapped row)
Item = tuple[RemoteRecord, str, dict[str, Any]]


def normalise_match_value(attribute: str, value: Any) -> str | None:
    """The form a match rule compares: domains as DOMAIN() makes them, other text trimmed, lower-cased."""
    if value is None or isinstance(value, (list, dict)):
        return None
    if attribute == "domain" or attribute.endswith("_domain"):
        return normalise_domain(value)
    text = str(value).strip().lower()
    return text or None


@dataclass
class Identified:
    """What identity resolution decided for one page's unlinked records."""

    #: reached an existing record: (item, hub id, route) — the row now carries ``hub_id``
    existing: list[tuple[Item, str, str]] = field(default_factory=list)
    #: to create, with a key (upserted by key, so records of one page sharing it meet) / without
    keyed: list[Item] = field(default_factory=list)
    keyless: list[Item] = field(default_factory=list)
    #: ledger rows for records that were not loaded (identity conflicts, ambiguous match rules)
    refused: list[dict[str, Any]] = field(default_factory=list)


class Identifier:
    """Resolves identity for one job's pages (see the module docstring)."""

    def __init__(
        self,
        *,
        schema: TypeSchema,
        connection_id: int,
        remote_object: str,
        match_on: list[str],
    ) -> None:
        self.schema = schema
        self.connection_id = connection_id
        self.remote_object = remote_object
        key = schema.key
        #: The job names its key: keys from other connections' ids are shared on purpose.
        self.key_shared = key is not None and key in match_on
        self.rules = [a for a in match_on if a != key]
        self._job_connections: dict[str, int | None] = {}

    def resolve(self, session: Session, items: list[Item]) -> Identified:
        out = Identified()
        schema, key_attr = self.schema, self.schema.key
        keyed: dict[str, list[Item]] = {}
        unkeyed: list[Item] = []
        for item in items:
            ident = schema.normalise_key(item[2].get(key_attr)) if key_attr is not None else None
            if ident is None:
                unkeyed.append(item)
            else:
                keyed.setdefault(ident, []).append(item)
        holders = record_repo.find_by_keys(session, schema, list(keyed)) if keyed else {}
        self._learn_jobs(session, {h.key_job for h in holders.values() if h.key_job is not None})
        leftover: list[Item] = []
        conflicted: dict[int, str] = {}  # id(item) → the hub record holding its key
        for ident, group in keyed.items():
            holder = holders.get(ident)
            if holder is None:
                leftover.extend(group)
                continue
            owner = self._job_connections.get(holder.key_job) if holder.key_job is not None else None
            for item in group:
                record = item[0]
                foreign = owner is not None and owner != self.connection_id
                if foreign and not self.key_shared and ident == schema.normalise_key(record.id):
                    # Not this record; a match rule may still find the one it is.
                    conflicted[id(item)] = holder.hub_id
                    leftover.append(item)
                    continue
                item[2]["hub_id"] = holder.hub_id
                out.existing.append((item, holder.hub_id, "key"))
        rest = leftover + unkeyed
        if rest and self.rules:
            rest = self._match(session, rest, out)
        for item in rest:
            holder_id = conflicted.get(id(item))
            if holder_id is not None:  # its key is taken, so it cannot be created either
                ident = schema.normalise_key(item[2].get(key_attr)) if key_attr is not None else None
                out.refused.append(self._conflict(item, ident or "", holder_id))
                continue
            if key_attr is not None and schema.normalise_key(item[2].get(key_attr)) is not None:
                out.keyed.append(item)
            else:
                out.keyless.append(item)
        return out

    def _learn_jobs(self, session: Session, jobs: set[str]) -> None:
        """Which connection each key-setting job uses (cached for the run)."""
        unknown = {j for j in jobs if j not in self._job_connections}
        if not unknown:
            return
        ids = {int(j) for j in unknown if j.isdigit()}
        found = job_repo.connections_of_jobs(session, ids)
        for job in unknown:
            # A deleted job, or a write made by hand (no job): nobody's remote ids.
            self._job_connections[job] = found.get(int(job)) if job.isdigit() else None

    def _match(self, session: Session, items: list[Item], out: Identified) -> list[Item]:
        """The match rules, in order; returns the items no rule identified."""
        claimed: set[str] = set()  # hub records this page matched already
        for attribute in self.rules:
            if not items:
                break
            wanted: dict[str, list[Item]] = {}
            unmatched: list[Item] = []
            for item in items:
                value = normalise_match_value(attribute, item[2].get(attribute))
                if value is None:
                    unmatched.append(item)
                else:
                    wanted.setdefault(value, []).append(item)
            if not wanted:
                continue
            found = record_repo.find_by_attribute(session, self.schema, attribute, sorted(wanted))
            candidates = sorted({h for ids in found.values() for h in ids})
            linked = link_repo.link_states_by_hub(
                session,
                connection_id=self.connection_id,
                remote_object=self.remote_object,
                hub_ids=candidates,
            )
            for value, group in wanted.items():
                # A record linked to another record of this remote object is that record's already.
                hub_ids = [h for h in found.get(value, ()) if h not in linked]
                for item in group:
                    free = [h for h in hub_ids if h not in claimed]
                    if len(free) == 1:
                        claimed.add(free[0])
                        item[2]["hub_id"] = free[0]
                        out.existing.append((item, free[0], f"match:{attribute}"))
                    elif len(free) > 1:
                        out.refused.append(self._ambiguous(item, attribute, value, free))
                    else:
                        unmatched.append(item)
            items = unmatched
        return items

    def _conflict(self, item: Item, ident: str, hub_id: str) -> dict[str, Any]:
        record, key_attr = item[0], self.schema.key
        return {
            "phase": "identify",
            "row": record.row,
            "remote_id": record.id,
            "hub_id": hub_id,
            "field": key_attr,
            "raw_value": ident,
            "message": (
                f"identity conflict: {self.schema.name} {key_attr}={ident!r} is the key of hub record "
                f"{hub_id}, set from another connection's ids; this job maps its own remote id "
                f"{self.remote_object} {record.id} to the key, so it is not the same record. Map the "
                f"remote id to an attribute of its own (settings.remote_id_attribute) and match on a "
                f"shared attribute (match_on: [domain]), or add {key_attr} to match_on if the ids are "
                "meant to be shared"
            ),
            "error_class": "IdentityConflict",
        }

    def _ambiguous(self, item: Item, attribute: str, value: str, hub_ids: list[str]) -> dict[str, Any]:
        record = item[0]
        shown = ", ".join(hub_ids[:5]) + (f" and {len(hub_ids) - 5} more" if len(hub_ids) > 5 else "")
        return {
            "phase": "identify",
            "row": record.row,
            "remote_id": record.id,
            "field": attribute,
            "raw_value": value,
            "message": (
                f"match rule {attribute} = {value!r} finds {len(hub_ids)} hub records ({shown}); "
                f"{self.remote_object} {record.id} was not loaded. Merge or correct those records, or "
                "match on a stricter attribute"
            ),
            "error_class": "AmbiguousMatch",
        }
