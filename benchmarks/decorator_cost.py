"""What ``@traced_activity`` costs a call, with tracing off and on.

Times N calls of a trivial function, bare and decorated, alternating blocks
and reporting paired medians: the no-op path (no run traced) must stay
within a microsecond or two of a bare call.

    python benchmarks/decorator_cost.py [--calls 20000] [--rounds 15]
"""
import argparse
import socket
import time

import opentracing
from _common import median, paired, report, where_installed

from chaostracing import traced_activity
from chaostracing._run import context as ctx
from chaostracing._run.config import load_config
from chaostracing._run.providers import make_backend
from chaostracing._run.redact import Redactor


def bare(a, b=1):
    return a + b


decorated = traced_activity(bare)


def block(func, n):
    start = time.perf_counter()
    for i in range(n):
        func(i)
    return (time.perf_counter() - start) / n * 1e6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(f"chaostracing from {where_installed()}")
    opentracing._reset_global_tracer()
    ctx.install_noop_proxy()
    off = opentracing.tracer
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    config = load_config({"tracing_provider": "jaeger",
                          "tracing_port": sink.getsockname()[1],
                          "tracing_max_queue_size": 10_000_000}, environ={})
    backend = make_backend(config, Redactor())
    on = ctx.TracerProxy(backend.tracer)
    times = {"bare": [], "decorated, off": [], "decorated, jaeger": []}
    for _ in range(args.rounds):
        times["bare"].append(block(bare, args.calls))
        opentracing.tracer = off
        times["decorated, off"].append(block(decorated, args.calls))
        opentracing.tracer = on
        times["decorated, jaeger"].append(block(decorated, args.calls))
        opentracing.tracer = off
    backend.close(10.0)
    sink.close()
    rows = [("bare call", median(times["bare"]), "µs")]
    for name in ("decorated, off", "decorated, jaeger"):
        added, spread = paired(times[name], times["bare"])
        rows.append((f"{name}: added", added, spread, "µs/call"))
    report(f"{args.calls} calls x {args.rounds} rounds, paired medians", rows)


if __name__ == "__main__":
    main()
