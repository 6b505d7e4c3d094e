"""API usage counting against a daily request limit."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class UsageSnapshot:
    """Requests counted today, the daily limit, and requests refused for being over it."""

    used: int
    limit: int
    refused: int

    @property
    def remaining(self) -> int:
        """Requests left today."""
        return max(self.limit - self.used, 0)


class UsageMeter:
    """Counts API requests; refuses them once ``limit`` were counted until :meth:`reset`."""

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError("the daily request limit must not be negative")
        self.limit = limit
        self.used = 0
        self.refused = 0
        self._lock = threading.Lock()

    def consume(self, cost: int = 1) -> bool:
        """Count one request costing ``cost`` units (Zoho: API credits); false (and nothing counted)
        when the daily limit is reached."""
        with self._lock:
            if self.used >= self.limit:
                self.refused += 1
                return False
            self.used += cost
            return True

    def reset(self) -> None:
        """Start a new day: nothing used."""
        with self._lock:
            self.used = 0
            self.refused = 0

    def snapshot(self) -> UsageSnapshot:
        """The counters now."""
        return UsageSnapshot(self.used, self.limit, self.refused)
