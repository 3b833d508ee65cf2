"""The report page's script passes ESLint (eslint.config.js: ESLint's
recommended rules, browser globals), as `make lint-js` runs it.

ESLint comes from npm (package.json, package-lock.json; `make install`
runs `npm ci`). Where node and npm are not installed the tests skip and say
so; where they are, a missing ESLint is a set-up to redo, and fails.
"""
import shutil
import subprocess

import pytest
from conftest import ROOT

ESLINT = ROOT / "node_modules" / ".bin" / "eslint"
SCRIPT = "chaostracing/_viewers/report.js"

pytestmark = [pytest.mark.skipif(
    not (shutil.which("node") and shutil.which("npm")),
    reason="node and npm are not installed: the report's script is not "
    "linted here (make install runs npm ci where they are)"),
    pytest.mark.slow]  # node


def eslint(*args, stdin=None):
    assert ESLINT.exists(), "ESLint is not installed: run make install " \
                            "(npm ci)"
    return subprocess.run([str(ESLINT), *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_the_report_script_passes_eslint():
    result = eslint(SCRIPT, "eslint.config.js")
    assert result.returncode == 0, result.stdout + result.stderr


def test_eslint_checks_the_report_script_with_the_recommended_rules():
    """The configuration applies to the script: an undefined name and an
    unused variable in a file at its place are reported."""
    bad = '"use strict";\nvar unused = 1;\nundefinedName();\n'
    result = eslint("--stdin", "--stdin-filename", SCRIPT, stdin=bad)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no-undef" in result.stdout and "no-unused-vars" in result.stdout
