"""Fast and slow tests: ``make test-fast`` runs ``pytest -m "not slow"``.

A test is slow when it starts a process (``chaos run``, the ``chaostracing``
command, a collector, node, a browser) or spends long in waits or searches.
It is marked ``slow`` (registered in pyproject.toml):

- automatically, when it uses a fixture that starts a process
  (:data:`SLOW_FIXTURES`, directly or through another fixture);
- by its module's ``pytestmark = pytest.mark.slow``;
- by ``@pytest.mark.slow`` on the test.

So that a new slow test cannot hide in the fast loop, a test that is not
marked fails, in every run, when it starts a process (any
``subprocess.Popen`` or ``os.fork``): a deterministic check.

Time is only reported, never a failure: a phase (set-up, call, tear-down)
of an unmarked test longer than ``--fast-limit`` seconds (1 s by default,
stretched by the load average per core; 0: no report) is listed at the end
of the run, with how to mark it. A timed check that failed tests would
flake on a busy machine (a CI run failed that way: 1.1 s on a loaded
runner for a test taking 0.3 s here).
"""
import os
import platform
import subprocess
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

__all__ = ["SLOW_FIXTURES"]

# fixtures that start a process: a test using one is slow
SLOW_FIXTURES = frozenset({
    "chaos",  # conftest.py: `chaos run` in a subprocess
    "bare_venv",  # conftest.py: pip installs into a fresh virtualenv
    "our_wheel",  # conftest.py: pip builds the wheel
})


class _State:
    """The test running now, and the processes it started."""

    def __init__(self) -> None:
        self.running: Optional[pytest.Item] = None
        self.started: Dict[str, List[str]] = {}
        self.original: Optional[Callable[..., Any]] = None
        # unmarked tests over the time limit: (node id, phase, seconds, limit)
        self.overtime: List[Tuple[str, str, float, float]] = []

    def record(self, what: str) -> None:
        item = self.running
        if item is not None and not _is_slow(item):
            self.started.setdefault(item.nodeid, []).append(what)


_STATE = pytest.StashKey[_State]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fast-limit", type=float, default=1.0, metavar="SECONDS",
        help="list, at the end of the run, the tests not marked slow whose "
             "set-up, call or tear-down takes longer (scaled up by the load "
             "average per core; 0: no list)")


def _is_slow(item: pytest.Item) -> bool:
    return item.get_closest_marker("slow") is not None


def pytest_configure(config: pytest.Config) -> None:
    state = config.stash[_STATE] = _State()
    # platform.processor() runs `uname -p` once, then answers from a cache,
    # in whichever test asks first (chaoslib does, for the journal): asked
    # here, so that the check does not depend on the tests' order
    platform.processor()
    original = state.original = subprocess.Popen._execute_child  # type: ignore

    def execute_child(self: Any, args: Any, *rest: Any, **kwargs: Any) -> Any:
        state.record(" ".join(map(str, args))
                     if isinstance(args, (list, tuple)) else str(args))
        return original(self, args, *rest, **kwargs)

    subprocess.Popen._execute_child = execute_child  # type: ignore
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(before=lambda: state.record("os.fork()"))


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None and state.original is not None:
        subprocess.Popen._execute_child = state.original  # type: ignore
        state.running = None


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Any:
    state = item.config.stash[_STATE]
    state.running = item
    try:
        yield
    finally:
        state.running = None
        state.started.pop(item.nodeid, None)


def _limit(config: pytest.Config) -> float:
    limit: float = config.getoption("--fast-limit")
    if limit <= 0:
        return 0.0
    try:
        busy = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        busy = 1.0
    return limit * max(1.0, busy)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    outcome = yield
    report = outcome.get_result()
    if not report.passed or _is_slow(item):
        return
    state = item.config.stash[_STATE]
    started = state.started.pop(item.nodeid, None)
    limit = _limit(item.config)
    if limit and report.duration > limit:
        state.overtime.append(
            (item.nodeid, report.when, report.duration, limit))
    if started:
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} is not marked slow, but it starts a process ("
            + "; ".join(started)[:300] + "): " + _HOW)


_HOW = ("mark it @pytest.mark.slow (or its module: pytestmark = "
        "pytest.mark.slow), or use a fixture named in tests/speed_plugin.py "
        "SLOW_FIXTURES; make test-fast leaves slow tests out.")


def pytest_terminal_summary(
        terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None or not state.overtime:
        return
    terminalreporter.section("tests not marked slow that took long")
    for nodeid, when, seconds, limit in state.overtime:
        terminalreporter.write_line(
            f"{nodeid}: its {when} took {seconds:.2f} s, over the fast "
            f"tests' limit of {limit:.2f} s")
    terminalreporter.write_line(
        "if this happens on a quiet machine too: " + _HOW)
