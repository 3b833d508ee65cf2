"""Run every benchmark in turn (``make bench``)."""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = (
    "chaos_run_overhead.py",
    "span_cost.py",
    "requests_overhead.py",
    "instrument_overhead.py",
    "decorator_cost.py",
    "load_overhead.py",
    "collector_ingest.py",
    "collector_memory.py",
    "probe_query.py",
    "impact_query.py",
    "import_cost.py",
    "micro_cost.py",
    "redact_cost.py",
)

if __name__ == "__main__":
    failed = 0
    for script in BENCHMARKS:
        print(f"\n### {script}", flush=True)
        failed |= subprocess.call([sys.executable, str(HERE / script)])
    sys.exit(failed)
