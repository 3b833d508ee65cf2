"""What importing a library adds to a ``chaos run``: the figures behind the
package's choices to import some libraries late, or never.

Each measurement is a fresh interpreter that first imports what a traced run
has already imported (chaoslib's experiment runner and
``chaostracing.control``), then times the import of one more module (the
interpreter's start-up, the noisiest part, is outside the timing); modules
rotate round by round, and the median is shown with its spread:

- ``wrapt``: why ``@traced_activity`` (``chaostracing/__init__.py``), the
  process patch (``_run/processes.py``) and the post-import hook
  (``_run/imports.py``) load it only when used;
- ``jaeger_client``: why the jaeger provider has its own tracer
  (``_run/tracer.py``) and Thrift encoder (``_jaeger/``);
- ``opentelemetry.trace``: why the control's path never imports
  OpenTelemetry (``_run/propagation.py``);
- ``aiohttp``: why an instrumentation waits for its library's import
  (``_run/otel.py``);
- ``chaostracing.control`` itself, after chaoslib alone;
- ``chaostracing._run.chaosplugin``, the hidden command ``chaos`` loads as it
  starts (it imports chaostracing, so that extensions imported before the
  control see OpenTracing's tracer answer for the run), after what ``chaos``
  imports anyway; next to ``chaostoolkit.cli``, the whole of ``chaos``'s
  imports (the plugin included), its baseline.

Modules that are not installed are skipped.

    python benchmarks/import_cost.py [--rounds 15]
"""
import argparse
import importlib.util
import subprocess
import sys
from typing import Dict, List

from _common import clean_env, mad, median, report, rotated, where_installed

BEFORE = "import chaoslib.experiment, chaostracing.control"
MODULES = ["wrapt", "jaeger_client", "opentelemetry.trace", "aiohttp"]
TIMED = """
{before}
import importlib, time
start = time.perf_counter()
importlib.import_module({module!r})
print((time.perf_counter() - start) * 1000)
"""


def import_ms(module: str, before: str = BEFORE) -> float:
    """Milliseconds importing ``module`` takes after ``before``, in a fresh
    interpreter."""
    code = TIMED.format(before=before, module=module)
    out = subprocess.run([sys.executable, "-c", code], env=clean_env(),
                         check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(f"chaostracing from {where_installed()}")
    variants = {"chaostracing.control": "import chaoslib.experiment"}
    if installed("chaostoolkit"):
        variants["chaostracing._run.chaosplugin"] = (
            "import click, chaoslib.experiment, chaoslib.control")
        variants["chaostoolkit.cli"] = "pass"
    for name in MODULES:
        if installed(name):
            variants[name] = BEFORE
        else:
            print(f"{name}: not installed, skipped")
    for name, before in variants.items():  # compiled and cached once
        import_ms(name, before)
    times: Dict[str, List[float]] = {name: [] for name in variants}
    for round_ in range(args.rounds):
        for name in rotated(list(variants), round_):
            times[name].append(import_ms(name, variants[name]))
    rows = []
    for name, values in times.items():
        after = {"chaostracing.control": "chaoslib",
                 "chaostracing._run.chaosplugin": "chaos's own imports",
                 "chaostoolkit.cli": "nothing (chaos's start)"}.get(
                     name, "the control")
        rows.append((f"{name}, after {after}", median(values), mad(values),
                     "ms"))
    report(f"import time, {args.rounds} rounds, medians", rows)


if __name__ == "__main__":
    main()
