"""The collector's memory under heavy requests, as a process.

``chaostracing collect`` (the one installed next to this Python) runs in its
own process; its peak resident size (``VmHWM``, reset through
``/proc/PID/clear_refs`` before each case) is read above its size at rest:

- 20 gzip bodies inflating to 28 MB each, sent at once;
- 60 spans with a 30 MB attribute each, from 6 senders (and the time the
  final write takes, and the file's size);
- 8 concurrent searches for every trace of a 50,000-span store, read
  slowly.

The same cases, with assertions, are tests/test_collector_hostile.py.
Linux only (``/proc``).

    python benchmarks/collector_memory.py
"""
import gzip
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from _common import report

MB = 1024 * 1024
COLLECT = str(Path(sys.executable).with_name("chaostracing"))


class Collect:
    def __init__(self, folder):
        self.output = Path(folder) / "out.json"
        self.proc = subprocess.Popen(
            [COLLECT, "collect", "--port", "off", "--otlp-port", "0",
             "--query-port", "0", "--output", str(self.output)],
            stderr=subprocess.PIPE, text=True)
        ports = re.findall(r"://127.0.0.1:(\d+)", self.proc.stderr.readline())
        self.url = f"http://127.0.0.1:{ports[0]}/v1/traces"
        self.query = f"http://127.0.0.1:{ports[1]}"
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()

    def status(self, key):
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def reset_peak(self):
        with open(f"/proc/{self.proc.pid}/clear_refs", "w") as refs:
            refs.write("5")
        return self.status("VmRSS")

    def stop(self):
        started = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)
        return time.perf_counter() - started


def request(trace, spans=1, service="svc", attribute=0):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    message = ExportTraceServiceRequest()
    resource = message.resource_spans.add()
    pair = resource.resource.attributes.add()
    pair.key, pair.value.string_value = "service.name", service
    scope = resource.scope_spans.add()
    now = time.time_ns()
    for number in range(spans):
        span = scope.spans.add()
        span.trace_id = trace.to_bytes(16, "big")
        span.span_id = (number + 1).to_bytes(8, "big")
        span.name = "op"
        span.start_time_unix_nano, span.end_time_unix_nano = now - 1000, now
        if attribute:
            value = span.attributes.add()
            value.key, value.value.string_value = "payload", "x" * attribute
    return message


def post(url, body, gzipped=False):
    headers = {"Content-Type": "application/x-protobuf"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    try:
        return requests.post(url, data=body, headers=headers,
                             timeout=120).status_code
    except requests.RequestException:
        return 0


def at_once(count, target):
    results = [None] * count
    threads = [threading.Thread(target=lambda k=k: results.__setitem__(
        k, target(k))) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def main():
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        collect = Collect(folder)
        base = collect.reset_peak()
        bodies = [gzip.compress(request(k + 1, attribute=28 * MB)
                                .SerializeToString(), compresslevel=1)
                  for k in range(20)]
        answers = at_once(20, lambda k: post(collect.url, bodies[k], True))
        rows.append(("20 gzip bodies of 28 MB at once: peak above rest",
                     collect.status("VmHWM") - base, "MB"))
        rows.append(("  of which answered 200", answers.count(200), ""))
        collect.stop()
    with tempfile.TemporaryDirectory() as folder:
        collect = Collect(folder)
        base = collect.reset_peak()
        one = request(77, attribute=30 * MB)

        def send(k):
            mine = type(one)()
            mine.CopyFrom(one)
            span = mine.resource_spans[0].scope_spans[0].spans[0]
            sent = []
            for number in range(10):
                span.trace_id = (k * 100 + number + 1).to_bytes(16, "big")
                sent.append(post(collect.url, mine.SerializeToString()))
            return sent

        answers = [a for sent in at_once(6, send) for a in sent]
        rows.append(("60 spans of 30 MB from 6 senders: peak above rest",
                     collect.status("VmHWM") - base, "MB"))
        rows.append(("  still held after", collect.status("VmRSS") - base,
                     "MB"))
        rows.append(("  of which answered 200", answers.count(200), ""))
        rows.append(("  the final write", collect.stop(), "s"))
        rows.append(("  the file", collect.output.stat().st_size / MB, "MB"))
    with tempfile.TemporaryDirectory() as folder:
        collect = Collect(folder)
        message = request(1, spans=500, service="wide", attribute=200)
        spans = message.resource_spans[0].scope_spans[0].spans
        for batch in range(100):  # 50,000 spans in 10,000 traces
            for number, span in enumerate(spans):
                span.trace_id = (batch * 100 + number // 5 + 1).to_bytes(
                    16, "big")
            post(collect.url, message.SerializeToString())
        base = collect.reset_peak()

        def search(_):
            answer = requests.get(f"{collect.query}/api/traces", params={
                "service": "wide", "limit": "0"}, stream=True, timeout=300)
            size = 0
            for piece in answer.iter_content(64 * 1024):
                size += len(piece)
                time.sleep(0.001)
            return size

        sizes = at_once(8, search)
        rows.append((f"8 searches of 50,000 spans ({sizes[0] / MB:.0f} MB "
                     "each) at once: peak above rest",
                     collect.status("VmHWM") - base, "MB"))
        collect.stop()
    report("the collect process's memory", rows)


if __name__ == "__main__":
    main()
