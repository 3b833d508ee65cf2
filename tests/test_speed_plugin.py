"""The slow marker (tests/speed_plugin.py): set by fixture; a test not
marked that starts a process fails with a message saying how to mark it,
and one that takes long is listed at the end of the run (never failed: a
timed failure would flake on a busy machine), so that ``make test-fast``
stays fast."""
import pytest

INI = """
[pytest]
markers =
    slow: starts a process or waits long
"""


@pytest.fixture
def run_pytest(pytester, monkeypatch):
    pytester.makeini(INI)
    # only the plugin under test: loading the installed ones takes a second
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")

    def run(source, *args):
        pytester.makepyfile(source)
        return pytester.runpytest("-p", "speed_plugin", *args)

    return run


def test_a_test_using_the_chaos_fixture_is_marked_slow(run_pytest):
    result = run_pytest("""
        import pytest

        @pytest.fixture
        def chaos():
            return "runs chaos"

        @pytest.fixture
        def indirect(chaos):
            return chaos

        def test_direct(chaos):
            pass

        def test_through_another_fixture(indirect):
            pass

        def test_plain():
            pass
    """, "-m", "not slow")
    result.assert_outcomes(passed=1, deselected=2)


def test_an_unmarked_test_over_the_limit_is_listed_not_failed(run_pytest):
    # the limit, stretched by the load average, stays far below the nap
    result = run_pytest("""
        import time
        import pytest

        def test_unmarked_nap():
            time.sleep(0.25)

        @pytest.mark.slow
        def test_marked_nap():
            time.sleep(0.25)

        def test_quick():
            pass
    """, "--fast-limit", "0.01")
    result.assert_outcomes(passed=3)
    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "*= tests not marked slow that took long =*",
        "*test_unmarked_nap: its call took 0.2* s, over the fast tests' "
        "limit of * s",
        "if this happens on a quiet machine too: mark it @pytest.mark.slow*"])
    listed = result.stdout.str().split("took long")[1]
    assert "test_marked_nap" not in listed and "test_quick" not in listed


def test_no_time_check_with_a_limit_of_zero(run_pytest):
    # the nap is over the 0.01 s limit of the test above
    result = run_pytest("""
        import time

        def test_unmarked_nap():
            time.sleep(0.25)
    """, "--fast-limit", "0")
    result.assert_outcomes(passed=1)
    assert "took long" not in result.stdout.str()


@pytest.mark.slow  # the test it runs starts a process, on purpose
def test_an_unmarked_test_that_starts_a_process_fails(run_pytest):
    result = run_pytest("""
        import subprocess
        import sys
        import pytest

        def test_unmarked_process():
            subprocess.run([sys.executable, "-c", "pass"], check=True)

        @pytest.mark.slow
        def test_marked_process():
            subprocess.run([sys.executable, "-c", "pass"], check=True)
    """, "--fast-limit", "0")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*test_unmarked_process is not marked slow, but it starts a process "
        "(*python* -c pass): mark it*"])
