"""``chaostracing collect`` under hostile and heavy conditions, as a process.

Each test runs the real command, watches its memory (the peak resident
size, ``VmHWM`` of ``/proc/PID/status``, reset before each phase through
``clear_refs``) and checks that it still answers queries and stores spans
while it is under pressure:

- slow clients (silent connections, headers and bodies sent a byte at a
  time) are closed at ``--timeout``, and cost neither answers nor memory;
- 50 senders at once, each request on a new connection, lose nothing;
- 20 gzip bodies inflating to 28 MB each, at once, and gzip bombs;
- 60 spans with 30 MB attributes;
- 8 concurrent searches for every trace of a large store;
- an output file that becomes unwritable, and comes back.
"""
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.slow  # each test runs the chaostracing command

CHAOSTRACING = str(Path(sys.executable).with_name("chaostracing"))
MB = 1024 * 1024


class Collect:
    """A ``chaostracing collect`` process on free ports."""

    def __init__(self, tmp_path, *extra, output="out.json"):
        self.output = tmp_path / output
        self.proc = subprocess.Popen(
            [CHAOSTRACING, "collect", "--port", "0", "--otlp-port", "0",
             "--query-port", "0", "--output", str(self.output), *extra],
            stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        found = re.findall(r"://127.0.0.1:(\d+)", line)
        assert len(found) == 3, line
        self.udp, self.otlp, self.query = (int(port) for port in found)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def traces_url(self):
        return f"http://127.0.0.1:{self.otlp}/v1/traces"

    def get(self, path, **params):
        return requests.get(f"http://127.0.0.1:{self.query}{path}",
                            params=params, timeout=30)

    def spans_of(self, service):
        """Every span of ``service`` the query API answers."""
        answer = self.get("/api/traces", service=service, limit="0")
        assert answer.status_code == 200
        return [span for trace in answer.json()["data"]
                for span in trace["spans"]]

    def status(self, key):
        """A line of ``/proc/PID/status`` in MB (``VmRSS``, ``VmHWM``)."""
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
        raise AssertionError(f"no {key}")

    def reset_peak(self):
        """The resident size now; the peak (VmHWM) starts again from it."""
        with open(f"/proc/{self.proc.pid}/clear_refs", "w") as refs:
            refs.write("5")
        return self.status("VmRSS")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self._reader.join(10)
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def collect(tmp_path):
    started = []

    def start(*extra, **kwargs):
        started.append(Collect(tmp_path, *extra, **kwargs))
        return started[-1]

    yield start
    for process in started:
        process.kill()


def otlp_request(trace, spans=1, service="svc", attribute=0, name="op"):
    """An OTLP protobuf body: ``spans`` spans of one trace, each with an
    attribute of ``attribute`` bytes when asked."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    key_value = resource.resource.attributes.add()
    key_value.key, key_value.value.string_value = "service.name", service
    scope = resource.scope_spans.add()
    now = time.time_ns()
    for number in range(spans):
        span = scope.spans.add()
        span.trace_id = trace.to_bytes(16, "big")
        span.span_id = (number + 1).to_bytes(8, "big")
        span.name = name
        span.start_time_unix_nano = now - 1000
        span.end_time_unix_nano = now
        if attribute:
            value = span.attributes.add()
            value.key = "payload"
            value.value.string_value = "x" * attribute
    return request.SerializeToString()


def post(url, body, gzipped=False):
    headers = {"Content-Type": "application/x-protobuf"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    try:
        return requests.post(url, data=body, headers=headers,
                             timeout=60).status_code
    except requests.RequestException as error:
        return type(error).__name__


def in_threads(count, target):
    """``target(k)`` in ``count`` threads started together; their results."""
    results = [None] * count
    barrier = threading.Barrier(count)

    def run(k):
        barrier.wait()
        results[k] = target(k)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def report(name, **figures):
    """The figures, on the test's output (pytest -s shows them)."""
    print(f"\n{name}: " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float)
                                     else f"{k} {v}"
                                     for k, v in figures.items()))


