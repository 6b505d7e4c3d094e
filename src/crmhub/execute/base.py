"""The executor protocol."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Executor(Protocol):
    """Executes created runs. ``submit`` must be called after the run row is committed."""

    def submit(self, run_id: str) -> None:
        """Queue a run for execution (returns at once)."""
        ...

    def start(self) -> None:
        """Start workers (no-op for executors whose workers are separate processes)."""
        ...

    def stop(self, *, wait: bool = True) -> None:
        """Stop taking work; with ``wait`` let running runs reach their end."""
        ...
