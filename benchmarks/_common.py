"""Helpers shared by the benchmarks: paths, statistics, printing, runs.

Benchmarks time chaostracing as users get it: installed with ``pip install
.`` into the benchmark virtualenv (``make bench`` builds it), never the
working tree (with ``PYTHONDONTWRITEBYTECODE`` set, an editable tree is
recompiled in every process). Only the test helpers and example files are
taken from the tree.

Every figure is a paired median against a baseline measured in the same
round, printed with its spread (the median absolute deviation of the paired
differences), so two runs of a benchmark can be told to agree or not.
"""
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
EXAMPLES = ROOT / "examples"
for helper in (TESTS, EXAMPLES):  # otlp_receiver, load_experiment...
    if str(helper) not in sys.path:
        sys.path.append(str(helper))


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def mad(values: Sequence[float]) -> float:
    """Median absolute deviation: the noise of a median."""
    middle = statistics.median(values)
    return statistics.median(abs(v - middle) for v in values)


def paired(times: Sequence[float],
           base: Sequence[float]) -> Tuple[float, float]:
    """(median, spread) of the per-round differences ``times - base``."""
    diffs = [t - b for t, b in zip(times, base)]
    return median(diffs), mad(diffs)


def ratio(times: Sequence[float], base: Sequence[float]) -> float:
    return median([t / b for t, b in zip(times, base)])


def report(title: str, rows: List[tuple]) -> None:
    """Print rows of (label, value, unit) or (label, value, spread, unit)."""
    print(f"\n== {title}")
    width = max(len(row[0]) for row in rows)
    for row in rows:
        if len(row) == 4:
            label, value, spread, unit = row
            print(f"  {label.ljust(width)}  {value:>10.2f} "
                  f"± {spread:<7.2f} {unit}")
        else:
            label, value, unit = row
            print(f"  {label.ljust(width)}  {value:>10.2f}           {unit}")


def where_installed() -> str:
    """Where ``chaostracing`` is imported from; warns about the tree."""
    import chaostracing

    path = Path(chaostracing.__file__).resolve()
    if "site-packages" not in path.parts:
        print(f"WARNING: benchmarking the working tree ({path.parent}), not "
              "an installed package: run `make bench`", file=sys.stderr)
    return str(path.parent)


def run_internals():
    """``(context, load_config, make_backend, Redactor)`` of the installed
    chaostracing, whichever layout it has: 1.1 keeps them in
    ``chaostracing._run``, 1.0 at the top. compare_versions.py runs the
    same benchmark against both."""
    try:
        from chaostracing._run import context
        from chaostracing._run.config import load_config
        from chaostracing._run.providers import make_backend
        from chaostracing._run.redact import Redactor
    except ImportError:  # chaostracing 1.0
        from chaostracing.config import load_config
        from chaostracing.providers import make_backend
        from chaostracing.redact import Redactor

        from chaostracing import context
    return context, load_config, make_backend, Redactor


def clean_env() -> dict:
    """The environment for child processes: no tracing settings, and no
    path into the working tree."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CHAOSTRACING_", "JAEGER_", "OTEL_"))}
    env.pop("PYTHONPATH", None)
    return env


def timed_chaos_run(path: Path, work: Path, extra_args=(),
                    python: str = sys.executable) -> float:
    """Wall time of one ``chaos run`` in a fresh process, in seconds."""
    chaos = Path(python).with_name("chaos")
    (work / "settings.yaml").write_text("{}")
    start = time.perf_counter()
    proc = subprocess.run(
        [str(chaos), "--no-version-check", "--no-log-file",
         "--settings", str(work / "settings.yaml"), "run",
         "--journal-path", str(work / "journal.json"), *extra_args, str(path)],
        env=clean_env(), capture_output=True, text=True, cwd=work)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return elapsed


def rotated(names: List[str], round_: int) -> List[str]:
    """``names`` rotated by the round, so drift hits every variant alike."""
    shift = round_ % len(names)
    return names[shift:] + names[:shift]
