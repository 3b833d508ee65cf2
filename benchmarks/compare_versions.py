"""Before and after, in the same run: an older revision against this one.

The older revision is taken from git (``git archive REV``) and installed with
``pip install .`` into its own virtualenv (kept in ``.bench/REV`` for the
next time); this one is the benchmark virtualenv's install. The same
benchmark code then runs against both, interleaved round by round so the
machine's drift hits both alike:

- a 10-action ``chaos run``: no control vs the jaeger provider, per version
  (paired added time);
- per span, and a 10,000-span burst delivered (``span_cost.py --json``);
- per request, ``session()`` with the jaeger provider vs a bare session on
  a fast loopback server (``requests_overhead.py --json``);
- the collector's ingest rates, per transport, and the spans 50 concurrent
  senders lose (``collector_ingest.py --json``), with after/before ratios
  per round.

``--only collector`` (or ``run``) runs one part.

    python benchmarks/compare_versions.py --before d55f8b6 [--rounds 15]
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import (
    ROOT,
    clean_env,
    mad,
    median,
    report,
    rotated,
    timed_chaos_run,
)

from chaostracing._collector.agent import AgentReceiver

HERE = Path(__file__).resolve().parent


def install(rev: str) -> str:
    """The python of a virtualenv with ``rev`` installed as users do."""
    home = ROOT / ".bench" / rev
    python = home / "venv" / "bin" / "python"
    if python.exists():
        return str(python)
    source = home / "src"
    source.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    subprocess.run([sys.executable, "-m", "venv", str(home / "venv")],
                   check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run(pip + ["--upgrade", "pip"], check=True)
    # collect: the collector's HTTP library, where that version has the extra
    subprocess.run(pip + ["chaostoolkit",
                          f"{source}[opentelemetry,collect]"], check=True)
    return str(python)


def experiment(port=None):
    exp = {"title": "ten actions", "description": "benchmark", "method": [
        {"type": "action", "name": f"action-{i}",
         "provider": {"type": "python", "module": "os.path",
                      "func": "exists", "arguments": {"path": "."}}}
        for i in range(10)]}
    if port:
        exp["controls"] = [{"name": "chaostracing", "provider": {
            "type": "python", "module": "chaostracing.control"}}]
        exp["configuration"] = {"tracing_provider": "jaeger",
                                "tracing_port": port}
    return exp


def chaos_runs(pythons, rounds, agent):
    """Per version: the time a traced run adds to an untraced one."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        plain, traced = work / "plain.json", work / "traced.json"
        plain.write_text(json.dumps(experiment()))
        traced.write_text(json.dumps(experiment(agent.port)))
        variants = [(v, kind) for v in pythons for kind in ("plain", "traced")]
        times = {variant: [] for variant in variants}
        for version in pythons:  # warm the disk cache
            timed_chaos_run(plain, work, python=pythons[version])
        for round_ in range(rounds):
            for version, kind in rotated(variants, round_):
                path = plain if kind == "plain" else traced
                times[(version, kind)].append(
                    timed_chaos_run(path, work, python=pythons[version]) * 1000)
    return {version: [t - p for t, p in zip(times[(version, "traced")],
                                             times[(version, "plain")])]
            for version in pythons}


def worker(python, script, *args):
    out = subprocess.run([python, str(HERE / script), "--json", *args],
                         env=clean_env(), capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def span_costs(pythons, rounds, agent):
    """Per version: CPU per span on the traced thread; the worst delivery
    of a 10,000-span burst."""
    cpu = {v: [] for v in pythons}
    delivered = {v: [] for v in pythons}
    for round_ in range(rounds):
        for version in rotated(list(pythons), round_):
            before = len(agent.spans)
            result = worker(pythons[version], "span_cost.py",
                            "--port", str(agent.port), "--repeat", "5")
            got = len(agent.wait_for(before + 5 * 10_001, timeout=10)) - before
            cpu[version].append(result["cpu"])
            delivered[version].append(100 * got / (5 * 10_001))
    return cpu, delivered


def request_costs(pythons, rounds):
    """Per version: what session() with the jaeger provider adds to a bare
    session's request (each worker pairs them itself)."""
    import fast_server

    server, base = fast_server.start()
    added = {v: [] for v in pythons}
    try:
        for round_ in range(rounds):
            for version in rotated(list(pythons), round_):
                result = worker(pythons[version], "requests_overhead.py",
                                "--url", base + "/health", "--rounds", "10",
                                "--block", "200")
                added[version].append(result["added"]["session, jaeger"][0])
    finally:
        server.terminate()
        server.wait(5)
    return added


def collector_rates(pythons, rounds, spans):
    """Per version and figure: the collector's ingest, one run per round."""
    figures = {v: {} for v in pythons}
    for round_ in range(rounds):
        for version in rotated(list(pythons), round_):
            result = worker(pythons[version], "collector_ingest.py",
                            "--spans", str(spans))
            for name, value in result.items():
                figures[version].setdefault(name, []).append(value)
    return figures


def compare_ratio(rows, title, unit, values):
    """Rows for one rate: each version, then after / before per round."""
    (_, old), (_, new) = values.items()
    for version, figures in values.items():
        rows.append((f"{title}: {version}", median(figures), mad(figures),
                     unit))
    ratios = [n / o for n, o in zip(new, old) if o]
    if ratios:
        rows.append((f"{title}: after / before (paired)", median(ratios),
                     mad(ratios), "x"))


def compare(rows, title, unit, values):
    """Rows for one figure: each version, then after vs before per round."""
    (before, old), (after, new) = values.items()
    for version, figures in values.items():
        rows.append((f"{title}: {version}", median(figures), mad(figures),
                     unit))
    diffs = [n - o for n, o in zip(new, old)]
    rows.append((f"{title}: after - before (paired)", median(diffs),
                 mad(diffs), unit))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", required=True, help="a git revision")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--only", choices=("run", "collector"),
                        help="only the traced run's figures, or only the "
                        "collector's")
    parser.add_argument("--spans", type=int, default=50_000,
                        help="spans per sender in the collector's part")
    args = parser.parse_args()
    pythons = {f"before ({args.before})": install(args.before),
               "after (this install)": sys.executable}
    rows = []
    if args.only != "collector":
        with AgentReceiver() as agent:
            compare(rows, "traced chaos run, added", "ms",
                    chaos_runs(pythons, args.rounds, agent))
            cpu, delivered = span_costs(pythons, max(5, args.rounds // 2),
                                        agent)
        compare(rows, "per span, traced thread cpu", "µs", cpu)
        for version, values in delivered.items():
            rows.append((f"10,000-span bursts delivered, worst: {version}",
                         min(values), "%"))
        compare(rows, "session() request, jaeger, added", "µs",
                request_costs(pythons, max(5, args.rounds // 2)))
    if args.only != "run":
        figures = collector_rates(pythons, max(3, args.rounds // 3),
                                  args.spans)
        for name, title in (
                ("otlp_sdk", "collector, OTLP from the SDK's exporter"),
                ("otlp_capacity", "collector, OTLP 512-span posts back to "
                                  "back"),
                ("senders_50", "collector, OTLP from 50 senders at once"),
                ("udp", "collector, Jaeger UDP")):
            compare_ratio(rows, title, "spans/s",
                          {v: figures[v][name] for v in pythons})
        for version in pythons:
            rows.append((f"collector, 50 senders: spans lost, worst: "
                         f"{version}", max(figures[version]["senders_50_lost"]),
                         "spans"))
    report(f"before vs after, interleaved round by round, {args.rounds} rounds",
           rows)


if __name__ == "__main__":
    main()