# -- slow clients -------------------------------------------------------------
def test_slow_clients_are_cut_at_the_timeout_and_cost_nobody(collect):
    server = collect("--timeout", "2")
    base = server.reset_peak()
    ports = (server.otlp, server.query)
    silent, headers, bodies = [], [], []
    for k in range(150):
        silent.append(socket.create_connection(("127.0.0.1", ports[k % 2])))
    for k in range(150):
        sock = socket.create_connection(("127.0.0.1", ports[k % 2]))
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\n" if k % 2 == 0
                     else b"GET /api/services HTTP/1.1\r\n")
        headers.append(sock)
    for _ in range(150):
        sock = socket.create_connection(("127.0.0.1", server.otlp))
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/x-protobuf\r\n"
                     b"Content-Length: 100000\r\n\r\n")
        bodies.append(sock)
    opened = time.monotonic()
    closed = {}
    stop = threading.Event()

    def drip():  # a header line, a byte of body, every 0.2 s
        tick = 0
        while not stop.is_set():
            tick += 1
            for socks, data in ((headers, b"X-Slow-%d: 1\r\n" % tick),
                                (bodies, b"x")):
                for sock in socks:
                    if sock in closed:
                        continue
                    try:
                        sock.sendall(data)
                    except OSError:
                        closed[sock] = time.monotonic() - opened
            stop.wait(0.2)

    dripping = threading.Thread(target=drip)
    dripping.start()
    try:
        # meanwhile, others are answered at once
        latencies = []
        for number in range(10):
            started = time.monotonic()
            assert server.get("/api/services").status_code == 200
            assert post(server.traces_url, otlp_request(number + 1,
                                                        service="ok")) == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.1)
        assert max(latencies) < 1.0, latencies
        # every slow connection is closed by the collector
        deadline = time.monotonic() + 8
        for sock in silent:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                while sock.recv(4096):
                    pass
                closed[sock] = time.monotonic() - opened
            except OSError:
                pass
        while len(closed) < 450 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        dripping.join()
        for sock in silent + headers + bodies:
            sock.close()
    assert len(closed) == 450, f"{450 - len(closed)} still open"
    assert max(closed.values()) < 6.5  # the 2 s timeout, plus lingering
    assert len(server.spans_of("ok")) == 10
    peak = server.status("VmHWM") - base
    report("slow clients", connections=450, rss_base_mb=base,
           peak_growth_mb=peak, slowest_close_s=max(closed.values()),
           worst_latency_s=max(latencies))
    assert peak < 60
    assert server.stop() == 0


# -- 50 senders ---------------------------------------------------------------
def test_fifty_senders_at_once_lose_nothing(collect):
    server = collect()
    base = server.reset_peak()
    bodies = [otlp_request(1000 + k, spans=10, service="crowd")
              for k in range(1000)]

    def send(k):  # 20 requests, each on a new connection
        return [post(server.traces_url, body) for body in bodies[k::50]]

    started = time.monotonic()
    statuses = [s for sent in in_threads(50, send) for s in sent]
    took = time.monotonic() - started
    assert statuses == [200] * 1000
    spans = server.spans_of("crowd")
    assert len(spans) == 10_000
    assert len({(s["traceID"], s["spanID"]) for s in spans}) == 10_000
    peak = server.status("VmHWM") - base
    report("50 senders", requests=1000, spans=10_000, seconds=took,
           peak_growth_mb=peak)
    assert server.stop() == 0
    assert "10000 span(s) written" in server.lines[-1], server.lines


# -- inflation, big attributes ------------------------------------------------
def test_twenty_gzip_bodies_of_28_mb_at_once_and_bombs(collect):
    server = collect()
    base = server.reset_peak()
    big = [gzip.compress(otlp_request(k + 1, service="inflated",
                                      attribute=28 * MB), compresslevel=1)
           for k in range(20)]
    bomb = gzip.compress(b"\x00" * (40 * MB), compresslevel=1)
    answered = []

    def queries():  # the query API answers all along
        while len(answered) < 1000 and not done.is_set():
            started = time.monotonic()
            assert server.get("/api/services").status_code == 200
            answered.append(time.monotonic() - started)
            time.sleep(0.05)

    done = threading.Event()
    asking = threading.Thread(target=queries)
    asking.start()
    try:
        statuses = in_threads(24, lambda k: post(
            server.traces_url, big[k] if k < 20 else bomb, gzipped=True))
    finally:
        done.set()
        asking.join()
    assert statuses == [200] * 20 + [413] * 4
    spans = server.spans_of("inflated")
    assert len(spans) == 20
    for span in spans:
        (payload,) = [t["value"] for t in span["tags"]
                      if t["key"] == "payload"]
        assert payload.endswith(f"...[truncated; {28 * MB} chars in all]")
        assert len(payload) == 64 * 1024
    peak = server.status("VmHWM") - base
    report("20 gzip bodies of 28 MB + 4 bombs", peak_growth_mb=peak,
           worst_query_s=max(answered))
    assert peak < 250  # without the budget: about 1 GB
    assert max(answered) < 5
    assert server.stop() == 0
    assert "20 value(s) cut to 65536 characters" in server.lines[-1]


def test_sixty_spans_with_30_mb_attributes(collect):
    server = collect()
    base = server.reset_peak()
    body = otlp_request(77, service="heavy", attribute=30 * MB)

    def send(k):  # 10 spans each, one request per span
        statuses = []
        for number in range(10):
            one = body.replace((77).to_bytes(16, "big"),
                               (k * 100 + number + 1).to_bytes(16, "big"))
            statuses.append(post(server.traces_url, one))
        return statuses

    statuses = [s for sent in in_threads(6, send) for s in sent]
    assert statuses == [200] * 60
    assert len(server.spans_of("heavy")) == 60
    peak = server.status("VmHWM") - base
    now = server.status("VmRSS") - base
    report("60 spans of 30 MB", peak_growth_mb=peak, after_mb=now)
    assert peak < 250  # without the cap: 1.8 GB
    assert server.stop() == 0
    assert "60 span(s) written" in server.lines[-1]
    assert server.output.stat().st_size < 60 * 70 * 1024


