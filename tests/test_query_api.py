"""``chaostracing collect``'s Jaeger query API, over real HTTP on loopback.

Checked against Jaeger's own definitions (``cmd/query/app`` and
``model/json`` in jaegertracing/jaeger, and what Jaeger UI reads; the facts
are in ../shared/JAEGER-API.md): the envelope, the trace and span fields
and their types, the parameters (times in microseconds, duration strings,
``tag``/``tags``, ``limit``, ``traceID``), error bodies and status codes.
"""
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from chaostracing._collector import Collector
from chaostracing._data.jaegerjson import read_document, to_trace, trace_json
from chaostracing._data.model import FOLLOWS_FROM, Process, SpanData

NOW = time.time_ns() // 1000
SHOP = Process("shop", (("host.name", "box-1"), ("pid", 42)))
STOCK = Process("stock service/eu", (("region", "eu"),))


def get(base, path, **params):
    """(status, decoded JSON or text, headers) of a GET."""
    url = base + path + ("?" + urllib.parse.urlencode(params, doseq=True)
                         if params else "")
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            status, body, headers = answer.status, answer.read(), answer.headers
    except urllib.error.HTTPError as error:
        status, body, headers = error.code, error.read(), error.headers
    if headers.get("Content-Type", "").startswith("application/json"):
        return status, json.loads(body), headers
    return status, body.decode("utf-8"), headers


def shop_trace(trace_id, start, duration=2_000, error=False, op="GET /orders"):
    """A request to the shop, which calls the stock service."""
    return [
        SpanData(trace_id, 1, 0, 1, op, start, duration,
                 tags={"span.kind": "server", "http.status_code":
                       503 if error else 200, "error": error},
                 process=SHOP,
                 logs=[(start + 5, {"event": "cache", "hit": False})]),
        SpanData(trace_id, 2, 1, 1, "check stock", start + 10, duration // 2,
                 tags={"span.kind": "client"}, process=SHOP),
        SpanData(trace_id, 3, 2, 1, "GET /stock", start + 20, duration // 3,
                 tags={"span.kind": "server", "ratio": 0.25,
                       "raw": b"\x00\xff"},
                 process=STOCK, references=[(FOLLOWS_FROM, trace_id + 1, 9)]),
    ]


@pytest.fixture
def collector():
    with Collector(udp_port=None, otlp_port=None, query_port=0,
                   max_spans=100_000) as running:
        running.base = f"http://127.0.0.1:{running.query_port}"
        yield running


def test_services_and_operations(collector):
    collector.store.add(shop_trace(0xA1, NOW - 1_000_000))
    status, answer, headers = get(collector.base, "/api/services")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert answer == {"data": ["shop", "stock service/eu"], "total": 2,
                      "limit": 0, "offset": 0, "errors": None}
    # a service name with a slash and a space, percent-encoded in the path
    quoted = urllib.parse.quote("stock service/eu", safe="")
    _, answer, _ = get(collector.base, f"/api/services/{quoted}/operations")
    assert answer["data"] == ["GET /stock"] and answer["total"] == 1
    _, answer, _ = get(collector.base, "/api/services/shop/operations")
    assert answer["data"] == ["GET /orders", "check stock"]
    # the newer endpoint, with span kinds and the spanKind filter
    _, answer, _ = get(collector.base, "/api/operations", service="shop")
    assert answer["data"] == [{"name": "GET /orders", "spanKind": "server"},
                              {"name": "check stock", "spanKind": "client"}]
    _, answer, _ = get(collector.base, "/api/operations", service="shop",
                       spanKind="client")
    assert answer["data"] == [{"name": "check stock", "spanKind": "client"}]
    _, answer, _ = get(collector.base, "/api/services/nobody/operations")
    assert answer["data"] == [] and answer["total"] == 0
    status, answer, _ = get(collector.base, "/api/operations")
    assert status == 400
    assert answer["errors"] == [{"code": 400,
                                 "msg": "parameter 'service' is required"}]


