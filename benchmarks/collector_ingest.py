"""The collector's ingest rate and memory, and the report's write time.

The collector runs in this process (its receivers share one core's worth of
GIL, as ``chaostracing collect`` does); senders run in their own processes so
they do not steal its CPU:

- OTLP/HTTP: OpenTelemetry's SDK with its own OTLP/HTTP exporter (protobuf),
  batches of 512 spans (that rate is the sender's: the SDK makes spans more
  slowly than the collector takes them); then the same SDK-encoded batches
  posted back to back, the collector's own capacity;
- OTLP/HTTP from 50 senders at once, each request on a new connection
  (50-span bodies): the listen backlog and the connection handling; every
  span must be stored (``lost``: sent and not stored);
- Jaeger UDP: chaostracing's own pipeline to the collector's UDP port.

Reported: spans received and decoded per second (goal: >= 10,000/s), the
collector's resident memory per 100,000 stored spans (goal: <= 150 MB), and
the drop counter (0 below --max-spans). Then the time to write a 5,000- and a
50,000-span trace as an HTML report, and the file's size.

``--json`` prints the rates and losses of one run as JSON:
``compare_versions.py --only collector`` runs it under two versions,
interleaved, for before/after ratios.

    python benchmarks/collector_ingest.py [--spans 100000] [--json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from _common import report, where_installed

OTLP_SENDER = r"""
import sys
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
port, count = sys.argv[1], int(sys.argv[2])
provider = TracerProvider(
    resource=Resource.create({"service.name": "bench-otlp"}))
provider.add_span_processor(BatchSpanProcessor(
    OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces"),
    max_export_batch_size=512, max_queue_size=count + 1,
    schedule_delay_millis=50))
tracer = provider.get_tracer("bench")
for i in range(count // 4):
    with tracer.start_as_current_span("GET /orders", attributes={
            "http.method": "GET", "http.route": "/orders",
            "http.status_code": 200}):
        for j in range(3):
            with tracer.start_as_current_span(f"step {j}", attributes={"n": j}):
                pass
provider.shutdown()
"""

OTLP_BLASTER = r"""
import sys, requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter)
port, count = sys.argv[1], int(sys.argv[2])
memory = InMemorySpanExporter()
provider = TracerProvider(
    resource=Resource.create({"service.name": "bench-otlp"}))
provider.add_span_processor(SimpleSpanProcessor(memory))
tracer = provider.get_tracer("bench")
for i in range(128):
    with tracer.start_as_current_span("GET /orders", attributes={
            "http.method": "GET", "http.route": "/orders",
            "http.status_code": 200}):
        for j in range(3):
            with tracer.start_as_current_span(f"step {j}", attributes={"n": j}):
                pass
# the bytes OTLPSpanExporter sends for these 512 spans, re-numbered per batch
request = encode_spans(memory.get_finished_spans())
spans = [s for rs in request.resource_spans for ss in rs.scope_spans
         for s in ss.spans]
bodies = []
for batch in range(count // 512):
    for s in spans:
        s.trace_id = batch.to_bytes(4, "big") + s.trace_id[4:]
    bodies.append(request.SerializeToString())
http = requests.Session()
for body in bodies:
    http.post(f"http://127.0.0.1:{port}/v1/traces", data=body,
              headers={"Content-Type": "application/x-protobuf"})
"""

SENDERS = r"""
import sys, threading, requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter)
port, count, senders = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
memory = InMemorySpanExporter()
provider = TracerProvider(
    resource=Resource.create({"service.name": "bench-senders"}))
provider.add_span_processor(SimpleSpanProcessor(memory))
tracer = provider.get_tracer("bench")
for i in range(10):
    with tracer.start_as_current_span("GET /orders", attributes={
            "http.method": "GET", "http.status_code": 200}):
        for j in range(4):
            with tracer.start_as_current_span(f"step {j}", attributes={"n": j}):
                pass
request = encode_spans(memory.get_finished_spans())  # 50 spans
spans = [s for rs in request.resource_spans for ss in rs.scope_spans
         for s in ss.spans]
