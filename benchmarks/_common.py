"""Helpers shared by the benchmarks: statistics and printing."""
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def median(values):
    return statistics.median(values)


def report(title, rows):
    """Print ``rows`` of (label, value, unit) under ``title``."""
    print(f"\n== {title}")
    width = max(len(label) for label, *_ in rows)
    for label, value, unit in rows:
        print(f"  {label.ljust(width)}  {value:>10.2f} {unit}")


def compile_package():
    """Byte-compile the project, as ``pip install`` does for users.

    With PYTHONDONTWRITEBYTECODE set (as on some CI machines) an editable
    checkout would otherwise recompile every module in every process, which
    is not what a user's installed package costs.
    """
    import compileall

    for name in ("chaostracing", "chaostracing_contrib"):
        compileall.compile_dir(str(ROOT / name), quiet=1)
