"""The extras install with the pip a fresh virtualenv has (no ``pip install
-U pip`` first), in seconds, and leave a clean ``pip check``: all at once,
and one at a time. setup.py caps OpenTelemetry's packages at the newest
complete train (``tools/otel_trains.py``); without the caps pip 23
backtracked for 17 minutes into ``ResolutionImpossible``.

The install tests download from PyPI, so they leave 127.0.0.1, which the
house rule keeps tests from doing, and their result depends on what PyPI
holds that day: they run only when asked (``make test-pypi``, which sets
``CHAOSTRACING_PYPI_TESTS=1``), and skip, saying so, otherwise or when PyPI
cannot be reached. The checks of the caps themselves run always.
"""
import importlib.util
import json
import os
import re
import subprocess
import sys
import urllib.request

import pytest
from conftest import ROOT

EXTRAS = ["opentelemetry", "grpc", "instrument", "aws", "jaeger", "collect"]
#: far above the seconds a resolution takes with the caps, far below the
#: quarter of an hour pip 23 backtracked without them
LIMIT = 300


def tool():
    spec = importlib.util.spec_from_file_location(
        "otel_trains", ROOT / "tools" / "otel_trains.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def pypi():
    if os.environ.get("CHAOSTRACING_PYPI_TESTS") != "1":
        pytest.skip("installs from PyPI, off 127.0.0.1: run make test-pypi")
    try:
        urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=10)
    except OSError as error:
        pytest.skip(f"PyPI cannot be reached ({error}): the install test "
                    "needs it")


@pytest.fixture
def fresh_venv(tmp_path):
    """A virtualenv as `python -m venv` makes it: its pip not upgraded."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                   capture_output=True, timeout=120)
    return venv / "bin"


def pip(bin_dir, *args):
    try:
        return subprocess.run([str(bin_dir / "pip"), *args],
                              capture_output=True, text=True, timeout=LIMIT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"pip {' '.join(args)} took more than {LIMIT} s: do the "
                    "caps admit an incomplete OpenTelemetry train? Run "
                    "python tools/otel_trains.py")


def install(bin_dir, *requirements):
    proc = pip(bin_dir, "install", "--quiet", *requirements)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def assert_one_train_and_pip_check_clean(bin_dir):
    check = pip(bin_dir, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    listed = json.loads(pip(bin_dir, "list", "--format=json").stdout)
    versions = {p["name"].lower(): p["version"] for p in listed}
    api = versions["opentelemetry-api"]
    assert versions["opentelemetry-sdk"] == api
    minor, micro = (int(x) for x in api.split(".")[1:])
    contrib = f"0.{minor + 21}b{micro}"
    for name in ("opentelemetry-instrumentation-urllib3",
                 "opentelemetry-instrumentation-aiohttp-client",
                 "opentelemetry-semantic-conventions"):
        assert versions[name] == contrib, (name, versions[name], api)


def pip_version(bin_dir):
    text = pip(bin_dir, "--version").stdout
    return tuple(int(x) for x in re.match(r"pip (\d+)\.(\d+)", text).groups())


@pytest.mark.slow  # pip, from PyPI
def test_every_extra_at_once_with_a_fresh_venvs_pip(pypi, fresh_venv,
                                                    our_wheel):
    print(f"pip {pip_version(fresh_venv)}")  # -s shows which was tested
    install(fresh_venv, "chaostoolkit",
            f"{our_wheel}[{','.join(EXTRAS)}]")
    assert_one_train_and_pip_check_clean(fresh_venv)


@pytest.mark.slow  # pip, from PyPI
def test_the_extras_one_at_a_time_stay_on_one_train(pypi, fresh_venv,
                                                     our_wheel):
    install(fresh_venv, "chaostoolkit", f"{our_wheel}[{EXTRAS[0]}]")
    for extra in EXTRAS[1:]:
        install(fresh_venv, f"{our_wheel}[{extra}]")
    assert_one_train_and_pip_check_clean(fresh_venv)


def test_the_caps_are_read_from_setup_py_as_the_tool_reads_them():
    cap, contrib = tool().caps()
    text = (ROOT / "setup.py").read_text()
    assert f"<{'.'.join(map(str, cap))}\"" in text
    assert contrib == tool().contrib_of(cap)  # both lines on one train


def test_a_train_missing_a_package_is_incomplete():
    trains = tool()
    known = {name: {"1.45.1", "0.66b1", "1.45.2", "0.66b2"}
             for name in trains.CORE + trains.CONTRIB}
    known.update({name: {"0.65b0", "0.66b1", "0.66b2"}
                  for name in trains.LATER})
    assert trains.missing((1, 45, 2), known) == []
    known["opentelemetry-instrumentation-urllib3"].discard("0.66b2")
    assert trains.missing((1, 45, 2), known) == [
        "opentelemetry-instrumentation-urllib3"]
    # packages that began later are required from their first train on
    before = {name: {"1.43.0", "0.64b0"}
              for name in trains.CORE + trains.CONTRIB}
    before.update({name: {"0.65b0"} for name in trains.LATER})
    assert trains.missing((1, 43, 0), before) == []
