"""Per-span cost on the traced thread, and delivery of a 10,000-span burst.

Each variant starts, tags (2 tags) and finishes N child spans in a tight
loop, then delivers them to a listener on 127.0.0.1:

- noop: OpenTracing's no-op tracer (the floor);
- chaostracing: the ``jaeger`` provider (our tracer and UDP pipeline);
- chaostracing via proxy: the same through ``opentracing.tracer``, as
  extension code calls it;
- otlp: the ``otlp`` provider (our tracer, OpenTelemetry's OTLP exporter to
  a loopback receiver);
- jaeger-client: jaeger-client 4.8's own tracer and default reporter
  (skipped when jaeger-client is not installed).

Cost is CPU time of the calling thread per span (``time.thread_time``),
which the exporter thread's work does not inflate, plus wall time per span;
each variant runs ``--rounds`` times and the median is shown with its
spread. Delivery counts what the listener decoded. Targets: <= 16 µs per
span, 100 % delivered.

    python benchmarks/span_cost.py [--spans 10000] [--rounds 5]
    python benchmarks/span_cost.py --json --port P   # one run, for
                                                     # compare_versions.py
"""
import argparse
import json
import time

import opentracing
from _common import mad, median, report, run_internals, where_installed


def loop(tracer, n):
    root = tracer.start_span("root")
    cpu, wall = time.thread_time(), time.perf_counter()
    for i in range(n):
        span = tracer.start_span("work", child_of=root)
        span.set_tag("iteration", i)
        span.set_tag("kind", "benchmark")
        span.finish()
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    root.finish()
    return cpu / n * 1e6, wall / n * 1e6


def ours(n, port, through_proxy=False, provider="jaeger"):
    """Only the API every version of chaostracing has (load_config,
    make_backend, Redactor, backend.tracer/close), so compare_versions.py
    can run it against an older install."""
    ctx, load_config, make_backend, Redactor = run_internals()

    config = load_config({"tracing_provider": provider,
                          "tracing_port": port,
                          "tracing_max_queue_size": 10 * n}, environ={})
    backend = make_backend(config, Redactor())
    tracer = (ctx.TracerProxy(backend.tracer) if through_proxy
              else backend.tracer)
    cpu, wall = loop(tracer, n)
    start = time.perf_counter()
    backend.close(10.0)
    return cpu, wall, (time.perf_counter() - start) * 1000


def with_jaeger_client(n, port):
    from jaeger_client import Config

    tracer = Config(
        config={"sampler": {"type": "const", "param": 1},
                "local_agent": {"reporting_host": "127.0.0.1",
                                "reporting_port": port},
                "logging": False},
        service_name="bench", validate=True,
    ).new_tracer()
    cpu, wall = loop(tracer, n)
    start = time.perf_counter()
    future = tracer.close()
    deadline = time.monotonic() + 10
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.001)  # polling done() is what does not hang on tornado 6
    return cpu, wall, (time.perf_counter() - start) * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true",
                        help="one run of the jaeger provider to --port, "
                        "printed as JSON")
    parser.add_argument("--port", type=int)
    parser.add_argument("--repeat", type=int, default=5,
                        help="with --json: loops whose median is printed")
    args = parser.parse_args()
    n = args.spans
    if args.json:
        runs = [ours(n, args.port) for _ in range(args.repeat)]
        print(json.dumps({"cpu": median([r[0] for r in runs]),
                          "wall": median([r[1] for r in runs]),
                          "flush_ms": median([r[2] for r in runs])}))
        return
    from chaostracing._collector.agent import AgentReceiver

    print(f"chaostracing from {where_installed()}")
    rows, delivered = [], []
    noop = [loop(opentracing.Tracer(), n)[0] for _ in range(args.rounds)]
    rows.append(("noop cpu/span", median(noop), mad(noop), "µs"))
    variants = [("chaostracing", lambda p: ours(n, p)),
                ("chaostracing via proxy", lambda p: ours(n, p, True))]
    try:
        import jaeger_client  # noqa: F401
        variants.append(("jaeger-client", lambda p: with_jaeger_client(n, p)))
    except ImportError:
        print("jaeger-client not installed: its row is skipped")
    try:
        from otlp_receiver import OtlpReceiver

        variants.append(("otlp", lambda p: ours(n, p, provider="otlp")))
    except ImportError:
        print("opentelemetry not installed: otlp skipped")
    results = {}
    for name, run in variants:
        cpus, walls, flushes, got = [], [], [], []
        for _ in range(args.rounds):
            receiver = OtlpReceiver() if name == "otlp" else AgentReceiver()
            with receiver:
                cpu, wall, flush_ms = run(receiver.port)
                got.append(len(receiver.wait_for(n + 1, timeout=5)))
            cpus.append(cpu)
            walls.append(wall)
            flushes.append(flush_ms)
        results[name] = median(cpus)
        rows += [(f"{name} cpu/span", median(cpus), mad(cpus), "µs"),
                 (f"{name} wall/span", median(walls), mad(walls), "µs"),
                 (f"{name} flush", median(flushes), mad(flushes), "ms")]
        delivered.append(f"{name}: {min(got)}/{n + 1} "
                         f"({100 * min(got) / (n + 1):.1f} %) at worst")
    if "otlp" in results:
        rows.append(("otlp / chaostracing (jaeger)",
                     results["otlp"] / results["chaostracing"], "x"))
    if "jaeger-client" in results:
        rows.append(("chaostracing / jaeger-client",
                     results["chaostracing"] / results["jaeger-client"], "x"))
    rows.append(("chaostracing / noop", results["chaostracing"] / median(noop),
                 "x"))
    report(f"{n} spans, 2 tags each, tight loop, {args.rounds} rounds", rows)
    print("  delivered: " + "; ".join(delivered))
    print("  targets: <= 16 µs per span, 100 % delivered")


if __name__ == "__main__":
    main()
