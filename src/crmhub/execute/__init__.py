"""Executors: where runs execute. In-process threads (default) or Celery workers (scale-out).

Only this package imports Celery. An executor receives a run id after the run row is committed; the
task re-reads everything it needs from the database and is idempotent.
"""

from crmhub.execute.base import Executor
from crmhub.execute.inprocess import InProcessExecutor

__all__ = ["Executor", "InProcessExecutor"]
