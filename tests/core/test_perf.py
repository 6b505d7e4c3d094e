"""The paused collector still frees cyclic garbage of long loops."""

from __future__ import annotations

import gc
import threading
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


def test_given_young_every_when_a_loop_collects_then_young_garbage_is_freed_only_on_every_nth_call() -> None:
    with gc_paused(full_every=100, young_every=3) as collect:
        node = _Node()
        alive = weakref.ref(node)
        del node  # fresh cyclic garbage, in the young generation
        collect()
        collect()
        assert alive() is not None  # calls 1 and 2 collect nothing
        collect()
        assert alive() is None  # call 3 is a young collection


def test_given_the_collector_was_on_when_the_loop_ends_then_it_is_on_again() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_given_objects_alive_before_the_loop_when_it_runs_then_full_passes_skip_them_and_they_return_after() -> (
    None
):
    before = _Node()  # alive before the loop: frozen, so a full pass inside never walks it
    with gc_paused(full_every=1):
        assert gc.get_freeze_count() > 0
        made_inside = _Node()
        assert gc.is_tracked(made_inside)
    assert gc.get_freeze_count() == 0  # unfrozen: the collector looks after them again
    alive = weakref.ref(before)
    del before
    gc.collect()
    assert alive() is None


def test_given_two_threads_in_paused_loops_when_the_first_ends_then_the_collector_stays_paused_until_the_last() -> (
    None
):
    second_in, first_out, second_done = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def second() -> None:
        with gc_paused():
            second_in.set()
            first_out.wait(5)
            seen["enabled_after_first_ended"] = gc.isenabled()
            seen["frozen_after_first_ended"] = gc.get_freeze_count() > 0
        second_done.set()

    thread = threading.Thread(target=second)
    with gc_paused():
        thread.start()
        assert second_in.wait(5)  # both loops are inside now
    first_out.set()
    thread.join(5)
    assert second_done.is_set()
    assert seen == {"enabled_after_first_ended": False, "frozen_after_first_ended": True}
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
