"""chaostracing collect: OTLP/HTTP next to Jaeger UDP, bounded, and traces
joined across files (issue "The whole distributed trace").

Real senders: OpenTelemetry's SDK with its own OTLP/HTTP exporter (protobuf,
gzip), an OTLP/JSON body, garbage, oversize bodies and jaeger-client over
UDP, at once, against a real ``chaostracing collect`` process.
"""
import gzip
import json
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
from conftest import (
    assert_one_trace,
    by_name,
    jaeger_client_spans,
    load_example,
)

from chaostracing._collector import Collector
from chaostracing._data.inputs import REBUILT_WARNING, load
from chaostracing._data.jaegerjson import load_spans
from chaostracing._data.model import FOLLOWS_FROM, SpanData

CHAOSTRACING = str(Path(sys.executable).with_name("chaostracing"))


def start_collect(output, *extra):
    proc = subprocess.Popen(
        [CHAOSTRACING, "collect", "--port", "0", "--otlp-port", "0",
         "--query-port", "off", "--output", str(output), *extra],
        stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    udp = int(re.search(r"udp://127.0.0.1:(\d+)", line).group(1))
    otlp = int(re.search(r"http://127.0.0.1:(\d+)/v1/traces", line).group(1))
    return proc, udp, otlp


def stop_collect(proc):
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return err


def sdk_spans(otlp_port):
    """A small trace from OpenTelemetry's SDK, over its own OTLP exporter."""
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode

    provider = TracerProvider(resource=Resource.create(
        {"service.name": "sdk-service", "deployment.environment": "test"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
        endpoint=f"http://127.0.0.1:{otlp_port}/v1/traces",
        compression=Compression.Gzip)))
    tracer = provider.get_tracer("tests.collector", "1.2")
    with tracer.start_as_current_span("other") as other:
        pass
    with tracer.start_as_current_span("GET /orders", kind=SpanKind.SERVER,
                                      attributes={"http.route": "/orders",
                                                  "ids": [1, 2]}) as server:
        with tracer.start_as_current_span(
                "load", links=[Link(other.get_span_context())]) as inner:
            inner.add_event("cache miss", {"key": "orders"})
            inner.set_status(Status(StatusCode.ERROR, "db down"))
    provider.shutdown()
    return server, inner, other


def otlp_json(trace_id, span_id, name="from-json"):
    return {"resourceSpans": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "json-service"}}]},
        "scopeSpans": [{"scope": {"name": "handmade"}, "spans": [{
            "traceId": trace_id, "spanId": span_id, "name": name, "kind": 3,
            "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": "1700000000005000000",
            "attributes": [{"key": "n", "value": {"intValue": "7"}}],
            "status": {"code": 1}}]}]}]}


def wait_for(path, count, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if len(load_spans(str(path))) >= count:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)