def test_a_trace_in_jaegers_model_field_by_field(collector):
    spans = shop_trace(0xA1, NOW - 1_000_000, error=True)
    collector.store.add(spans)
    status, answer, _ = get(collector.base, "/api/traces/" + "a1".zfill(32))
    assert status == 200
    assert set(answer) == {"data", "total", "limit", "offset", "errors"}
    assert answer["errors"] is None and len(answer["data"]) == 1
    trace = answer["data"][0]
    assert set(trace) == {"traceID", "spans", "processes", "warnings"}
    assert trace["traceID"] == "a1".zfill(16)  # high half 0: 16 digits
    # processes: p1, p2... each with serviceName and typed tags
    assert sorted(trace["processes"]) == ["p1", "p2"]
    by_service = {p["serviceName"]: p for p in trace["processes"].values()}
    assert by_service["shop"]["tags"] == [
        {"key": "host.name", "type": "string", "value": "box-1"},
        {"key": "pid", "type": "int64", "value": 42}]
    fields = {"traceID", "spanID", "flags", "operationName", "references",
              "startTime", "duration", "tags", "logs", "processID", "warnings"}
    for span in trace["spans"]:
        assert set(span) == fields
        assert span["traceID"] == trace["traceID"]
        assert len(span["spanID"]) == 16 and int(span["spanID"], 16)
        assert isinstance(span["startTime"], int)  # microseconds
        assert isinstance(span["duration"], int)
        assert span["processID"] in trace["processes"]
        for tag in span["tags"]:
            assert set(tag) == {"key", "type", "value"}
            kind, value = tag["type"], tag["value"]
            assert kind in ("string", "bool", "int64", "float64", "binary")
            assert isinstance(value, {"string": str, "bool": bool,
                                      "int64": int, "float64": float,
                                      "binary": str}[kind])
        for reference in span["references"]:
            assert set(reference) == {"refType", "traceID", "spanID"}
            assert reference["refType"] in ("CHILD_OF", "FOLLOWS_FROM")
        for log in span["logs"]:
            assert set(log) == {"timestamp", "fields"}
    first, second, third = trace["spans"]  # by start time
    assert (first["operationName"], first["startTime"], first["duration"]) \
        == ("GET /orders", NOW - 1_000_000, 2_000)
    assert first["references"] == []
    assert {"key": "error", "type": "bool", "value": True} in first["tags"]
    assert first["logs"] == [{"timestamp": NOW - 1_000_000 + 5, "fields": [
        {"key": "event", "type": "string", "value": "cache"},
        {"key": "hit", "type": "bool", "value": False}]}]
    assert second["references"] == [{"refType": "CHILD_OF",
                                     "traceID": trace["traceID"],
                                     "spanID": first["spanID"]}]
    assert third["references"][1] == {
        "refType": "FOLLOWS_FROM", "traceID": "a2".zfill(16),
        "spanID": "9".zfill(16)}
    assert {"key": "raw", "type": "binary", "value": "AP8="} in third["tags"]
    assert {"key": "ratio", "type": "float64", "value": 0.25} in third["tags"]
    # what the API answers reads back as the spans stored
    back = {s.span_id: s for s in read_document(answer)}
    for span in spans:
        again = back[span.span_id]
        assert (again.trace_id, again.parent_id, again.operation_name,
                again.start_us, again.duration_us, again.tags, again.process,
                again.references, again.logs) == (
            span.trace_id, span.parent_id, span.operation_name, span.start_us,
            span.duration_us, span.tags, span.process, span.references,
            span.logs)


def test_trace_json_is_the_model_written_faster():
    spans = shop_trace(0xA1, NOW) + [SpanData(
        0xA1, 4, 3, 1, "odd \u2028 <name> \"q\" \udcff", NOW + 1, 1,
        tags={"nan": float("nan"), "inf": float("-inf"), "big": 1 << 62,
              "obj": object, "\u00e9": "\x00\x1b"}, warnings=["w\n"],
        process=Process("p\u00e9", (("b", True),)))]
    assert json.loads(trace_json(0xA1, spans)) == json.loads(
        json.dumps(to_trace(0xA1, spans)))


