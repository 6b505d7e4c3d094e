"""A settable UTC clock for one emulator, in epoch milliseconds.

Every write takes its modstamp from :meth:`EmulatorClock.next_stamp`, which never goes backwards even
when a test moves the clock back, so (modstamp, id) order always follows write order.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from crmhub.core.clock import ensure_utc


def to_ms(value: datetime) -> int:
    """Epoch milliseconds of an aware (or naive-as-UTC) datetime."""
    return int(ensure_utc(value).timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """The aware UTC datetime of epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, UTC)


#: The longest lead over the clock a write's stamp is waited out (see :meth:`EmulatorClock.next_stamp`).
MAX_WAIT_MS = 50


class EmulatorClock:
    """The emulator's notion of now: real time shifted by an offset, or frozen at one instant.

    Args:
        start: the time the clock shows when created (default: the real current time).
        frozen: stay at ``start`` until moved with :meth:`set` or :meth:`advance`.
    """

    def __init__(self, start: datetime | None = None, *, frozen: bool = False) -> None:
        real = time.time_ns() // 1_000_000
        self.start_ms = to_ms(start) if start is not None else real
        self._offset = self.start_ms - real
        self._frozen: int | None = self.start_ms if frozen else None
        self._last_stamp = 0
        self._lock = threading.Lock()

    @property
    def frozen(self) -> bool:
        """Whether the clock stands still."""
        return self._frozen is not None

    def now_ms(self) -> int:
        """Now, in epoch milliseconds."""
        if self._frozen is not None:
            return self._frozen
        return time.time_ns() // 1_000_000 + self._offset

    def now(self) -> datetime:
        """Now, as an aware UTC datetime."""
        return from_ms(self.now_ms())

    def set(self, value: datetime) -> None:
        """Show ``value`` from now on (frozen clocks stay frozen, running clocks keep running)."""
        ms = to_ms(value)
        if self._frozen is not None:
            self._frozen = ms
        else:
            self._offset = ms - time.time_ns() // 1_000_000

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or back, with a negative number)."""
        self.set(self.now() + timedelta(seconds=seconds))

    def freeze(self, at: datetime | None = None) -> None:
        """Stop the clock at ``at`` (default: its current time)."""
        self._frozen = to_ms(at) if at is not None else self.now_ms()

    def unfreeze(self) -> None:
        """Let a frozen clock run again from the time it shows."""
        if self._frozen is not None:
            self._offset = self._frozen - time.time_ns() // 1_000_000
            self._frozen = None

    def next_stamp(self) -> int:
        """A modstamp for a write: now, but strictly after every stamp handed out before.

        Writes faster than one per millisecond would take stamps ahead of the clock, which no CRM
        does: a client that read "everything until now" right after such a write would miss it. So
        a running clock waits out a short lead (a burst of writes) before handing the stamp out; a
        longer one (the clock was moved back) or a frozen clock does not wait.
        """
        with self._lock:
            now = self.now_ms()
            stamp = max(now, self._last_stamp + 1)
            self._last_stamp = stamp
        lead = stamp - now
        if 0 < lead <= MAX_WAIT_MS and self._frozen is None:
            time.sleep(lead / 1000)
        return stamp

    def note_stamp(self, stamp: int) -> None:
        """Remember an explicitly set stamp so later writes still sort after it."""
        with self._lock:
            self._last_stamp = max(self._last_stamp, stamp)
