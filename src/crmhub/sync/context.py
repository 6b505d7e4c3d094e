"""What one run works with: the database, the job as it was when the run started, the connector."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from crmhub.connectors.base import Connector
from crmhub.store.database import Database
from crmhub.sync.common import Progress
from crmhub.sync.readahead import ReadProcess
from crmhub.sync.spec import JobSpec


@dataclass
class RunContext:
    db: Database
    run_id: str
    job_id: int
    job_version: int
    spec: JobSpec
    connection_id: int
    state: dict[str, Any]
    connector: Connector
    snapshot_dir: Path
    mode: str  # "full" | "incremental"
    started_at: datetime
    dry_run: bool = False
    on_progress: Callable[[Progress], None] | None = None
    #: Job ids whose values must not be echoed back by this (outbound) run: inbound jobs on the same connection.
    echo_jobs: frozenset[str] = frozenset()
    #: The run's own resume point, committed with each page (e.g. how much snapshot those pages wrote).
    checkpoint: dict[str, Any] = field(default_factory=dict)
    #: Whether (and how) a large inbound read may continue in a reader process; None: never.
    read_process: ReadProcess | None = None


class Cancelled(Exception):
    """Raised between batches when a cancel was requested."""


class DryRunRollback(Exception):
    """Raised inside a batch transaction of a dry run to undo its writes."""