def test_unknown_and_malformed_trace_ids(collector):
    status, answer, _ = get(collector.base, "/api/traces/" + "f" * 32)
    assert status == 404
    assert answer == {"data": None, "total": 0, "limit": 0, "offset": 0,
                      "errors": [{"code": 404, "msg": "trace not found"}]}
    for bad in ("xyz", "1" * 33, "-1"):
        status, answer, _ = get(collector.base, "/api/traces/" + bad)
        assert status == 400 and answer["errors"][0]["code"] == 400
        assert "cannot parse traceID" in answer["errors"][0]["msg"]
    # a 64-bit id, as Jaeger writes it (16 digits), finds the trace too
    collector.store.add(shop_trace(0xB2, NOW))
    status, answer, _ = get(collector.base, "/api/traces/00000000000000b2")
    assert status == 200 and len(answer["data"][0]["spans"]) == 3


def test_search_by_trace_ids_reports_the_unknown_ones(collector):
    collector.store.add(shop_trace(0xA1, NOW))
    status, answer, _ = get(collector.base, "/api/traces",
                            traceID=["a1", "c3"])
    assert status == 200
    assert [t["traceID"] for t in answer["data"]] == ["a1".zfill(16)]
    assert answer["errors"] == [{"msg": "trace not found",
                                 "traceID": "c3".zfill(16)}]


def search(collector, **params):
    return search_at(collector.base, **params)


def search_at(base, **params):
    status, answer, _ = get(base, "/api/traces", **params)
    assert status == 200, answer
    assert answer["total"] == 0 and answer["errors"] is None  # as Jaeger
    return [int(t["traceID"], 16) for t in answer["data"]]


def test_search_filters_as_jaeger_does(collector):
    base = NOW - 10_000_000
    collector.store.add(shop_trace(1, base, duration=1_000))
    collector.store.add(shop_trace(2, base + 1_000_000, duration=5_000,
                                   error=True))
    collector.store.add(shop_trace(3, base + 2_000_000, duration=9_000,
                                   op="POST /orders"))
    assert search(collector, service="shop") == [3, 2, 1]  # newest first
    assert search(collector, service="nobody") == []
    assert search(collector, service="shop", operation="POST /orders") == [3]
    # the span matching must be one of the service's: 'GET /stock' is not
    assert search(collector, service="shop", operation="GET /stock") == []
    assert search(collector, service="stock service/eu",
                  operation="GET /stock") == [3, 2, 1]
    # tags: tag=key:value (repeatable), tags={json}; values compared as text
    assert search(collector, service="shop", tag="error:true") == [2]
    assert search(collector, service="shop",
                  tag=["http.status_code:200", "span.kind:server"]) == [3, 1]
    assert search(collector, service="shop",
                  tags=json.dumps({"error": "true"})) == [2]
    # process tags and log fields match too
    assert search(collector, service="shop", tag="host.name:box-1") == [3, 2, 1]
    assert search(collector, service="shop", tag="hit:false") == [3, 2, 1]
    assert search(collector, service="stock service/eu",
                  tag="ratio:0.25") == [3, 2, 1]
    assert search(collector, service="stock service/eu", tag="raw:00ff") \
        == [3, 2, 1]
    # start/end: unix microseconds, both ends included, on the span's start
    assert search(collector, service="shop", start=base + 1_000_000,
                  end=base + 1_000_000) == [2]
    assert search(collector, service="shop", start=base + 1_000_011) == [3]
    assert search(collector, service="shop", start=base + 1_000_010) == [3, 2]
    # durations as Go writes them
    assert search(collector, service="shop", minDuration="5ms") == [3, 2]
    assert search(collector, service="shop", minDuration="5001us") == [3]
    # (any span of the service: trace 3's 4.5 ms client span is under 5 ms)
    assert search(collector, service="shop", maxDuration="0.005s") == [3, 2, 1]
    assert search(collector, service="shop", maxDuration="0.005s",
                  tag="span.kind:server") == [2, 1]
    assert search(collector, service="shop", minDuration="1ms",
                  maxDuration="1ms") == [1]
    assert search(collector, service="shop", minDuration="1h") == []
    # the default window is the last two days
    collector.store.add(shop_trace(4, NOW - 3 * 24 * 3600 * 1_000_000))
    assert 4 not in search(collector, service="shop")
    assert 4 in search(collector, service="shop", start=0)


def test_search_limits_to_the_newest_traces(collector):
    for number in range(1, 151):
        collector.store.add(shop_trace(number, NOW - 1_000_000 + number))
    found = search(collector, service="shop")
    assert found == list(range(150, 50, -1))  # Jaeger's default: 100
    assert search(collector, service="shop", limit=3) == [150, 149, 148]
    assert len(search(collector, service="shop", limit=0)) == 150
    assert len(search(collector, service="shop", limit=-1)) == 150


