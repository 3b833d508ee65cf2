"""Added wall time of tracing a large run: 1,000 activities, 8 in the
background, the hypothesis checked continuously (every 0.05 s).

Traced (jaeger provider to a listener on 127.0.0.1) and untraced runs in
fresh ``chaos`` processes alternate; prints medians, the paired median of
the added time, the ratio, and how many spans the listener received of those
the journals say were made.

    python benchmarks/load_overhead.py [--rounds 5]
"""
import argparse
import json
import tempfile
from pathlib import Path

from _common import median, paired, report, timed_chaos_run, where_installed
from load_experiment import load_experiment

from chaostracing._collector.agent import AgentReceiver

ARGS = ["--hypothesis-strategy", "continuously",
        "--hypothesis-frequency", "0.05"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"chaostracing from {where_installed()}")
    times = {"untraced": [], "traced": []}
    expected = 0
    with AgentReceiver() as agent, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = {}
        for name, traced in (("untraced", False), ("traced", True)):
            paths[name] = work / f"{name}.json"
            paths[name].write_text(json.dumps(load_experiment(
                traced=traced, configuration={
                    "tracing_provider": "jaeger", "tracing_port": agent.port})))
        for round_ in range(args.rounds):
            order = ["untraced", "traced"][::1 if round_ % 2 else -1]
            for name in order:
                times[name].append(timed_chaos_run(paths[name], work, ARGS))
                if name == "traced":
                    journal = json.loads((work / "journal.json").read_text())
                    runs = 2 + len(journal["steady_states"]["during"])
                    expected += 3 + 1000 + 2 * runs
        received = len(agent.wait_for(expected, timeout=10))
    added, spread = paired(times["traced"], times["untraced"])
    report(f"1,000 activities, continuous hypothesis, {args.rounds} rounds", [
        ("untraced median", median(times["untraced"]) * 1000, "ms"),
        ("traced median", median(times["traced"]) * 1000, "ms"),
        ("added (paired median)", added * 1000, spread * 1000, "ms"),
        ("traced / untraced",
         median(times["traced"]) / median(times["untraced"]), "x"),
    ])
    print(f"  spans received: {received} of {expected}"
          f" ({100 * received / max(expected, 1):.1f} %)")


if __name__ == "__main__":
    main()