# -- searches -----------------------------------------------------------------
def test_eight_concurrent_searches_of_a_large_store(collect):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    server = collect()
    message = ExportTraceServiceRequest.FromString(
        otlp_request(1, spans=500, service="wide", attribute=200))
    spans = message.resource_spans[0].scope_spans[0].spans
    for batch in range(100):  # 50,000 spans in 10,000 traces
        for number, span in enumerate(spans):
            span.trace_id = (batch * 100 + number // 5 + 1).to_bytes(16,
                                                                    "big")
        assert post(server.traces_url, message.SerializeToString()) == 200
    base = server.reset_peak()

    def search(k):
        answer = requests.get(f"http://127.0.0.1:{server.query}/api/traces",
                              params={"service": "wide", "limit": "0"},
                              stream=True, timeout=120)
        size = 0
        for piece in answer.iter_content(64 * 1024):  # a slowish reader
            size += len(piece)
            time.sleep(0.001)
        return answer.status_code, size

    started = time.monotonic()
    answers = in_threads(8, search)
    took = time.monotonic() - started
    assert {status for status, _ in answers} == {200}
    assert len({size for _, size in answers}) == 1
    peak = server.status("VmHWM") - base
    report("8 concurrent searches of 50,000 spans", answer_mb=answers[0][1]
           / MB, peak_growth_mb=peak, seconds=took)
    assert peak < 8 * answers[0][1] / MB / 2  # whole answers: 8 of them
    assert server.stop() == 0


# -- the output ---------------------------------------------------------------
def test_an_output_that_becomes_unwritable_costs_a_warning_not_the_spans(
        collect, tmp_path):
    folder = tmp_path / "traces"
    folder.mkdir()
    server = collect(output="traces/out.json")
    assert post(server.traces_url, otlp_request(1, 3, "first")) == 200
    deadline = time.monotonic() + 10
    while not server.output.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    folder.rename(tmp_path / "moved")
    folder.write_text("a file where the folder was")
    assert post(server.traces_url, otlp_request(2, 4, "second")) == 200
    while not any("cannot write" in line for line in server.lines) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    # still receiving, still answering
    assert post(server.traces_url, otlp_request(3, 5, "third")) == 200
    assert len(server.spans_of("third")) == 5
    folder.unlink()
    folder.mkdir()
    while not any("written again" in line for line in server.lines) and \
            time.monotonic() < deadline + 5:
        time.sleep(0.05)
    assert server.stop() == 0
    warnings = [line for line in server.lines if "cannot write" in line]
    assert len(warnings) == 1, server.lines
    assert "12 span(s) written" in server.lines[-1]
    document = json.loads(server.output.read_text())
    assert sum(len(t["spans"]) for t in document["data"]) == 12


def test_an_output_unwritable_to_the_end_is_saved_elsewhere(collect,
                                                            tmp_path):
    (tmp_path / "nowhere").write_text("a file, not a folder")
    server = collect(output="nowhere/out.json")
    assert post(server.traces_url, otlp_request(1, 2, "kept")) == 200
    assert server.stop() == 1
    last = server.lines[-1]
    assert "2 span(s) NOT written" in last
    fallback = re.search(r"written to (\S+) instead", last).group(1)
    try:
        spans = json.loads(Path(fallback).read_text())["data"][0]["spans"]
        assert len(spans) == 2
    finally:
        os.unlink(fallback)


def test_without_the_collect_extra_one_line_names_it(tmp_path):
    # a missing extra costs its features: the HTTP ports, not Jaeger UDP
    shadow = tmp_path / "shadow" / "aiohttp"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ImportError(\"No module named 'aiohttp'\")\n")
    env = dict(os.environ, PYTHONPATH=str(shadow.parent))
    proc = subprocess.run([CHAOSTRACING, "collect", "--port", "0",
                           "--otlp-port", "0", "--duration", "0.2"],
                          capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == (
        "chaostracing: not receiving OTLP (--otlp-port 0) nor answering "
        "Jaeger's query API (--query-port 16686): aiohttp is not installed: "
        "pip install 'chaostoolkit-opentracing[collect]' (No module named "
        "'aiohttp')")
    assert re.match(r"chaostracing: collecting on udp://127\.0\.0\.1:\d+ "
                    r"\(Jaeger agent\), writing ", lines[1])
    assert "0 span(s) written" in lines[-1]
    # nothing left: said, and a failure
    proc = subprocess.run([CHAOSTRACING, "collect", "--port", "off",
                           "--query-port", "off", "--duration", "0.2"],
                          capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "chaostracing: not receiving OTLP (--otlp-port 4318): aiohttp is not "
        "installed: pip install 'chaostoolkit-opentracing[collect]' (No "
        "module named 'aiohttp')",
        "chaostracing collect: nothing left to collect with"]