def test_leading_zeros_are_read_as_go_reads_them(collector):
    # Go's strconv reads any number of leading zeros; int() refuses more
    # than 4300 digits, zeros included (a 500 when it was called on them)
    collector.store.add(shop_trace(0xA1, NOW - 2_000_000))
    collector.store.add(shop_trace(0xA2, NOW - 1_000_000))
    status, answer, _ = get(collector.base, "/api/traces", service="shop",
                            limit="0" * 5000 + "1")
    assert status == 200, answer
    assert [t["traceID"] for t in answer["data"]] == ["00000000000000a2"]


@pytest.mark.parametrize("params, message", [
    ({}, "parameter 'service' is required"),
    ({"service": "shop", "limit": "ten"}, "unable to parse param 'limit'"),
    ({"service": "shop", "start": "yesterday"},
     "unable to parse param 'start'"),
    ({"service": "shop", "end": "1.5"}, "unable to parse param 'end'"),
    ({"service": "shop", "end": "\u0663"}, "unable to parse param 'end'"),
    ({"service": "shop", "end": "1_000"}, "unable to parse param 'end'"),
    ({"service": "shop", "start": "1" * 5000},
     "unable to parse param 'start'"),
    ({"service": "shop", "limit": "\u0663"}, "unable to parse param 'limit'"),
    ({"service": "shop", "minDuration": "5"}, "unable to parse param "
     "'minDuration'"),
    ({"service": "shop", "maxDuration": "1x"}, "unable to parse param "
     "'maxDuration'"),
    ({"service": "shop", "minDuration": "2s", "maxDuration": "1s"},
     "'maxDuration' should be greater than 'minDuration'"),
    ({"service": "shop", "tag": "nocolon"}, "malformed 'tag' parameter"),
    ({"service": "shop", "tags": "{bad"}, "malformed 'tags' parameter"),
    ({"service": "shop", "tags": '{"a": 1}'}, "malformed 'tags' parameter"),
    ({"traceID": "zz"}, "cannot parse traceID param"),
])
def test_bad_parameters_get_jaegers_400(collector, params, message):
    status, answer, _ = get(collector.base, "/api/traces", **params)
    assert status == 400
    assert answer["data"] is None
    assert answer["errors"][0]["code"] == 400
    assert answer["errors"][0]["msg"].startswith(message), answer


def test_unknown_paths_and_head(collector):
    status, answer, _ = get(collector.base, "/api/nothing")
    assert status == 404 and answer["errors"][0]["code"] == 404
    request = urllib.request.Request(collector.base + "/api/services",
                                     method="HEAD")
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200 and answer.read() == b""
    status, page, headers = get(collector.base, "/no/such/page")
    assert status == 404 and "text/html" in headers["Content-Type"]


