"""Cursors: how far an incremental read has come.

A cursor is the last modstamp read plus the ids already read at exactly that modstamp. Reads go
ordered by (modstamp, id) from ``modstamp >= cursor.modstamp - lookback``; records at the cursor's
modstamp whose id is in ``ids_at`` are skipped, so thousands of records sharing one timestamp are
neither lost (the bound is inclusive) nor read twice. A cursor never moves past the run's start,
and it is committed with the batch it covers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from crmhub.core.values import format_datetime


@dataclass(frozen=True, slots=True)
class Cursor:
    """Last modstamp (canonical UTC text) and the ids read at it."""

    modstamp: str | None = None
    ids_at: frozenset[str] = field(default_factory=frozenset)

    def to_json(self) -> dict[str, Any]:
        return {"modstamp": self.modstamp, "ids_at": sorted(self.ids_at)}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Cursor:
        if not data:
            return cls()
        return cls(data.get("modstamp"), frozenset(data.get("ids_at") or ()))

    def read_from(self, lookback: timedelta) -> datetime | None:
        """The inclusive lower bound for the next read."""
        if self.modstamp is None:
            return None
        return datetime.fromisoformat(self.modstamp.replace("Z", "+00:00")) - lookback

    def seen(self, modstamp: str, remote_id: str) -> bool:
        """True when (modstamp, id) was read already under this cursor."""
        return modstamp == self.modstamp and remote_id in self.ids_at

    def advance(self, items: Iterable[tuple[str, str]]) -> Cursor:
        """The cursor after reading (modstamp, id) pairs in (modstamp, id) order."""
        modstamp, ids = self.modstamp, set(self.ids_at)
        for stamp, remote_id in items:
            if modstamp is None or stamp > modstamp:
                modstamp, ids = stamp, {remote_id}
            elif stamp == modstamp:
                ids.add(remote_id)
            # an older stamp (lookback re-read) does not move the cursor
        return Cursor(modstamp, frozenset(ids))

    def capped(self, run_started: datetime) -> Cursor:
        """Never past the run's start: a later modstamp is clamped (and its ids forgotten)."""
        limit = format_datetime(run_started)
        if self.modstamp is not None and self.modstamp > limit:
            return Cursor(limit, frozenset())
        return self
