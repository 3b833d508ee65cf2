"""Per-request overhead of ``chaostracing_contrib.requests.session()``.

A fast loopback HTTP server (``fast_server.py``: canned keep-alive answers
in tens of µs; the demo service's http.server takes 2-3 ms, whose noise
swamps the difference measured here) runs in its own process. Blocks of
keep-alive GET requests are timed for each variant, the variants rotating
block by block; each variant's cost per request is compared with the bare
session's block of the same round (paired median ± spread).

- bare: ``requests.Session()``, the baseline;
- session, tracing off: ``session()`` with no run traced;
- session, jaeger: ``session()`` with the jaeger provider on (spans go to a
  UDP port on 127.0.0.1);
- README manual pattern: the original README's snippet around a bare session,
  on jaeger-client's tracer (skipped without jaeger-client);
- OpenTelemetry: ``opentelemetry-instrumentation-requests`` on the SDK with
  a no-op exporter (skipped without it).

Targets: jaeger <= 100 µs added, tracing off <= 20 µs added.

    python benchmarks/requests_overhead.py [--rounds 30] [--block 200]
    python benchmarks/requests_overhead.py --json --url URL   # bare vs
                                          # session, jaeger, for comparisons
"""
import argparse
import json
import socket
import time

import opentracing
import requests
from _common import (
    paired,
    ratio,
    report,
    rotated,
    run_internals,
    where_installed,
)


def block(http, url, n, manual_tracer=None):
    start = time.perf_counter()
    if manual_tracer is None:
        for _ in range(n):
            http.get(url)
    else:
        for _ in range(n):
            readme_pattern(http, url, manual_tracer)
    return (time.perf_counter() - start) / n * 1e6


def readme_pattern(http, url, tracer):
    headers = {}
    span = tracer.start_span("my-inner-span", child_of=None)
    span.set_tag("http.url", url)
    span.set_tag("span.kind", "client")
    span.tracer.inject(span, "http_headers", headers)
    r = http.get(url, headers=headers)
    span.set_tag("http.status_code", r.status_code)
    span.finish()


class Variant:
    def __init__(self, name, http, enter=None, leave=None, manual=None):
        self.name, self.http = name, http
        self.enter, self.leave, self.manual = enter, leave, manual
        self.times = []

    def run(self, url, n):
        if self.enter:
            self.enter()
        try:
            return block(self.http, url, n, self.manual)
        finally:
            if self.leave:
                self.leave()


def ours(sink_port):
    """(off, on) variants of session(), through the API every version has."""
    ctx, load_config, make_backend, Redactor = run_internals()
    from chaostracing_contrib.requests import session

    opentracing._reset_global_tracer()
    ctx.install_noop_proxy()
    config = load_config({"tracing_provider": "jaeger",
                          "tracing_port": sink_port}, environ={})
    backend = make_backend(config, Redactor())
    proxy = ctx.TracerProxy(backend.tracer)
    saved = opentracing.tracer

    def traced_on():
        opentracing.tracer = proxy

    def traced_off():
        opentracing.tracer = saved

    return backend, [
        Variant("session, tracing off", session()),
        Variant("session, jaeger", session(), traced_on, traced_off),
    ]


def measure(variants, url, rounds, size):
    for variant in variants:  # warm up connections and code paths
        variant.run(url, 50)
    for round_ in range(rounds):
        for variant in rotated(variants, round_):
            variant.times.append(variant.run(url, size))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--block", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--url", help="a server to use (default: start one)")
    args = parser.parse_args()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))  # a UDP port nobody reads: no CPU spent
    server = None
    if args.url:
        url = args.url
    else:
        import fast_server

        server, base = fast_server.start()
        url = base + "/health"
    try:
        backend, traced = ours(sink.getsockname()[1])
        variants = [Variant("bare", requests.Session())] + traced
        if not args.json:
            variants += optional_variants(sink.getsockname()[1])
        measure(variants, url, args.rounds, args.block)
        backend.close(5.0)
    finally:
        if server is not None:
            server.terminate()
            server.wait(5)
        sink.close()
    bare = variants[0].times
    if args.json:
        added = {v.name: paired(v.times, bare) for v in variants[1:]}
        print(json.dumps({"bare": sorted(bare)[len(bare) // 2],
                          "added": added}))
        return
    print(f"chaostracing from {where_installed()}")
    rows = [("bare", sorted(bare)[len(bare) // 2], "µs/request")]
    for variant in variants[1:]:
        added, spread = paired(variant.times, bare)
        rows.append((f"{variant.name}: added", added, spread, "µs/request"))
        rows.append((f"{variant.name}: ratio", ratio(variant.times, bare), "x"))
    report(f"keep-alive GET on loopback, {args.rounds} rounds x "
           f"{args.block} requests, paired medians", rows)
    print("  targets: jaeger <= 100 µs added, tracing off <= 20 µs added")


def optional_variants(sink_port):
    variants = []
    try:
        from jaeger_client import Config

        jaeger = Config(config={
            "sampler": {"type": "const", "param": 1},
            "local_agent": {"reporting_host": "127.0.0.1",
                            "reporting_port": sink_port},
            "logging": False}, service_name="bench").new_tracer()
        variants.append(Variant("README manual pattern (jaeger-client)",
                                requests.Session(), manual=jaeger))
    except ImportError:
        print("jaeger-client not installed: manual pattern skipped")
    try:
        from opentelemetry.instrumentation.requests import RequestsInstrumentor
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )

        class NoopExporter(SpanExporter):
            def export(self, spans):
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(NoopExporter()))
        instrumentor = RequestsInstrumentor()
        variants.append(Variant(
            "OpenTelemetry requests instrumentation", requests.Session(),
            lambda: instrumentor.instrument(tracer_provider=provider),
            instrumentor.uninstrument))
    except ImportError:
        print("opentelemetry-instrumentation-requests not installed: skipped")
    return variants


if __name__ == "__main__":
    main()
