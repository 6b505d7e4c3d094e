"""Rules for the test suite itself: every test asserts, and none returns early.

A test that returns before its assertions passes without checking anything (one did so on SQLite
for a year). A test that cannot apply says why with ``pytest.skip(reason)``; a test that checks
through a helper calls one whose name says so (``assert_…``, ``check_…``, ``expect_…``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).parent
#: Calls that assert (or fail, or skip with a reason) on the test's behalf.
ASSERTING_CALLS = {"raises", "fail", "skip", "warns", "reject"}
ASSERTING_PREFIXES = ("assert", "check", "expect", "_assert", "_check", "_expect")
#: Tests that assert through a third-party runner, and what does the asserting.
ASSERTED_ELSEWHERE = {
    "test_no_operation_answers_500_or_breaks_its_schema": "schemathesis' call_and_validate raises",
    "test_stateful_sequences_keep_the_contract": "the state machine's validate_response raises",
}


def _test_functions() -> Iterator[tuple[Path, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for path in sorted(TESTS.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
                yield path, node


def _own_nodes(function: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function's body, not of functions or classes defined inside it."""
    for child in ast.iter_child_nodes(function):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        yield child
        yield from _own_nodes(child)


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(TESTS.parent)}:{getattr(node, 'lineno', '?')}"


def test_no_test_returns_early() -> None:
    early = [
        f"{_where(path, ret)} in {fn.name}"
        for path, fn in _test_functions()
        for ret in _own_nodes(fn)
        if isinstance(ret, ast.Return)
    ]
    assert not early, "a test returns before it ends (use pytest.skip(reason) or if/else):\n" + "\n".join(early)


def test_every_test_asserts_something() -> None:
    silent = []
    for path, fn in _test_functions():
        if fn.name in ASSERTED_ELSEWHERE:
            continue
        asserts = any(
            isinstance(node, ast.Assert)
            or (
                isinstance(node, ast.Call)
                and (_call_name(node) in ASSERTING_CALLS or _call_name(node).startswith(ASSERTING_PREFIXES))
            )
            for node in _own_nodes(fn)
        )
        if not asserts:
            silent.append(f"{_where(path, fn)} {fn.name}")
    assert not silent, "tests that assert nothing:\n" + "\n".join(silent)


def test_the_rules_see_an_early_return_and_a_silent_test() -> None:
    """The checks above can fail: a sample with both faults is found by both."""
    sample = ast.parse("def test_sample(x):\n    if x:\n        return\n    print(x)\n").body[0]
    assert any(isinstance(n, ast.Return) for n in _own_nodes(sample))
    assert not any(isinstance(n, ast.Assert) for n in _own_nodes(sample))
