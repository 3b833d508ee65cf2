"""Per-request overhead of ``chaostracing_contrib.requests.session()``.

A loopback HTTP server runs in its own process. Blocks of keep-alive GET
requests are timed for each variant, the variants alternating block by
block; each variant's cost per request is compared with the bare session's
block of the same round (paired median), so machine noise hits all alike.

- bare: ``requests.Session()``, the baseline;
- session, tracing off: ``session()`` with no run traced;
- session, jaeger: ``session()`` with the jaeger provider on (spans go to a
  UDP port on 127.0.0.1);
- README manual pattern: the original README's snippet around a bare session,
  on jaeger-client's tracer (skipped without jaeger-client);
- OpenTelemetry: ``opentelemetry-instrumentation-requests`` on the SDK with
  a no-op exporter (skipped without it).

Targets: jaeger <= 100 µs added, tracing off <= 20 µs added.

    python benchmarks/requests_overhead.py [--rounds 15] [--block 100]
"""
import argparse
import socket
import subprocess
import sys
import time

import opentracing
import requests
from _common import ROOT, compile_package, median, report

from chaostracing import context as ctx
from chaostracing.config import load_config
from chaostracing.providers import make_backend
from chaostracing.redact import Redactor
from chaostracing_contrib.requests import session


def start_server():
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "service.py"), "--port", "0"],
        stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    return proc, line.strip().rsplit(" ", 1)[-1]


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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--block", type=int, default=100)
    args = parser.parse_args()
    compile_package()
    server, base_url = start_server()
    url = base_url + "/health"
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))  # a UDP port nobody reads: no CPU spent
    sink_port = sink.getsockname()[1]
    try:
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

        variants = [
            Variant("bare", requests.Session()),
            Variant("session, tracing off", session()),
            Variant("session, jaeger", session(), traced_on, traced_off),
        ]
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
            from opentelemetry import trace
            from opentelemetry.instrumentation.requests import RequestsInstrumentor
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import (
                BatchSpanProcessor, SpanExporter, SpanExportResult)

            class NoopExporter(SpanExporter):
                def export(self, spans):
                    return SpanExportResult.SUCCESS

            provider = TracerProvider()
            provider.add_span_processor(BatchSpanProcessor(NoopExporter()))
            trace.set_tracer_provider(provider)
            otel_http = requests.Session()
            instrumentor = RequestsInstrumentor()
            variants.append(Variant(
                "OpenTelemetry requests instrumentation", otel_http,
                lambda: instrumentor.instrument(tracer_provider=provider),
                instrumentor.uninstrument))
        except ImportError:
            print("opentelemetry-instrumentation-requests not installed: "
                  "skipped")

        for variant in variants:  # warm up connections and code paths
            if variant.enter:
                variant.enter()
            block(variant.http, url, 20, variant.manual)
            if variant.leave:
                variant.leave()
        for round_ in range(args.rounds):
            order = variants[round_ % len(variants):] + \
                variants[:round_ % len(variants)]
            for variant in order:
                if variant.enter:
                    variant.enter()
                variant.times.append(
                    block(variant.http, url, args.block, variant.manual))
                if variant.leave:
                    variant.leave()
        backend.close(5.0)
    finally:
        server.terminate()
        server.wait(5)
        sink.close()
    bare = variants[0].times
    rows = [("bare", median(bare), "µs/request")]
    for variant in variants[1:]:
        added = [t - b for t, b in zip(variant.times, bare)]
        rows.append((f"{variant.name}: added", median(added), "µs/request"))
        rows.append((f"{variant.name}: ratio", median(
            [t / b for t, b in zip(variant.times, bare)]), "x"))
    report(f"keep-alive GET on loopback, {args.rounds} rounds x "
           f"{args.block} requests, paired medians", rows)
    print("  targets: jaeger <= 100 µs added, tracing off <= 20 µs added")


if __name__ == "__main__":
    main()
