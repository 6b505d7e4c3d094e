"""The default executor: a pool of threads in the serving process (SQLite, nothing to install)."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor

from crmhub.services.connections import ConnectionService
from crmhub.services.hub import HubService
from crmhub.sync.runner import execute_run

log = logging.getLogger("crmhub.execute")


class InProcessExecutor:
    """Runs each submitted run on one of ``workers`` threads."""

    def __init__(self, hub: HubService, *, workers: int = 2) -> None:
        self.hub = hub
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._futures: dict[str, Future[object]] = {}

    def start(self) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="crmhub-run")

    def submit(self, run_id: str) -> None:
        self.start()
        assert self._pool is not None
        self._futures[run_id] = self._pool.submit(self._execute, run_id)

    def _execute(self, run_id: str) -> object:
        try:
            return execute_run(
                self.hub.db,
                run_id,
                open_connector=ConnectionService(self.hub).open,
                data_dir=self.hub.settings.resolved_home,
            )
        except Exception:  # execute_run records failures itself; this is a last resort
            log.exception("run %s could not be executed", run_id)
            raise
        finally:
            self._futures.pop(run_id, None)

    def wait(self, run_id: str, timeout: float | None = None) -> object:
        """Block until a submitted run has finished (for tests and the CLI)."""
        future = self._futures.get(run_id)
        return future.result(timeout) if future is not None else None

    def stop(self, *, wait: bool = True) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=not wait)
            self._pool = None