@pytest.mark.slow  # the collector's command
def test_collect_takes_otlp_and_jaeger_at_once_and_answers_right(tmp_path):
    output = tmp_path / "collected.json"
    proc, udp, otlp = start_collect(output)
    url = f"http://127.0.0.1:{otlp}/v1/traces"
    answers = {}
    json_trace = "5b8efff798038103d269b633813fc60c"

    def bad_requests():
        answers["garbage-protobuf"] = requests.post(
            url, data=b"\xff\x00garbage",
            headers={"Content-Type": "application/x-protobuf"}).status_code
        answers["garbage-json"] = requests.post(
            url, data=b"{not json", headers={
                "Content-Type": "application/json"}).status_code
        answers["bad-ids"] = requests.post(url, json={"resourceSpans": [{
            "scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "00"}]}]}]}
        ).status_code
        answers["text"] = requests.post(url, data=b"hello", headers={
            "Content-Type": "text/plain"}).status_code
        answers["elsewhere"] = requests.post(
            url.replace("/v1/traces", "/v1/metrics"), data=b"",
            headers={"Content-Type": "application/x-protobuf"}).status_code
        bomb = gzip.compress(b"\x00" * (40 * 1024 * 1024))
        answers["gzip-bomb"] = requests.post(url, data=bomb, headers={
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "gzip"}).status_code
        with socket.create_connection(("127.0.0.1", otlp)) as sock:
            sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/x-protobuf\r\n"
                         b"Content-Length: 999999999\r\n\r\n")
            answers["oversize"] = int(sock.recv(100).split()[1])
        response = requests.post(url, json=otlp_json(json_trace,
                                                     "eee19b7ec3c1b174"))
        answers["json"] = (response.status_code, response.json())

    sdk = {}
    senders = [threading.Thread(target=bad_requests),
               threading.Thread(
                   target=lambda: sdk.update(spans=sdk_spans(otlp)))]
    for sender in senders:
        sender.start()
    jaeger_client_spans(udp)  # tornado's IOLoop wants the main thread
    for sender in senders:
        sender.join()
    server, inner, other = sdk["spans"]
    wait_for(output, 4 + 3 + 1)
    err = stop_collect(proc)
    assert answers == {
        "garbage-protobuf": 400, "garbage-json": 400, "bad-ids": 400,
        "text": 415, "elsewhere": 404, "gzip-bomb": 413, "oversize": 413,
        "json": (200, {}),
    }
    assert "8 span(s) written" in err and "7 OTLP request(s) refused" in err
    spans = load_spans(str(output))
    names = by_name(spans)
    assert len(spans) == 8
    # jaeger-client's tree
    assert names["child-1"].parent_id == names["root"].span_id
    assert names["root"].service_name == "from-jaeger-client"
    # the SDK's spans, mapped as Jaeger maps OTLP
    load, get = names["load"], names["GET /orders"]
    assert load.parent_id == get.span_id == server.get_span_context().span_id
    assert get.tags["span.kind"] == "server"
    assert get.tags["http.route"] == "/orders"
    assert json.loads(get.tags["ids"]) == [1, 2]
    assert get.service_name == "sdk-service"
    assert dict(get.process.tags)["deployment.environment"] == "test"
    assert load.tags["error"] is True
    assert load.tags["otel.status_code"] == "ERROR"
    assert load.tags["otel.status_description"] == "db down"
    assert load.tags["otel.scope.name"] == "tests.collector"
    assert load.tags["otel.scope.version"] == "1.2"
    assert load.logs[0][1] == {"event": "cache miss", "key": "orders"}
    assert load.references == [(FOLLOWS_FROM, other.get_span_context().trace_id,
                                other.get_span_context().span_id)]
    # OTLP/JSON: hex ids, int64 as strings, enums as numbers
    handmade = names["from-json"]
    assert handmade.trace_id_hex == json_trace
    assert handmade.tags["n"] == 7 and handmade.tags["span.kind"] == "client"
    assert handmade.duration_us == 5000


def test_the_store_is_bounded_and_says_what_it_dropped():
    collector = Collector(udp_port=None, otlp_port=None, max_spans=100)
    for trace in range(30):
        collector._add([SpanData(trace + 1, i + 1, operation_name=f"s{i}")
                        for i in range(10)])
    assert len(collector.store) == 100
    assert collector.store.dropped == 200
    # the newest traces are the ones kept
    kept = {tid for tid, _ in collector.store.traces()}
    assert kept == set(range(21, 31))
    assert "200 span(s) dropped (oldest traces, over --max-spans 100)" in \
        collector.summary()


def test_the_store_keeps_a_span_received_twice_once():
    collector = Collector(udp_port=None, otlp_port=None)
    span = SpanData(1, 2, operation_name="twice")
    collector._add([span])
    collector._add([span.replace()])
    assert len(collector.store) == 1


@pytest.mark.slow  # a flood of datagrams, seconds long
def test_a_flood_of_datagrams_keeps_memory_bounded(tmp_path):
    # the raw datagrams are not kept, the backlog is bounded, the store too
    from chaostracing._data.model import Process
    from chaostracing._run.pipeline import Pipeline
    from chaostracing._run.providers.udp import UdpTransport
    from chaostracing._run.redact import Redactor

    collector = Collector(udp_port=0, otlp_port=None, max_spans=2_000,
                          output=str(tmp_path / "out.json")).start()
    try:
        pipeline = Pipeline(UdpTransport("127.0.0.1", collector.udp_port),
                            Redactor(), Process("flood"))
        from chaostracing._run.tracer import Tracer

        tracer = Tracer("flood", pipeline)
        for i in range(20_000):
            tracer.start_span(f"s{i}").finish()
        assert pipeline.close(10)
        deadline = time.monotonic() + 10
        while collector.store.received + collector.agent.dropped < 20_000 and \
                time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        collector.stop()
    assert len(collector.store) <= 2_000
    assert collector.store.dropped + collector.agent.dropped >= 18_000
    assert collector.agent.raw == []
    assert collector.write(force=True)
    assert len(load_spans(str(tmp_path / "out.json"))) == len(collector.store)


def test_a_run_and_the_service_it_calls_are_one_trace(chaos, tmp_path):
    # the demo's story, as a test: the run's file, the collector's file
    sys.path.insert(0, str(Path(__file__).parent.parent / "examples"))
    from service import DemoService

    with Collector(udp_port=None, otlp_port=0) as collector:
        service = DemoService(
            0, f"http://127.0.0.1:{collector.otlp_port}/v1/traces")
        thread = threading.Thread(target=service.serve_forever, args=(0.05,),
                                  daemon=True)
        thread.start()
        experiment = load_example()
        experiment["configuration"] = {
            "tracing_provider": "file", "service_url": service.url,
            "tracing_propagation": ["w3c", "jaeger"],
            "tracing_instrument": ["requests"]}
        run = chaos(experiment)
        service.stop_tracing()
        service.shutdown()
        service.server_close()
        service_spans = collector.store.spans()
    assert run.status == "completed", run.log[-2000:]
    from chaostracing._data.jaegerjson import dumps, write_atomic

    write_atomic(str(tmp_path / "service.json"), dumps(service_spans))
    spans = load([str(tmp_path / "chaostracing-trace.json"),
                  str(tmp_path / "service.json")])
    assert_one_trace(spans)
    by_id = {s.span_id: s for s in spans}
    servers = [s for s in spans if s.kind == "server"]
    # /health twice, /stress twice, /orders twice
    assert len(servers) == 6
    for server in servers:
        client = by_id[server.parent_id]
        assert client.service_name == "chaostoolkit"
        assert client.kind == "client"
        assert server.service_name == "demo-service"
    (inner,) = [s for s in spans if s.operation_name == "my-inner-span"]
    (served,) = [s for s in servers if s.parent_id == inner.span_id]
    assert [s.operation_name for s in spans if s.parent_id == served.span_id] \
        == ["load orders"]
    shown = subprocess.run([CHAOSTRACING, "show", "--width", "150",
                            str(tmp_path / "chaostracing-trace.json"),
                            str(tmp_path / "service.json")],
                           capture_output=True, text=True, check=True).stdout
    lines = shown.splitlines()
    assert "services: chaostoolkit, demo-service" in lines[0]
    at = next(i for i, line in enumerate(lines) if "my-inner-span" in line)
    depth = len(lines[at]) - len(lines[at].lstrip())
    assert lines[at + 1].lstrip().startswith("GET /orders")
    assert len(lines[at + 1]) - len(lines[at + 1].lstrip()) == depth + 2


def test_show_and_report_rebuild_a_run_made_without_the_control(chaos,
                                                                 demo_service,
                                                                 tmp_path):
    experiment = load_example()
    experiment.pop("controls")
    experiment["configuration"] = {"service_url": demo_service.url}
    run = chaos(experiment)
    assert run.status == "completed"
    journal = tmp_path / "journal.json"
    shown = subprocess.run([CHAOSTRACING, "show", str(journal)],
                           capture_output=True, text=True, check=True).stdout
    lines = shown.splitlines()
    # no extension span in a journal: the 12 of a traced run less my-inner-span
    assert "11 spans" in lines[0] and "rebuilt from a journal" in lines[0]
    names = [line.split("│")[0].rstrip() for line in lines[1:]]
    assert names[:4] == ["The demo service survives stress",
                         "  The service is healthy", "    service-is-healthy",
                         "  Method"]
    spans = load([str(journal)])
    root = next(s for s in spans if not s.parent_id)
    assert root.warnings == [REBUILT_WARNING]
    assert root.tags["chaostoolkit.status"] == "completed"
    assert load([str(journal)])[0].trace_id == root.trace_id  # stable
    report = tmp_path / "report.html"
    subprocess.run([CHAOSTRACING, "report", str(journal), "-o", str(report)],
                   check=True, capture_output=True)
    assert "rebuilt" in report.read_text()


@pytest.mark.slow  # the chaostracing command
@pytest.mark.parametrize("content", ["{}", "[1, 2]", '{"data": "x"}'])
def test_show_says_in_one_line_what_a_file_is_not(tmp_path, content):
    path = tmp_path / "x.json"
    path.write_text(content)
    proc = subprocess.run([CHAOSTRACING, "show", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
