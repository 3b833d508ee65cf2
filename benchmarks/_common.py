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


def timed_chaos_run(path, work, extra_args=()):
    """Wall time of one ``chaos run`` in a fresh process, in seconds."""
    import os
    import subprocess
    import time

    chaos = Path(sys.executable).with_name("chaos")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), str(ROOT / "examples" / "extension")]))
    for key in ("JAEGER_AGENT_HOST", "JAEGER_AGENT_PORT"):
        env.pop(key, None)
    (work / "settings.yaml").write_text("{}")
    start = time.perf_counter()
    proc = subprocess.run(
        [str(chaos), "--no-version-check", "--no-log-file",
         "--settings", str(work / "settings.yaml"), "run",
         "--journal-path", str(work / "journal.json"), *extra_args, str(path)],
        env=env, capture_output=True, text=True, cwd=work)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return elapsed
