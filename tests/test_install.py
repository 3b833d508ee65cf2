"""Installing: this project succeeds chaostoolkit-opentracing 0.18.1.

``pip install -U`` of our wheel over an installed 0.18.1 must leave this
project (version, files, the ``chaostracing`` command) and trace a run.
Offline: our wheel is built here, 0.18.1's was downloaded by the set-up
(``make install``), and dependencies come from the test environment.
"""
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import ROOT

import chaostracing

OLD = next(Path(sys.prefix, "wheels").glob(
    "chaostoolkit_opentracing-0.18.1-*.whl"), None)


def run(*argv, **kwargs):
    return subprocess.run([str(a) for a in argv], capture_output=True,
                          text=True, check=True, timeout=300, **kwargs)


def test_the_version_is_above_the_last_release_of_the_name():
    major, minor, patch = (int(p) for p in chaostracing.__version__.split("."))
    assert (major, minor, patch) > (0, 18, 1)


@pytest.mark.slow  # pip, a virtualenv, chaos run
@pytest.mark.skipif(sys.version_info < (3, 9), reason=(
    "0.18.1 requires Python 3.9: on this Python there is no 0.18.1 install "
    "to upgrade"))
@pytest.mark.skipif(OLD is None, reason=(
    f"0.18.1's wheel is not in {Path(sys.prefix, 'wheels')}: `make install` "
    "downloads it"))
def test_our_wheel_upgrades_an_installed_0_18_1_and_traces_a_run(tmp_path):
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
        "--no-build-isolation", "-w", dist, ROOT)
    (ours,) = dist.glob("chaostoolkit_opentracing-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", python, "install",
           "--quiet", "--no-deps", "--no-index"]
    run(*pip, OLD)
    site = Path(run(python, "-c", "import sysconfig; print("
                "sysconfig.get_paths()['purelib'])").stdout.strip())
    assert (site / "chaostracing" / "metrics.py").exists()  # 0.18.1's
    run(*pip, "--upgrade", ours)
    show = run(sys.executable, "-m", "pip", "--python", python, "show",
               "chaostoolkit-opentracing").stdout
    assert f"Version: {chaostracing.__version__}" in show
    assert not (site / "chaostracing" / "metrics.py").exists()
    # dependencies from this environment, our package from the new one
    env = dict(os.environ, PYTHONPATH=sysconfig.get_paths()["purelib"],
               CHAOSTRACING_RAISE_ERRORS="1")
    version = run(venv / "bin" / "chaostracing", "--version", env=env,
                  cwd=tmp_path)
    assert version.stdout.strip() == f"chaostracing {chaostracing.__version__}"
    experiment = tmp_path / "experiment.json"
    experiment.write_text(json.dumps({
        "title": "upgraded", "description": "d",
        "configuration": {"tracing_provider": "file",
                          "tracing_file": str(tmp_path / "trace.json")},
        "controls": [{"name": "chaostracing", "provider": {
            "type": "python", "module": "chaostracing.control"}}],
        "method": [{"type": "action", "name": "act", "provider": {
            "type": "python", "module": "os.path", "func": "exists",
            "arguments": {"path": "."}}}],
    }))
    chaos = run(python, "-m", "chaostoolkit", "--no-log-file", "run",
                "--journal-path", tmp_path / "journal.json", experiment,
                env=env, cwd=tmp_path)
    trace = json.loads((tmp_path / "trace.json").read_text())
    assert {s["operationName"] for s in trace["data"][0]["spans"]} == {
        "upgraded", "Method", "act", "Rollbacks"}
    # what ran was the upgraded package, not this working tree
    assert str(site / "chaostracing") in run(
        python, "-c", "import chaostracing; print(chaostracing.__file__)",
        env=env, cwd=tmp_path).stdout
    assert "CHAOSTRACING INTERNAL ERROR" not in chaos.stderr


@pytest.mark.slow  # pip, a virtualenv, the chaostracing command
def test_our_wheel_ships_the_report_page_and_its_report_works(tmp_path):
    """The page is package data (report.html, .css, .js): a user of ``pip
    install .`` gets it, and ``chaostracing report`` writes it whole."""
    import shutil
    import zipfile

    # a clean copy: a build/ or egg-info left in the tree would hide a
    # file missing from package_data
    source = tmp_path / "src"
    source.mkdir()
    for name in ("setup.py", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    for package in ("chaostracing", "chaostracing_contrib"):
        shutil.copytree(ROOT / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
        "--no-build-isolation", "-w", dist, source)
    (ours,) = dist.glob("chaostoolkit_opentracing-*.whl")
    names = zipfile.ZipFile(ours).namelist()
    for asset in ("report.html", "report.css", "report.js"):
        assert f"chaostracing/_viewers/{asset}" in names
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python",
        "install", "--quiet", "--no-deps", "--no-index", ours)
    env = dict(os.environ, PYTHONPATH=sysconfig.get_paths()["purelib"])
    page = tmp_path / "report.html"
    run(venv / "bin" / "chaostracing", "report",
        ROOT / "docs" / "example-trace.json", "-o", page, env=env,
        cwd=tmp_path)
    script = (ROOT / "chaostracing" / "_viewers" / "report.js").read_text()
    text = page.read_text()
    assert script in text and 'id="chaostracing-data">{"traces"' in text
