"""Small performance tools for hot loops."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector around a hot loop that creates no reference cycles.

    Bulk paths allocate millions of short-lived dicts and tuples; each allocation burst triggers
    collections that walk every live object (the caller's input rows too), which measured here
    costs 1.7–2.4× the loop itself. Reference counting still frees everything promptly.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
