"""Local files a connection may touch: only inside the allowed roots (``CRMHUB_FILE_ROOTS``).

A path is judged after resolving ``~``, ``..`` and symlinks, so neither a ``../../etc/passwd`` nor
a symlink inside a root that points outside gets through. Connection services check a connection's
paths when it is created or updated; connectors check again whenever they open a file, because the
file system (a symlink, the roots) may have changed since.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from crmhub.core.errors import ConfigError

__all__ = ["PathNotAllowedError", "confine"]


class PathNotAllowedError(ConfigError):
    """A connection names a file or folder outside every allowed root."""


def confine(path: str | Path, roots: Sequence[Path], *, what: str = "the path") -> Path:
    """``path`` made absolute with symlinks resolved; PathNotAllowedError unless inside one of ``roots``.

    A relative path is taken relative to the first root (never to the server's working folder,
    which an answer would otherwise reveal); an empty one is refused.
    """
    allowed = [Path(root).expanduser().resolve() for root in roots]
    if not str(path).strip():
        raise PathNotAllowedError(
            f"{what} is empty",
            hint="name a file or folder inside " + (", ".join(map(str, allowed)) or "a file root"),
        )
    given = Path(path).expanduser()
    if not given.is_absolute() and allowed:
        given = allowed[0] / given
    resolved = given.resolve()
    if any(resolved.is_relative_to(root) for root in allowed):
        return resolved
    shown = ", ".join(str(root) for root in allowed) or "(none)"
    via = "" if str(resolved) == str(path) else f" (resolved: {resolved})"
    raise PathNotAllowedError(
        f"{what} {str(path)!r}{via} is outside the folders crmhub may use: {shown}",
        hint="move the files into one of those folders, or add their folder to CRMHUB_FILE_ROOTS "
        "(a JSON list, or paths separated by ':' — ';' on Windows) and restart crmhub",
    )
