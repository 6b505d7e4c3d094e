"""The paused collector still frees cyclic garbage of long loops."""

from __future__ import annotations

import gc
import weakref

from crmhub.core.perf import gc_paused


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_given_cyclic_garbage_that_outlived_young_collections_when_a_long_loop_collects_then_a_full_pass_frees_it() -> (
    None
):
    with gc_paused(full_every=3) as collect:
        assert not gc.isenabled()
        node = _Node()
        alive = weakref.ref(node)
        collect()
        collect()  # the node survived two young collections: it is in the oldest generation now
        del node
        gc.collect(1)
        assert alive() is not None  # a young collection does not free it …
        collect()  # … the third call is a full one
        assert alive() is None


def test_given_the_collector_was_on_when_the_loop_ends_then_it_is_on_again() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