bodies = []
for batch in range(count // 50):
    for s in spans:
        s.trace_id = (1 << 24 | batch).to_bytes(4, "big") + s.trace_id[4:]
    bodies.append(request.SerializeToString())
url = f"http://127.0.0.1:{port}/v1/traces"
failed = []
start = threading.Barrier(senders)

def send(mine):
    start.wait()
    for body in mine:  # a new connection for each request
        try:
            answer = requests.post(url, data=body, headers={
                "Content-Type": "application/x-protobuf"}, timeout=60)
            if answer.status_code != 200:
                failed.append(answer.status_code)
        except requests.RequestException as error:
            failed.append(type(error).__name__)

threads = [threading.Thread(target=send, args=(bodies[k::senders],))
           for k in range(senders)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
sys.exit(1 if failed else 0)
"""

UDP_SENDER = r"""
import sys
from chaostracing._run.providers.udp import UdpTransport
from chaostracing._run.tracer import Tracer
from chaostracing._data.model import Process
from chaostracing._run.pipeline import Pipeline
from chaostracing._run.redact import Redactor
port, count = int(sys.argv[1]), int(sys.argv[2])
pipeline = Pipeline(UdpTransport("127.0.0.1", port), Redactor(),
                    Process("bench-udp"), max_queue_size=count + 1)
tracer = Tracer("bench-udp", pipeline)
for i in range(count // 4):
    root = tracer.start_span("GET /orders", tags={"http.status_code": 200})
    for j in range(3):
        tracer.start_span(f"step {j}", child_of=root, tags={"n": j}).finish()
    root.finish()
pipeline.close(30)
"""


def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def ingest(collector, script, port, count, *more):
    """Spans per second from the first to the last span stored, and the
    spans sent but not stored (once the sender is done and nothing more
    arrives for a second)."""
    before = collector.store.received
    sender = subprocess.Popen([sys.executable, "-c", script, str(port),
                               str(count), *map(str, more)])
    while collector.store.received == before and sender.poll() is None:
        time.sleep(0.001)
    started = last = time.perf_counter()
    seen = collector.store.received
    deadline = time.monotonic() + 120
    while collector.store.received - before < count and \
            time.monotonic() < deadline:
        now = time.perf_counter()
        if collector.store.received != seen:
            seen, last = collector.store.received, now
        elif sender.poll() is not None and now - last > 1.0:
            break
        time.sleep(0.005)
    if collector.store.received != seen:
        last = time.perf_counter()
    sender.wait(60)
    stored = collector.store.received - before
    return stored / max(last - started, 1e-6), count - stored


def report_times(rows, tmp):
    from chaostracing._data.jaegerjson import write_atomic
    from chaostracing._data.model import Process, SpanData
    from chaostracing._viewers.report import render

    for size in (5_000, 50_000):
        spans = [SpanData(3, i + 1, parent_id=i // 3 if i else 0,
                          operation_name=f"span {i}", start_us=i * 100,
                          duration_us=90, process=Process(f"svc-{i % 5}"),
                          tags={"http.status_code": 200, "n": i},
                          logs=[(i * 100 + 5, {"event": "tick"})])
                 for i in range(size)]
        path = os.path.join(tmp, f"report-{size}.html")
        started = time.perf_counter()
        write_atomic(path, render(spans))
        took = time.perf_counter() - started
        rows.append((f"report of {size:,} spans: written in", took, "s"))
        rows.append((f"report of {size:,} spans: size", os.path.getsize(path)
                     / 1e6, "MB"))


def measure(spans):
    """One collector in this process, every sender in turn: the figures."""
    from chaostracing._collector import Collector

    with Collector(udp_port=0, otlp_port=0,
                   max_spans=5 * spans) as collector:
        baseline = rss_mb()  # the collector's code and threads: not spans
        otlp_rate, otlp_lost = ingest(collector, OTLP_SENDER,
                                      collector.otlp_port, spans)
        stored = len(collector.store)
        memory = rss_mb() - baseline
        capacity, capacity_lost = ingest(collector, OTLP_BLASTER,
                                         collector.otlp_port,
                                         spans // 512 * 512)
        crowd, crowd_lost = ingest(collector, SENDERS, collector.otlp_port,
                                   spans // 50 * 50, 50)
        udp_rate, udp_lost = ingest(collector, UDP_SENDER,
                                    collector.udp_port, spans)
        return {
            "otlp_sdk": otlp_rate, "otlp_sdk_lost": otlp_lost,
            "otlp_capacity": capacity, "otlp_capacity_lost": capacity_lost,
            "senders_50": crowd, "senders_50_lost": crowd_lost,
            "udp": udp_rate, "udp_lost": udp_lost,
            "mb_per_100k": memory * 100_000 / max(stored, 1),
            "stored": stored,
            "dropped": collector.store.dropped + collector.agent.dropped,
        }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--json", action="store_true",
                        help="the figures of one run, as JSON")
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.spans)))
        return
    print(f"chaostracing from {where_installed()}")
    figures = measure(args.spans)
    rows = [
        ("OTLP/HTTP end to end: the SDK's BatchSpanProcessor and "
         "exporter (the sender's pace)", figures["otlp_sdk"], "spans/s"),
        ("OTLP/HTTP protobuf, SDK-encoded 512-span batches posted "
         "back to back", figures["otlp_capacity"], "spans/s"),
        ("OTLP/HTTP protobuf, 50 senders at once, a connection per "
         "50-span request", figures["senders_50"], "spans/s"),
        ("  of which sent and not stored", figures["senders_50_lost"],
         "spans"),
        ("Jaeger UDP (chaostracing's sender)", figures["udp"], "spans/s"),
        (f"resident memory per 100,000 stored spans ({figures['stored']:,} "
         "stored)", figures["mb_per_100k"], "MB"),
        ("spans dropped (below --max-spans)", figures["dropped"], "spans"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        report_times(rows, tmp)
    report(f"collector ingest, {args.spans:,} spans per sender", rows)
    print("  goals: >= 10,000 spans/s; <= 150 MB per 100,000 spans; 0 dropped,"
          " 0 lost; a 5,000-span report in < 5 s")


if __name__ == "__main__":
    main()
