"""The ``>>>`` examples in the package's docstrings run, as written.

Each docstring with examples is one test (in the fast loop, with the suite's
fixtures: internal errors fail it). An example that cannot run here is
rewritten until it can, or removed: none is skipped.
"""
import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import chaostracing
import chaostracing_contrib

PACKAGES = [chaostracing, chaostracing_contrib]


def _modules():
    for package in PACKAGES:
        yield package.__name__
        for info in pkgutil.walk_packages(package.__path__,
                                          package.__name__ + "."):
            yield info.name


def _docstrings():
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = []
    for name in _modules():
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            if test.examples and test.name.startswith(name):
                found.append(test)
    return sorted(found, key=lambda t: t.name)


DOCTESTS = _docstrings()


@pytest.mark.parametrize("test", DOCTESTS, ids=[t.name for t in DOCTESTS])
def test_the_example_runs_as_written(test):
    out = []
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    result = runner.run(test, out=out.append, clear_globs=True)
    assert result.failed == 0, "".join(out)


def test_the_examples_are_found_and_none_is_skipped():
    names = {t.name for t in DOCTESTS}
    assert "chaostracing._run.redact.Redactor" in names
    assert len(names) >= 10, names
    sources = [path for package in PACKAGES
               for path in Path(package.__path__[0]).rglob("*.py")]
    skipped = [str(path) for path in sources
               if "doctest: +SKIP" in path.read_text(encoding="utf-8")]
    assert skipped == []
