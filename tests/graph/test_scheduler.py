"""The scheduler's state machine, with exact state assertions."""

from __future__ import annotations

import pytest

from graph.scheduler import Scheduler


def test_outputs_first_then_lifo() -> None:
    s = Scheduler()
    s.add("a")
    s.add("b")
    s.add("out", ["a"], is_output=True)
    s.add("c", ["a", "b"])
    assert s.ready_count == 2
    assert s.pop_ready() == "b"  # LIFO among plain nodes
    assert s.pop_ready() == "a"
    s.done("a")
    assert s.pop_ready() == "out"  # output nodes jump the queue
    s.done("b")
    s.done("out")
    assert s.pop_ready() == "c"
    s.done("c")
    assert not s.is_active()


def test_defer_waits_for_new_dependencies() -> None:
    s = Scheduler()
    s.add("x")
    s.add("lazy")
    assert s.pop_ready() == "lazy"
    s.defer("lazy", ["x"])
    assert s.waiting == {"lazy": frozenset({"x"})}
    assert s.pop_ready() == "x"
    s.done("x")
    assert s.pop_ready() == "lazy"
    s.defer("lazy", ["x"])  # already done: ready again at once
    assert s.pop_ready() == "lazy"


def test_misuse_messages_say_what_to_do() -> None:
    s = Scheduler()
    with pytest.raises(ValueError, match="pop_ready"):
        s.done("nope")
    with pytest.raises(ValueError, match="add\\(\\) it first"):
        s.add("a", ["missing"])
    s.add("b")
    with pytest.raises(ValueError, match="already added"):
        s.add("b")
    with pytest.raises(ValueError, match="only a running node"):
        s.defer("b", [])


def test_find_cycle_names_the_nodes() -> None:
    s = Scheduler()
    s.add("a")
    s.add("b", ["a"])
    s.add("c", ["b"])
    assert s.pop_ready() == "a"
    s.defer("a", ["c"])  # a now waits for c, which waits for b, which waits for a
    assert s.pop_ready() is None
    assert sorted(s.find_cycle()) == ["a", "b", "c"]
