"""Executors: where runs execute. In-process threads (default) or Celery workers (scale-out).

Only this package imports Celery, and only in :mod:`crmhub.execute.celery_app` (loaded on first use
of :class:`CeleryExecutor`, so the embedded setup needs no Celery installed). An executor receives a
run id after the run row is committed; the worker claims the run, re-reads everything it needs from
the database and is idempotent. Settings: :mod:`crmhub.execute.settings`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmhub.execute._worker import RunWorker, WorkResult
from crmhub.execute.base import Executor
from crmhub.execute.inprocess import InProcessExecutor
from crmhub.execute.settings import ExecutionSettings

if TYPE_CHECKING:
    from crmhub.execute.celery_app import CeleryExecutor

__all__ = [
    "CeleryExecutor",
    "ExecutionSettings",
    "Executor",
    "InProcessExecutor",
    "RunWorker",
    "WorkResult",
]


def __getattr__(name: str) -> Any:
    if name == "CeleryExecutor":
        try:
            from crmhub.execute.celery_app import CeleryExecutor
        except ImportError as exc:  # pragma: no cover - depends on the install
            from crmhub.core.errors import ConfigError

            raise ConfigError(
                "the Celery executor needs Celery", hint="pip install 'crmhub[celery,postgres]'"
            ) from exc
        return CeleryExecutor
    raise AttributeError(f"module 'crmhub.execute' has no attribute {name!r}")
