"""The records of one emulated object type: seeded rows derived lazily, written rows materialized.

Every record has a row number. Seeded rows ``0 .. seeded-1`` are computed on demand from the seed
(``derive(row)``) and have modstamps that grow with the row number, so they are already in
(modstamp, row) order; a write materializes the row as a dict (replacing, never mutating, the old
dict, so open query cursors keep a consistent snapshot) and a delete turns it into a tombstone.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Record = dict[str, Any]
#: A row reference in a result list: an ``int`` (an untouched seeded row) or the record dict itself.
Ref = int | Record

#: Seeded tables up to this size keep every derived row once computed.
SMALL_TABLE = 10_000


@dataclass(frozen=True)
class LookupSpec:
    """A field records can be found by (external id, e-mail …).

    Attributes:
        field: the record key.
        normalize: maps a value to its lookup key (e.g. ``str.casefold``); ``None`` keys are not indexed.
        inverse: for seeded rows whose value can be computed back to a row number, that function
            (so no full index over millions of seeded rows is ever built).
    """

    field: str
    normalize: Callable[[Any], Any]
    inverse: Callable[[Any], int | None] | None = None


class RecordTable:
    """Rows of one object type with (modstamp, row) ordering, tombstones and lookup indexes."""

    def __init__(
        self,
        *,
        seeded: int,
        derive: Callable[[int], Record],
        stamp_base: int,
        stamp_step: int,
        stamp_key: str,
        lookups: tuple[LookupSpec, ...] = (),
    ) -> None:
        self.seeded = seeded
        self._derive = derive
        self.stamp_base = stamp_base
        self.stamp_step = max(stamp_step, 1)
        self.stamp_key = stamp_key
        self.live: dict[int, Record] = {}
        self.dead: dict[int, Record] = {}
        self._touched: set[int] = set()  # seeded rows that are materialized or dead
        self.next_row = seeded
        self.version = 0
        self._sorted: list[tuple[int, int, Record, bool]] | None = None
        self._specs = {spec.field: spec for spec in lookups}
        self._index: dict[str, dict[Any, set[int]]] = {}
        self._full_index: set[str] = set()
        self._last_row = -1
        self._last_rec: Record = {}
        # Small tables (users, owners) are looked up once per record of a page through
        # relationship fields; keeping their derived rows avoids re-deriving them every time.
        self._cache: dict[int, Record] | None = {} if seeded <= SMALL_TABLE else None

    # -- single rows ------------------------------------------------------------------------------

    def seeded_stamp(self, row: int) -> int:
        """The modstamp a seeded row has before anyone writes it."""
        return self.stamp_base + row * self.stamp_step

    def derive(self, row: int) -> Record:
        """The seeded record of ``row`` (memoized for the last row asked)."""
        if row == self._last_row:
            return self._last_rec
        cache = self._cache
        if cache is not None:
            rec = cache.get(row)
            if rec is None:
                rec = cache[row] = self._derive(row)
            return rec
        rec = self._derive(row)
        self._last_row, self._last_rec = row, rec
        return rec

    def untouched(self, row: int) -> bool:
        """Whether ``row`` is a seeded row nobody wrote or deleted."""
        return 0 <= row < self.seeded and row not in self._touched

    def get(self, row: int) -> Record | None:
        """The live record of ``row``, or ``None`` when it is deleted or does not exist."""
        rec = self.live.get(row)
        if rec is not None:
            return rec
        if self.untouched(row):
            return self.derive(row)
        return None

    def get_dead(self, row: int) -> Record | None:
        """The tombstone of a deleted ``row``."""
        return self.dead.get(row)

    def resolve(self, ref: Ref) -> Record:
        """The record a result reference stands for."""
        return self.derive(ref) if isinstance(ref, int) else ref

    def new_row(self) -> int:
        """Allocate the row number of a record being created."""
        row = self.next_row
        self.next_row += 1
        return row

    def put(self, row: int, rec: Record) -> None:
        """Store ``rec`` as the live record of ``row`` (create, update or undelete)."""
        old = self.get(row) if row not in self.dead else None
        self._unindex(row, old)
        self.live[row] = rec
        self.dead.pop(row, None)
        if row < self.seeded:
            self._touched.add(row)
        self._index_rec(row, rec)
        self._changed()

    def kill(self, row: int, tombstone: Record) -> None:
        """Delete ``row``, keeping ``tombstone`` for deleted-record reads."""
        self._unindex(row, self.get(row))
        self.live.pop(row, None)
        self.dead[row] = tombstone
        if row < self.seeded:
            self._touched.add(row)
        self._changed()

    def purge(self, row: int) -> None:
        """Forget a tombstone (hard delete)."""
        if self.dead.pop(row, None) is not None:
            self._changed()

    def _changed(self) -> None:
        self.version += 1
        self._sorted = None

    # -- counting and ordering --------------------------------------------------------------------

    def live_count(self) -> int:
        """How many records are live."""
        dead_seeded = sum(1 for r in self.dead if r < self.seeded)
        live_new = sum(1 for r in self.live if r >= self.seeded)
        return self.seeded - dead_seeded + live_new

    def dead_count(self) -> int:
        """How many tombstones there are."""
        return len(self.dead)

    def _materialized(self) -> list[tuple[int, int, Record, bool]]:
        if self._sorted is None:
            key = self.stamp_key
            items = [(rec[key], row, rec, False) for row, rec in self.live.items()]
            items += [(rec[key], row, rec, True) for row, rec in self.dead.items()]
            items.sort(key=lambda t: (t[0], t[1]))
            self._sorted = items
        return self._sorted

    def seeded_row_range(self, lo: int | None, hi: int | None) -> tuple[int, int]:
        """Seeded rows whose modstamp lies in ``[lo, hi)`` (either bound may be open)."""
        start, stop = 0, self.seeded
        if lo is not None:
            start = max(start, -((self.stamp_base - lo) // self.stamp_step))  # ceil division
        if hi is not None:
            stop = min(stop, -((self.stamp_base - hi) // self.stamp_step))
        return start, max(start, stop)

    def natural_refs(
        self, *, lo: int | None = None, hi: int | None = None, live: bool = True, dead: bool = False
    ) -> list[Ref]:
        """References to records in (modstamp, row) order, optionally only modstamps in ``[lo, hi)``."""
        if live:
            start, stop = self.seeded_row_range(lo, hi)
            touched = self._touched
            if touched:
                seeded_refs: list[Ref] = [r for r in range(start, stop) if r not in touched]
            else:
                seeded_refs = list(range(start, stop))
        else:
            seeded_refs = []
        mats = [
            (stamp, row, rec)
            for stamp, row, rec, is_dead in self._materialized()
            if (dead if is_dead else live) and (lo is None or stamp >= lo) and (hi is None or stamp < hi)
        ]
        if not mats:
            return seeded_refs
        if not seeded_refs:
            return [rec for _, _, rec in mats]
        last = seeded_refs[-1]
        assert isinstance(last, int)
        if (mats[0][0], mats[0][1]) > (self.seeded_stamp(last), last):
            return seeded_refs + [rec for _, _, rec in mats]
        out: list[Ref] = []
        prev = 0
        base, step = self.stamp_base, self.stamp_step
        for stamp, row, rec in mats:
            # The first seeded row whose (stamp, row) sorts after this materialized record.
            if stamp < base:
                first_after = 0
            else:
                t = (stamp - base) // step
                first_after = t + 1 if base + t * step < stamp or t < row else t
            idx = bisect.bisect_left(seeded_refs, first_after, lo=prev)  # type: ignore[type-var]
            out.extend(seeded_refs[prev:idx])
            out.append(rec)
            prev = idx
        out.extend(seeded_refs[prev:])
        return out

    def rows_from(self, start: int, *, dead: bool = False) -> Iterator[tuple[int, Ref]]:
        """(row, ref) pairs in row order from ``start``: live records, or tombstones with ``dead``."""
        if dead:
            for row in sorted(r for r in self.dead if r >= start):
                yield row, self.dead[row]
            return
        live, touched, seeded = self.live, self._touched, self.seeded
        row = max(start, 0)
        while row < self.next_row:
            if row < seeded and row not in touched:
                yield row, row
            else:
                rec = live.get(row)
                if rec is not None:
                    yield row, rec
            row += 1

    # -- lookups ----------------------------------------------------------------------------------

    def lookup(self, field: str, value: Any) -> list[int]:
        """Rows of live records whose ``field`` matches ``value`` (after the field's normalization)."""
        spec = self._specs[field]
        key = spec.normalize(value)
        if key is None:
            return []
        rows: set[int] = set()
        if spec.inverse is not None:
            row = spec.inverse(key)
            if row is not None and self.untouched(row) and spec.normalize(self.derive(row).get(field)) == key:
                rows.add(row)
        else:
            self._build_full_index(field)
        rows |= self._index.get(field, {}).get(key, set())
        return sorted(rows)

    def _build_full_index(self, field: str) -> None:
        if field in self._full_index:
            return
        spec = self._specs[field]
        index = self._index.setdefault(field, {})
        for row in range(self.seeded):
            if row not in self._touched:
                key = spec.normalize(self.derive(row).get(field))
                if key is not None:
                    index.setdefault(key, set()).add(row)
        for row, rec in self.live.items():
            key = spec.normalize(rec.get(field))
            if key is not None:
                index.setdefault(key, set()).add(row)
        self._full_index.add(field)

    def _index_rec(self, row: int, rec: Record | None) -> None:
        if rec is None:
            return
        for field, spec in self._specs.items():
            if spec.inverse is None and field not in self._full_index:
                continue
            key = spec.normalize(rec.get(field))
            if key is not None:
                self._index.setdefault(field, {}).setdefault(key, set()).add(row)

    def _unindex(self, row: int, rec: Record | None) -> None:
        if rec is None:
            return
        for field, spec in self._specs.items():
            key = spec.normalize(rec.get(field))
            if key is not None:
                bucket = self._index.get(field, {}).get(key)
                if bucket is not None:
                    bucket.discard(row)
