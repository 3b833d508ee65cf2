"""Per-request cost of tracing urllib3 through OpenTelemetry's
instrumentation: on chaostracing's tracer vs on OpenTelemetry's SDK.

Blocks of keep-alive GET requests with a ``urllib3.PoolManager`` to the fast
loopback server, variants rotating block by block, each compared with the
bare block of the same round (paired median ± spread):

- bare: urllib3 uninstrumented;
- chaostracing, jaeger: opentelemetry-instrumentation-urllib3 with
  chaostracing's TracerProvider, a traced run on (the jaeger provider to a
  UDP port nobody reads), inside an activity;
- OpenTelemetry SDK: the same instrumentation with the SDK's
  TracerProvider, a BatchSpanProcessor and a no-op exporter.

Target: chaostracing adds less than the SDK does.

    python benchmarks/instrument_overhead.py [--rounds 30] [--block 300]
"""
import argparse
import socket

from _common import paired, ratio, report, rotated, where_installed


class Variant:
    def __init__(self, name, enter=None, leave=None):
        self.name, self.enter, self.leave = name, enter, leave
        self.times = []


def block(http, url, n):
    import time

    start = time.perf_counter()
    for _ in range(n):
        http.request("GET", url)
    return (time.perf_counter() - start) / n * 1e6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--block", type=int, default=300)
    args = parser.parse_args()
    import fast_server
    import urllib3
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    from chaostracing import control
    try:  # the bridge's module since the otel split
        from chaostracing._run.otel import bridge as otel
    except ImportError:  # the revision before it (bench-compare)
        from chaostracing._run import otel

    print(f"chaostracing from {where_installed()}")
    server, base = fast_server.start()
    url = base + "/orders"
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    control.configure_control(
        configuration={"tracing_provider": "jaeger",
                       "tracing_port": sink.getsockname()[1],
                       "tracing_max_queue_size": 10_000_000},
        secrets={})
    otel.enable()
    activity = {"type": "action", "name": "benchmark"}
    control.before_activity_control(context=activity)

    class NoopExporter(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS

    sdk = TracerProvider()
    sdk.add_span_processor(BatchSpanProcessor(NoopExporter()))
    instrumentor = URLLib3Instrumentor()
    variants = [
        Variant("bare"),
        Variant("chaostracing, jaeger",
                lambda: instrumentor.instrument(tracer_provider=otel.PROVIDER),
                instrumentor.uninstrument),
        Variant("OpenTelemetry SDK",
                lambda: instrumentor.instrument(tracer_provider=sdk),
                instrumentor.uninstrument),
    ]
    http = urllib3.PoolManager()
    try:
        for round_ in range(args.rounds + 1):
            for variant in rotated(variants, round_):
                if variant.enter:
                    variant.enter()
                took = block(http, url, args.block if round_ else 50)
                if variant.leave:
                    variant.leave()
                if round_:  # the first round warms up
                    variant.times.append(took)
    finally:
        control.after_activity_control(context=activity, state={})
        control.cleanup_control()
        sdk.shutdown()
        server.terminate()
        server.wait(5)
        sink.close()
    bare = variants[0].times
    rows = [("bare", sorted(bare)[len(bare) // 2], "µs/request")]
    for variant in variants[1:]:
        added, spread = paired(variant.times, bare)
        rows.append((f"{variant.name}: added", added, spread, "µs/request"))
        rows.append((f"{variant.name}: ratio", ratio(variant.times, bare), "x"))
    ours, sdk = variants[1].times, variants[2].times
    rows.append(("chaostracing - OpenTelemetry SDK (paired)",
                 *paired(ours, sdk), "µs/request"))
    report(f"urllib3 keep-alive GET on loopback, OpenTelemetry's "
           f"instrumentation, {args.rounds} rounds x {args.block}", rows)
    print("  target: chaostracing adds less than the OpenTelemetry SDK")


if __name__ == "__main__":
    main()
