"""Wall time a traced ``chaos run`` adds, as a ratio to an untraced run.

A 10-action experiment is run in fresh ``chaos`` processes, three ways, with
the order rotated each round so drift on a noisy machine hits all alike:

- baseline: no control at all;
- off: the control declared, no provider configured (the no-op path);
- jaeger: the control sending to a Jaeger-agent listener on 127.0.0.1;
- jaeger, agent down: the same to a closed UDP port on 127.0.0.1;
- jaeger, tracing_instrument all five: with OpenTelemetry's instrumentation
  of requests, urllib3, httpx, botocore and aiohttp turned on;
- otlp: the control exporting OTLP/HTTP to a receiver on 127.0.0.1 (when
  the opentelemetry extra is installed).

Prints medians, the added milliseconds and ratios to the baseline. Target:
jaeger adds at most 50 ms.

    python benchmarks/chaos_run_overhead.py [--rounds 9]
"""
import argparse
import json
import socket
import tempfile
from pathlib import Path

from _common import (
    median,
    paired,
    report,
    rotated,
    timed_chaos_run,
    where_installed,
)

from chaostracing._collector.agent import AgentReceiver

CONTROL = {"name": "chaostracing",
           "provider": {"type": "python", "module": "chaostracing.control"}}


def experiment(traced: bool, port: int = 0, provider: str = "jaeger",
               instrument=None) -> dict:
    exp = {
        "title": "ten actions",
        "description": "benchmark",
        "method": [
            {"type": "action", "name": f"action-{i}",
             "provider": {"type": "python", "module": "os.path",
                          "func": "exists", "arguments": {"path": "."}}}
            for i in range(10)
        ],
    }
    if traced:
        exp["controls"] = [CONTROL]
    if port:
        exp["configuration"] = {"tracing_provider": provider,
                                "tracing_host": "127.0.0.1",
                                "tracing_port": port}
        if instrument:
            exp["configuration"]["tracing_instrument"] = instrument
    return exp


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(f"chaostracing from {where_installed()}")
    try:
        from otlp_receiver import OtlpReceiver
        otlp = OtlpReceiver()
    except ImportError:
        print("opentelemetry not installed: otlp skipped")
        otlp = None
    with AgentReceiver() as agent, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        variants = {}
        closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        closed.bind(("127.0.0.1", 0))
        down_port = closed.getsockname()[1]
        closed.close()  # nothing listens there any more
        setups = [("baseline", experiment(False)), ("off", experiment(True)),
                  ("jaeger", experiment(True, agent.port)),
                  ("jaeger, agent down", experiment(True, down_port)),
                  ("jaeger, tracing_instrument all five",
                   experiment(True, agent.port, instrument=[
                       "requests", "urllib3", "httpx", "botocore",
                       "aiohttp"]))]
        if otlp is not None:
            otlp.__enter__()
            setups.append(("otlp", experiment(True, otlp.port, "otlp")))
        for name, exp in setups:
            path = work / f"{name}.json"
            path.write_text(json.dumps(exp))
            variants[name] = path
        names = list(variants)
        times = {name: [] for name in names}
        timed_chaos_run(variants["baseline"], work)  # warm the disk cache
        for round_ in range(args.rounds):
            for name in rotated(names, round_):
                times[name].append(timed_chaos_run(variants[name], work))
        # experiment, method, rollbacks (chaoslib always enters them), 10;
        # three variants send to the listener
        expected = 13 * args.rounds * 2
        spans = agent.wait_for(expected, timeout=2)
        if otlp is not None:
            otlp_spans = otlp.wait_for(13 * args.rounds, timeout=5)
            otlp.__exit__()
    base = times["baseline"]
    rows = [(f"{n} median", median(times[n]) * 1000, "ms") for n in names]
    for n in names[1:]:
        # paired by round: both runs of a round saw the same machine load
        added, spread = paired(times[n], base)
        rows.append((f"{n} added (paired median)", added * 1000,
                     spread * 1000, "ms"))
        rows.append((f"{n} / baseline", median(times[n]) / median(base), "x"))
    report(f"chaos run, 10 actions, {args.rounds} rounds, rotated", rows)
    print(f"  jaeger spans received: {len(spans)} of {expected}"
          f"  (target: jaeger adds <= 50 ms)")
    if otlp is not None:
        print(f"  otlp spans received: {len(otlp_spans)} of {13 * args.rounds}")


if __name__ == "__main__":
    main()