def test_pages_for_a_browser(collector):
    hostile = Process("<script>alert(1)</script>")
    collector.store.add(shop_trace(0xA1, NOW - 2_000_000))
    collector.store.add([SpanData(0xB2, 1, 0, 1, "<img src=x onerror=alert(1)>",
                                  NOW - 1_000_000, 10, process=hostile,
                                  tags={"error": True})])
    status, page, headers = get(collector.base, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "<script>" not in page and "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    # newest first, each linking to its page
    assert page.index("/trace/" + "b2".zfill(32)) < page.index(
        "/trace/" + "a1".zfill(32))
    status, page, headers = get(collector.base, "/trace/" + "a1".zfill(32))
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "GET /orders" in page and "check stock" in page
    assert "b2".zfill(32) not in page  # only that trace
    status, page, _ = get(collector.base, "/trace/" + "c3".zfill(32))
    assert status == 404 and "Trace not found" in page
    status, page, _ = get(collector.base, "/trace/<b>")
    assert status == 400 and "<b>" not in page


def test_evicted_traces_leave_the_indexes():
    with Collector(udp_port=None, otlp_port=None, query_port=0,
                   max_spans=6) as small:
        base = f"http://127.0.0.1:{small.query_port}"
        small.store.add(shop_trace(1, NOW - 3))
        small.store.add([SpanData(2, 1, 0, 1, "solo", NOW - 2, 1,
                                  process=Process("lonely"))])
        _, answer, _ = get(base, "/api/services")
        assert answer["data"] == ["lonely", "shop", "stock service/eu"]
        small.store.add(shop_trace(3, NOW - 1))  # evicts trace 1
        small.store.add(shop_trace(4, NOW))  # evicts trace 2
        assert small.store.dropped == 4
        _, answer, _ = get(base, "/api/services")
        assert answer["data"] == ["shop", "stock service/eu"]
        assert search_at(base, service="shop") == [4, 3]
        assert search_at(base, service="lonely") == []
        _, answer, _ = get(base, "/api/services/lonely/operations")
        assert answer["data"] == []


@pytest.mark.slow  # five threads and 3,000 traces: a stress test
def test_stable_under_concurrent_queries_while_spans_arrive(collector):
    """Queries from four threads while a fifth adds traces: every answer is
    whole (each trace's three spans, one trace id), nothing fails."""
    stop = threading.Event()
    problems = []

    def add():
        number = 1
        while not stop.is_set() and number < 3000:
            collector.store.add(shop_trace(number, NOW - 1_000_000 + number))
            number += 1

    def query():
        while not stop.is_set():
            try:
                _, answer, _ = get(collector.base, "/api/traces",
                                   service="shop", limit=50)
                for trace in answer["data"]:
                    ids = {s["traceID"] for s in trace["spans"]}
                    if len(trace["spans"]) != 3 or ids != {trace["traceID"]}:
                        problems.append(trace["traceID"])
                get(collector.base, "/api/services")
            except Exception as error:  # any failure is the test's finding
                problems.append(repr(error))

    threads = [threading.Thread(target=query) for _ in range(4)]
    writer = threading.Thread(target=add)
    for thread in threads + [writer]:
        thread.start()
    writer.join(timeout=60)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not problems, problems[:5]
    assert len(search(collector, service="shop", limit=0)) == len(
        collector.store.traces())


def test_spans_from_opentelemetrys_sdk_over_otlp_answer_the_api():
    """A service traced with OpenTelemetry's SDK, exporting OTLP/HTTP to the
    collector: its spans come back from the query API as Jaeger maps them."""
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import SpanKind, Status, StatusCode

    with Collector(udp_port=None, otlp_port=0, query_port=0) as collector:
        provider = TracerProvider(resource=Resource.create(
            {"service.name": "checkout", "deployment.environment": "test"}))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
            endpoint=f"http://127.0.0.1:{collector.otlp_port}/v1/traces")))
        tracer = provider.get_tracer("shop.module", "1.2")
        with tracer.start_as_current_span("POST /pay", kind=SpanKind.SERVER,
                                          attributes={"http.status_code": 500}
                                          ) as span:
            span.set_status(Status(StatusCode.ERROR, "card declined"))
            with tracer.start_as_current_span("charge", kind=SpanKind.CLIENT):
                pass
        provider.shutdown()
        base = f"http://127.0.0.1:{collector.query_port}"
        _, answer, _ = get(base, "/api/services")
        assert answer["data"] == ["checkout"]
        _, answer, _ = get(base, "/api/traces", service="checkout",
                           tag="error:true")
        (trace,) = answer["data"]
        (process,) = trace["processes"].values()
        assert process["serviceName"] == "checkout"
        assert {"key": "deployment.environment", "type": "string",
                "value": "test"} in process["tags"]
        spans = {s["operationName"]: s for s in trace["spans"]}
        server = {t["key"]: t["value"] for t in spans["POST /pay"]["tags"]}
        assert server["span.kind"] == "server"
        assert server["otel.status_code"] == "ERROR"
        assert server["otel.status_description"] == "card declined"
        assert server["otel.scope.name"] == "shop.module"
        assert spans["charge"]["references"] == [{
            "refType": "CHILD_OF", "traceID": trace["traceID"],
            "spanID": spans["POST /pay"]["spanID"]}]
        _, answer, _ = get(base, "/api/operations", service="checkout")
        assert answer["data"] == [{"name": "POST /pay", "spanKind": "server"},
                                  {"name": "charge", "spanKind": "client"}]
