"""What a run spent: API calls made and the CRM's own usage counters as last reported."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ApiUsage:
    """Calls made through one connector, plus the CRM's usage figures (e.g. ``api-usage=18/5000``)."""

    calls: int = 0
    retries: int = 0
    refreshed_tokens: int = 0
    #: CRM-reported figures, e.g. {"daily_used": 18, "daily_limit": 5000}
    reported: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count_call(self) -> None:
        with self._lock:
            self.calls += 1

    def count_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def add_from(self, now: dict[str, Any], before: dict[str, Any]) -> None:
        """Add what another connector spent between two of its :meth:`as_dict` (a reader process's)."""
        counters = ("calls", "retries", "refreshed_tokens")
        with self._lock:
            for name in counters:
                setattr(self, name, getattr(self, name) + int(now.get(name, 0)) - int(before.get(name, 0)))
            self.reported.update({k: v for k, v in now.items() if k not in counters})

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "retries": self.retries,
            "refreshed_tokens": self.refreshed_tokens,
            **self.reported,
        }
