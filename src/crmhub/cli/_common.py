"""What every command group shares: opening the hub, printing errors as one clear line."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from crmhub.core.errors import CrmHubError, JobInvalidError
from crmhub.services.hub import HubService

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, *, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code)


def user_errors(fn: F) -> F:
    """Turn crmhub errors into one line on stderr and exit code 1 (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except JobInvalidError as exc:
            # The headline, every problem on its own line (each names its row), then what to do.
            err_console.print(f"[bold red]error:[/] {exc.headline}:", soft_wrap=True)
            for _where, message in exc.problems:
                err_console.print(f"  [red]✗[/] {message}", soft_wrap=True)
            if exc.hint:
                err_console.print(f"  {exc.hint}", soft_wrap=True)
            raise typer.Exit(1) from None
        except CrmHubError as exc:
            raise fail(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def open_hub(*, ready: bool = True) -> HubService:
    """The hub of the current settings; with ``ready`` it must be initialised and migrated."""
    hub = HubService.open()
    if ready:
        try:
            hub.check_ready()
        except BaseException:
            hub.close()  # its pool's connection would otherwise wait for the collector
            raise
    return hub
