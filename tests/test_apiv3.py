"""``chaostracing collect``'s Jaeger api_v3 and ``/api/dependencies``, over
real HTTP on loopback, field by field.

The facts (../shared/JAEGER-API.md, and Jaeger's ``apiv3/http_gateway.go``
and ``query_parser.go``): GET ``/api/v3/services``, ``/operations``,
``/trace-summaries``, ``/traces`` and ``/traces/{id}``; camelCase
parameters first, snake_case aliases second; answers in proto3's JSON
(64-bit integers as decimal strings), traces as OTLP/JSON in
``{"result": ...}``; errors as ``text/plain`` JSON bodies with 400 and
404. Every answer is also checked against our schema of Jaeger's api_v3
messages (tests/apiv3_schema.json) and, for traces, against OTLP's own
definitions (opentelemetry-proto).
"""
import contextlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from apiv3_check import (
    check_descriptor,
    check_schema,
    otlp_descriptor,
    parse_with,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from chaostracing._collector import Collector
from chaostracing._data.model import FOLLOWS_FROM, Process, SpanData
from chaostracing._data.otlp import decode, to_span_data
from chaostracing._data.otlpjson import traces_data
from chaostracing._data.spanquery import SpanQuery

NOW = time.time_ns() // 1000 // 1_000_000 * 1_000_000  # a whole second, µs
SHOP = Process("shop", (("host.name", "box-1"), ("pid", 42)))
STOCK = Process("stock service/eu", (("region", "eu"),))
WIDE = (0xABC << 64) | 0xA1  # a 128-bit trace id


def get(base, path, params=None):
    """(status, content type, body bytes) of a GET."""
    url = base + path + ("?" + urllib.parse.urlencode(params, doseq=True)
                         if params else "")
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return (answer.status, answer.headers["Content-Type"],
                    answer.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def get_json(base, path, params=None, status=200):
    code, kind, body = get(base, path, params)
    assert code == status, body[:300]
    assert kind == "application/json"
    return json.loads(body)


def get_error(base, path, params=None, status=400):
    """Jaeger's api_v3 error: JSON in a text/plain body ending in \\n."""
    code, kind, body = get(base, path, params)
    assert code == status, body[:300]
    assert kind == "text/plain; charset=utf-8"
    assert body.endswith(b"\n")
    document = json.loads(body)
    assert not check_schema(document, "jaeger.api_v3.GRPCGatewayError")
    assert set(document["error"]) == {"httpCode", "message"}
    assert document["error"]["httpCode"] == status
    return document["error"]["message"]


def iso(us):
    """A time as Jaeger UI writes it: ``Date.toISOString()``, ms and Z."""
    moment = datetime.fromtimestamp(us / 1e6, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{moment.microsecond // 1000:03d}Z"


def window(start=NOW - 3_600_000_000, end=NOW + 60_000_000, **more):
    """The search Jaeger UI v2.19 sends (times as ``toISOString``)."""
    params = {"query.startTimeMin": iso(start), "query.startTimeMax": iso(end)}
    params.update(more)
    return params


def shop_trace(trace_id, start, error=False, op="GET /orders"):
    """A request to the shop, which calls the stock service; the stock
    service logs a cache miss and links to another trace."""
    return [
        SpanData(trace_id, 1, 0, 1, op, start, 2_000,
                 tags={"span.kind": "server", "http.status_code":
                       503 if error else 200, "error": error},
                 process=SHOP),
        SpanData(trace_id, 2, 1, 1, "check stock", start + 10, 1_000,
                 tags={"span.kind": "client", "otel.scope.name": "requests",
                       "otel.scope.version": "2.31"}, process=SHOP),
        SpanData(trace_id, 3, 2, 1, "GET /stock", start + 20, 600,
                 tags={"span.kind": "server", "ratio": 0.25,
                       "raw": b"\x00\xff", "otel.status_code": "OK"},
                 logs=[(start + 25, {"event": "cache", "hit": False})],
                 process=STOCK, references=[(FOLLOWS_FROM, WIDE, 9)]),
        SpanData(trace_id, 4, 3, 1, "lookup", start + 30, 100,
                 process=STOCK),  # no kind: internal
    ]


@contextlib.contextmanager
def collected(*traces):
    """A collector answering on a free port (``.base``), holding
    ``traces`` (lists of spans)."""
    with Collector(udp_port=None, otlp_port=None, query_port=0,
                   max_spans=100_000) as running:
        running.base = f"http://127.0.0.1:{running.query_port}"
        for spans in traces:
            running.store.add(spans)
        yield running


def shop_traces():
    """Two shop traces a minute apart (the later one failed) and an
    unrelated one of another service."""
    return [shop_trace(0xA1, NOW - 120_000_000),
            shop_trace(0xB2, NOW - 60_000_000, error=True, op="POST /orders"),
            [SpanData(WIDE, 9, 0, 1, "nightly", NOW - 1_000_000, 50,
                      process=Process("batch"))]]


@pytest.fixture
def collector():
    with collected() as running:
        yield running


@pytest.fixture
def shop():
    with collected(*shop_traces()) as running:
        yield running


# -- services and operations --------------------------------------------------
def test_services_are_listed_by_name(shop):
    answer = get_json(shop.base, "/api/v3/services")
    assert answer == {"services": ["batch", "shop", "stock service/eu"]}
    assert not check_schema(answer, "jaeger.api_v3.GetServicesResponse")


def test_no_service_is_an_empty_list_not_a_missing_field(collector):
    # the UI's zod schema requires the list
    assert get_json(collector.base, "/api/v3/services") == {"services": []}


def test_operations_have_their_span_kind(shop):
    answer = get_json(shop.base, "/api/v3/operations",
                      {"service": "stock service/eu"})
    assert answer == {"operations": [
        {"name": "GET /stock", "spanKind": "server"},
        {"name": "lookup", "spanKind": "internal"},  # none: internal
    ]}
    assert not check_schema(answer, "jaeger.api_v3.GetOperationsResponse")
    answer = get_json(shop.base, "/api/v3/operations", {"service": "shop"})
    assert [o["name"] for o in answer["operations"]] == [
        "GET /orders", "POST /orders", "check stock"]


@pytest.mark.parametrize("name", ["spanKind", "span_kind"])
def test_operations_of_one_kind(shop, name):
    answer = get_json(shop.base, "/api/v3/operations",
                      {"service": "shop", name: "client"})
    assert answer == {"operations": [{"name": "check stock",
                                      "spanKind": "client"}]}
    # the kind they are shown with finds those without one
    answer = get_json(shop.base, "/api/v3/operations",
                      {"service": "stock service/eu", name: "internal"})
    assert answer == {"operations": [{"name": "lookup",
                                      "spanKind": "internal"}]}


def test_operations_of_an_unknown_or_no_service_are_none(shop):
    for params in ({"service": "nobody"}, None):
        assert get_json(shop.base, "/api/v3/operations", params) == {
            "operations": []}


# -- trace summaries ----------------------------------------------------------
def test_a_summary_field_by_field(shop):
    # the query Jaeger UI v2.19 sends: service, window (ISO, ms, Z), depth
    answer = get_json(shop.base, "/api/v3/trace-summaries", window(
        **{"query.serviceName": "shop", "query.searchDepth": "20"}))
    assert not check_schema(answer, "jaeger.api_v3.FindTraceSummariesResponse")
    later, earlier = answer["summaries"]  # newest first
    start = NOW - 120_000_000
    assert earlier == {
        "traceId": "a1".zfill(32),  # always 32 digits, as the UI requires
        "rootServiceName": "shop",
        "rootOperationName": "GET /orders",
        "minStartTimeUnixNano": str(start * 1000),
        "maxEndTimeUnixNano": str((start + 2_000) * 1000),
        "spanCount": 4,
        "errorSpanCount": 0,
        "orphanSpanCount": 0,
        "services": [
            {"name": "shop", "spanCount": 2, "errorSpanCount": 0},
            {"name": "stock service/eu", "spanCount": 2,
             "errorSpanCount": 0},
        ],
    }
    assert later["traceId"] == "b2".zfill(32)
    assert later["rootOperationName"] == "POST /orders"
    assert later["errorSpanCount"] == 1
    assert later["services"][0] == {"name": "shop", "spanCount": 2,
                                    "errorSpanCount": 1}


def test_the_search_filters_as_jaegers_does(shop):
    def found(**params):
        answer = get_json(shop.base, "/api/v3/trace-summaries",
                          window(**params))
        return [s["traceId"][-2:] for s in answer["summaries"]]

    shop_ = {"query.serviceName": "shop"}
    assert found(**shop_) == ["b2", "a1"]
    assert found(**shop_, **{"query.searchDepth": "1"}) == ["b2"]
    assert found(**shop_, **{"query.operationName": "GET /orders"}) == ["a1"]
    assert found(**shop_, **{"query.operationName": "nothing"}) == []
    # attributes: a JSON object of strings, as the UI sends the tags field;
    # span tags, process tags and log fields, with their text
    for attributes, expected in (
            ({"http.status_code": "503"}, ["b2"]),
            ({"error": "true"}, ["b2"]),
            ({"host.name": "box-1"}, ["b2", "a1"]),
            ({"host.name": "box-1", "error": "false"}, ["a1"]),
            ({"host.name": "box-2"}, [])):
        assert found(**shop_, **{"query.attributes": json.dumps(
            attributes)}) == expected, attributes
    stock = {"query.serviceName": "stock service/eu"}
    assert found(**stock, **{"query.attributes": '{"hit":"false"}'}) == [
        "b2", "a1"]
    # durations: Go's, bounds included
    assert found(**shop_, **{"query.durationMin": "2ms"}) == ["b2", "a1"]
    assert found(**shop_, **{"query.durationMin": "2.001ms"}) == []
    assert found(**stock, **{"query.durationMax": "100us"}) == ["b2", "a1"]
    assert found(**stock, **{"query.durationMin": "0.5ms",
                             "query.durationMax": "700µs"}) == ["b2", "a1"]
    assert found(**stock, **{"query.durationMin": "601us",
                             "query.durationMax": "999us"}) == []
    # no service: every service's traces
    assert found() == [WIDE.to_bytes(16, "big").hex()[-2:], "b2", "a1"]


def test_the_window_holds_its_start_not_its_end(shop):
    start = NOW - 120_000_000  # a1's first span

    def found(low, high):
        answer = get_json(shop.base, "/api/v3/trace-summaries", {
            "query.serviceName": "shop", "query.startTimeMin": low,
            "query.startTimeMax": high})
        return [s["traceId"][-2:] for s in answer["summaries"]]

    exact = datetime.fromtimestamp(start / 1e6, tz=timezone.utc)
    at = exact.strftime("%Y-%m-%dT%H:%M:%SZ")
    after = exact.strftime("%Y-%m-%dT%H:%M:%S.000000001Z")
    soon = iso(start + 1_000)
    assert found(at, soon) == ["a1"]  # [min, ...
    assert found(after, soon) == ["a1"]  # by its child, at +10 µs
    assert found(iso(start - 1_000_000), at) == []  # ..., max)
    # the same instant in another zone
    zoned = exact.astimezone(timezone(timedelta(hours=2, minutes=30)))
    assert found(zoned.strftime("%Y-%m-%dT%H:%M:%S+02:30"), soon) == ["a1"]
    # read as 5 hours later: nothing
    later = iso(NOW + 6 * 3_600_000_000)
    assert found(zoned.strftime("%Y-%m-%dT%H:%M:%S-02:30"), later) == []


def test_the_snake_case_names_jaeger_still_reads(shop):
    camel = get_json(shop.base, "/api/v3/trace-summaries", window(**{
        "query.serviceName": "shop", "query.operationName": "GET /orders",
        "query.durationMin": "1ms", "query.durationMax": "1s",
        "query.searchDepth": "5", "query.rawTraces": "true"}))
    snake = get_json(shop.base, "/api/v3/trace-summaries", {
        "query.start_time_min": iso(NOW - 3_600_000_000),
        "query.start_time_max": iso(NOW + 60_000_000),
        "query.service_name": "shop", "query.operation_name": "GET /orders",
        "query.duration_min": "1ms", "query.duration_max": "1s",
        "query.num_traces": "5", "query.raw_traces": "true"})
    assert camel == snake and len(camel["summaries"]) == 1


def test_a_search_that_finds_nothing_is_an_empty_list(shop):
    answer = get_json(shop.base, "/api/v3/trace-summaries",
                      window(**{"query.serviceName": "nobody"}))
    assert answer == {"summaries": []}


@pytest.mark.parametrize("params, message", [
    ({}, "query.startTimeMin and query.startTimeMax are required"),
    ({"query.startTimeMin": "2026-01-01T00:00:00Z"},
     "query.startTimeMin and query.startTimeMax are required"),
    (window(**{"query.startTimeMin": "yesterday"}),
     "malformed parameter query.startTimeMin: parsing time \"yesterday\""),
    (window(**{"query.startTimeMax": "2026-02-30T00:00:00Z"}),
     "malformed parameter query.startTimeMax: "),
    (window(**{"query.startTimeMax": "2026-01-01 00:00:00Z"}),
     "malformed parameter query.startTimeMax: "),
    ({"query.start_time_min": "x", "query.startTimeMax": iso(NOW)},
     "malformed parameter query.start_time_min: "),
    (window(start=NOW, end=NOW),
     "query.startTimeMin must be before query.startTimeMax"),
    (window(**{"query.searchDepth": "ten"}),
     "malformed parameter query.searchDepth: strconv.Atoi: parsing \"ten\": "
     "invalid syntax"),
    (window(**{"query.num_traces": "1.5"}),
     "malformed parameter query.num_traces: "),
    # past int()'s 4300 digits: it raised outside the 400s (a 500)
    (window(**{"query.searchDepth": "1" * 5000}),
     "malformed parameter query.searchDepth: strconv.Atoi: parsing \"111"),
    (window(**{"query.searchDepth": "99999999999999999999"}),
     "malformed parameter query.searchDepth: strconv.Atoi: parsing "
     "\"99999999999999999999\": value out of range"),
    # \d matched any Unicode digit; Go reads only 0-9
    (window(**{"query.searchDepth": "\u0663"}),
     "malformed parameter query.searchDepth: strconv.Atoi: parsing "),
    (window(**{"query.startTimeMin":
               "\u0662\u0660\u0662\u0666-01-01T00:00:00Z"}),
     "malformed parameter query.startTimeMin: parsing time "),
    (window(**{"query.searchDepth": "0"}),
     "malformed parameter query.searchDepth: search depth must be greater "
     "than 0"),
    (window(**{"query.durationMin": "5 minutes"}),
     "malformed parameter query.durationMin: "),
    (window(**{"query.duration_max": "1x"}),
     "malformed parameter query.duration_max: "),
    (window(**{"query.attributes": "error=true"}),
     "malformed parameter query.attributes: "),
    (window(**{"query.attributes": '{"http.status_code":503}'}),
     "malformed parameter query.attributes: "),
    (window(**{"query.rawTraces": "yes"}),
     "malformed parameter query.rawTraces: strconv.ParseBool: parsing "
     "\"yes\": invalid syntax"),
    (window(**{"query.filter": '{"op":"eq"}'}),
     "malformed parameter query.filter: "),
])
@pytest.mark.parametrize("path", ["/api/v3/trace-summaries",
                                  "/api/v3/traces"])
def test_malformed_search_parameters_get_jaegers_400(shop, path, params,
                                                     message):
    assert get_error(shop.base, path, params).startswith(message)


def test_leading_zeros_are_read_as_go_reads_them(shop):
    # Go's strconv reads any number of leading zeros; int() refuses more
    # than 4300 digits, zeros included (a 500 when it was called on them)
    one = "0" * 5000 + "1"
    answer = get_json(shop.base, "/api/v3/trace-summaries",
                      window(**{"query.searchDepth": one}))
    assert len(answer["summaries"]) == 1
    answer = get_json(shop.base, "/api/dependencies", {"endTs": one})
    assert answer["errors"] is None and answer["data"] == []


# -- traces, as OTLP/JSON -----------------------------------------------------
def test_a_trace_as_otlp_json_field_by_field(shop):
    answer = get_json(shop.base, "/api/v3/traces/" + "a1".zfill(32))
    assert not check_schema(answer, "jaeger.api_v3.GRPCGatewayWrapper")
    assert set(answer) == {"result"}
    assert set(answer["result"]) == {"resourceSpans"}
    shop_rs, stock_rs = answer["result"]["resourceSpans"]
    assert shop_rs["resource"] == {"attributes": [
        {"key": "service.name", "value": {"stringValue": "shop"}},
        {"key": "host.name", "value": {"stringValue": "box-1"}},
        {"key": "pid", "value": {"intValue": "42"}},  # int64: a string
    ]}
    # one scope block per instrumentation scope, the unnamed one empty
    assert [s["scope"] for s in shop_rs["scopeSpans"]] == [
        {}, {"name": "requests", "version": "2.31"}]
    start = NOW - 120_000_000
    (root,) = shop_rs["scopeSpans"][0]["spans"]
    assert root == {
        "traceId": "a1".zfill(32),
        "spanId": "0000000000000001",
        "name": "GET /orders",
        "kind": 2,  # SPAN_KIND_SERVER, as a number
        "startTimeUnixNano": str(start * 1000),
        "endTimeUnixNano": str((start + 2_000) * 1000),
        "attributes": [
            {"key": "http.status_code", "value": {"intValue": "200"}},
            {"key": "error", "value": {"boolValue": False}},
        ],
        "status": {},
    }
    (client,) = shop_rs["scopeSpans"][1]["spans"]
    assert client["parentSpanId"] == "0000000000000001"
    assert client["kind"] == 3 and "attributes" not in client
    stock_server, lookup = stock_rs["scopeSpans"][0]["spans"]
    assert stock_server == {
        "traceId": "a1".zfill(32),
        "spanId": "0000000000000003",
        "parentSpanId": "0000000000000002",
        "name": "GET /stock",
        "kind": 2,
        "startTimeUnixNano": str((start + 20) * 1000),
        "endTimeUnixNano": str((start + 620) * 1000),
        "attributes": [
            {"key": "ratio", "value": {"doubleValue": 0.25}},
            {"key": "raw", "value": {"bytesValue": "AP8="}},
        ],
        "events": [{"timeUnixNano": str((start + 25) * 1000), "name": "cache",
                    "attributes": [{"key": "hit",
                                    "value": {"boolValue": False}}]}],
        "links": [{"traceId": format(WIDE, "032x"),
                   "spanId": "0000000000000009"}],
        "status": {"code": 1},  # otel.status_code OK
    }
    assert "kind" not in lookup  # unspecified: left out, as zero values


def test_a_failed_span_has_status_error(shop):
    answer = get_json(shop.base, "/api/v3/traces/b2")
    root = answer["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert root["status"] == {"code": 2}
    assert {"key": "error", "value": {"boolValue": True}} \
        not in root["attributes"]  # the status says it


@pytest.mark.parametrize("text", [
    "a1", "00000000000000a1", "a1".zfill(32), "A1",
    "AAAAAAAAAKE=", "AAAAAAAAAKE",  # base64 of 8 bytes, padded or not
    "AAAAAAAAAAAAAAAAAAAAoQ==", "AAAAAAAAAAAAAAAAAAAAoQ",  # of 16 bytes
])
def test_a_trace_id_in_any_form_jaeger_reads(shop, text):
    answer = get_json(shop.base, "/api/v3/traces/" + text)
    spans = [span for rs in answer["result"]["resourceSpans"]
             for ss in rs["scopeSpans"] for span in ss["spans"]]
    assert {span["traceId"] for span in spans} == {"a1".zfill(32)}
    assert len(spans) == 4


def test_a_wide_trace_id_in_url_safe_base64(shop):
    text = "AAAAAAAACrwAAAAAAAAAoQ"  # 00..0abc 00..0a1, - and _ free
    answer = get_json(shop.base, "/api/v3/traces/" + text)
    (rs,) = answer["result"]["resourceSpans"]
    assert rs["scopeSpans"][0]["spans"][0]["traceId"] == format(WIDE, "032x")


def test_unknown_and_malformed_trace_ids(shop):
    assert get_error(shop.base, "/api/v3/traces/c3", status=404) == \
        "No traces found"
    assert get_error(shop.base, "/api/v3/traces/not-hex!").startswith(
        "malformed parameter trace_id: ")
    assert get_error(shop.base, "/api/v3/traces/" + "1" * 33).startswith(
        "malformed parameter trace_id: TraceID cannot be longer than 32 hex")
    for params, name in (({"startTime": "now"}, "startTime"),
                         ({"end_time": "now"}, "end_time"),
                         ({"rawTraces": "2"}, "rawTraces")):
        assert get_error(shop.base, "/api/v3/traces/a1", params).startswith(
            f"malformed parameter {name}: ")
    answer = get_json(shop.base, "/api/v3/traces/a1", {
        "startTime": iso(NOW), "endTime": "2026-01-01T00:00:00.5+01:00",
        "rawTraces": "true"})
    assert answer["result"]["resourceSpans"]


def test_a_trace_search_merges_the_traces_and_404s_when_none(shop):
    answer = get_json(shop.base, "/api/v3/traces",
                      window(**{"query.serviceName": "shop"}))
    assert not check_schema(answer, "jaeger.api_v3.GRPCGatewayWrapper")
    ids = [span["traceId"][-2:] for rs in answer["result"]["resourceSpans"]
           for ss in rs["scopeSpans"] for span in ss["spans"]]
    assert ids == ["b2"] * 4 + ["a1"] * 4  # newest trace first
    assert get_error(shop.base, "/api/v3/traces", window(**{
        "query.serviceName": "nobody"}), status=404) == "No traces found"


def test_the_traces_answer_is_otlp_by_opentelemetrys_own_definitions(shop):
    from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

    answer = get_json(shop.base, "/api/v3/traces",
                      window(**{"query.serviceName": "shop"}))
    descriptor = otlp_descriptor("opentelemetry.proto.trace.v1.TracesData")
    assert not check_descriptor(answer["result"], descriptor)
    parsed = parse_with(TracesData, answer["result"])  # refuses unknown keys
    assert len(parsed.resource_spans) == 4
    # and our own OTLP decoder reads it back
    body = json.dumps(answer["result"]).encode()
    spans = to_span_data(decode(body, "application/json"))
    assert sorted((s.trace_id, s.span_id) for s in spans) == sorted(
        (s.trace_id, s.span_id) for s in shop.store.spans()
        if s.service_name != "batch")


def test_a_large_trace_search_is_written_in_pieces():
    # each piece is written when the last was sent: concurrent searches
    # hold a piece each, not their whole answer
    from chaostracing._collector import apiv3
    from chaostracing._collector.store import SpanStore

    store = SpanStore()
    for number in range(1, 41):
        spans = shop_trace(number, NOW - number * 1_000_000)
        spans[0].tags["payload"] = "x" * 20_000
        store.add(spans)
    params = window(**{"query.serviceName": "shop"})
    status, kind, body = apiv3.find_traces(
        store, {name: [value] for name, value in params.items()})
    assert (status, kind) == (200, "application/json")
    pieces = list(body)
    assert len(pieces) == 4  # 40 traces of 20 kB, pieces of 256 KiB
    assert all(len(piece) < 2 * apiv3.PIECE for piece in pieces)
    document = json.loads(b"".join(pieces))
    found = store.find(SpanQuery("shop"), 100)
    assert document == {"result": traces_data(found)}


def test_paths_jaegers_gateway_does_not_serve(shop):
    for path in ("/api/v3/dependencies", "/api/v3/", "/api/v3/traces/a1/x"):
        assert get(shop.base, path) == (404, "text/plain; charset=utf-8",
                                        b"404 page not found\n")


# -- the OTLP/JSON writer: read back by our decoder ---------------------------
def round_trip(spans):
    body = json.dumps(traces_data([(spans[0].trace_id, spans)])).encode()
    return {s.span_id: s for s in to_span_data(decode(body,
                                                      "application/json"))}


def test_every_span_comes_back_from_otlp_json_as_it_went():
    spans = shop_trace(0xA1, NOW)
    back = round_trip(spans)
    for span in spans:
        again = back[span.span_id]
        assert (again.trace_id, again.parent_id, again.operation_name,
                again.start_us, again.duration_us, again.logs) == (
            span.trace_id, span.parent_id, span.operation_name,
            span.start_us, span.duration_us, span.logs)
        assert again.process.service_name == span.process.service_name
        assert sorted(again.process.tags) == sorted(span.process.tags)
        assert again.tags == span.tags, span.operation_name
        assert again.references == span.references


def test_what_changes_on_the_way_through_otlp():
    spans = [SpanData(5, 1, 0, 1, "op", NOW, 10,
                      tags={"error": True, "span.kind": "rpc",
                            "nested": "[1]"},
                      references=[(0, 6, 2)],
                      logs=[(NOW, {"no": "name"})])]
    (again,) = round_trip(spans).values()
    # error=true is status ERROR, read back with otel.status_code; an
    # unknown kind stays a tag; any other reference is a link
    assert again.tags == {"error": True, "otel.status_code": "ERROR",
                          "span.kind": "rpc", "nested": "[1]"}
    assert again.references == [(FOLLOWS_FROM, 6, 2)]
    assert again.logs == [(NOW, {"no": "name"})]  # no event: no name


span_tags = st.dictionaries(
    st.text(max_size=8).filter(lambda k: k not in (
        "span.kind", "error", "otel.status_code", "otel.status_description",
        "otel.scope.name", "otel.scope.version")),
    st.booleans() | st.integers(-(1 << 63), (1 << 63) - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text()
    | st.binary(max_size=8), max_size=4)


@pytest.mark.slow  # hundreds of generated examples: seconds
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(
    st.integers(1, (1 << 64) - 1), st.integers(0, (1 << 64) - 1),
    st.text(max_size=8), st.integers(0, 1 << 50), st.integers(0, 1 << 30),
    span_tags, st.lists(st.tuples(st.integers(0, 1 << 50), span_tags),
                        max_size=2),
    st.sampled_from(["a", "b", "\u00e9\u2028<"])), min_size=1, max_size=5,
    unique_by=lambda row: row[0]))
def test_any_span_comes_back_from_otlp_json(rows):
    spans = [SpanData(7, span_id, parent, 1, name, start, duration,
                      tags=tags, logs=logs, process=Process(service))
             for span_id, parent, name, start, duration, tags, logs, service
             in rows]
    back = round_trip(spans)
    assert len(back) == len(spans)
    for span in spans:
        again = back[span.span_id]
        assert (again.parent_id, again.operation_name, again.start_us,
                again.duration_us, again.tags, again.logs,
                again.service_name) == (
            span.parent_id, span.operation_name, span.start_us,
            span.duration_us, span.tags, span.logs, span.service_name)


# -- /api/dependencies --------------------------------------------------------
def test_dependencies_in_jaegers_v1_envelope(shop):
    answer = get_json(shop.base, "/api/dependencies", {
        "endTs": str(NOW // 1000 + 1000), "lookback": str(3_600_000)})
    assert answer == {
        "data": [{"parent": "shop", "child": "stock service/eu",
                  "callCount": 2}],  # a number; shop → shop is no edge
        "total": 0, "limit": 0, "offset": 0, "errors": None}


def test_dependencies_look_back_from_the_end(shop):
    def calls(end_ms, lookback_ms=None, **more):
        params = {"endTs": str(end_ms), **more}
        if lookback_ms is not None:
            params["lookback"] = str(lookback_ms)
        data = get_json(shop.base, "/api/dependencies", params)["data"]
        return sum(edge["callCount"] for edge in data)

    now_ms = NOW // 1000
    assert calls(now_ms) == 2  # a day by default
    assert calls(now_ms, 90_000) == 1  # b2 only, a minute ago
    assert calls(now_ms - 90_000, 60_000) == 1  # a1 only
    assert calls(now_ms - 200_000, 60_000) == 0
    assert calls(now_ms, service="stock service/eu") == 2
    assert calls(now_ms, service="batch") == 0
    answer = get_json(shop.base, "/api/dependencies")  # endTs: now
    assert answer["data"][0]["callCount"] == 2


def test_bad_dependency_parameters_get_jaegers_400(shop):
    for name in ("endTs", "lookback"):
        answer = get_json(shop.base, "/api/dependencies", {name: "1h"},
                          status=400)
        assert answer["data"] is None
        assert answer["errors"] == [{
            "code": 400, "msg": f"unable to parse param '{name}': "
            "strconv.ParseInt: parsing \"1h\": invalid syntax"}]
    for value, problem in (("1" * 5000, "value out of range"),
                           ("\u0663", "invalid syntax")):
        answer = get_json(shop.base, "/api/dependencies", {"endTs": value},
                          status=400)
        assert answer["data"] is None
        (error,) = answer["errors"]
        assert error["code"] == 400 and error["msg"].startswith(
            "unable to parse param 'endTs': strconv.ParseInt: parsing ")
        assert error["msg"].endswith(problem)


def _until(condition, timeout=30.0):
    """Wait for ``condition()`` (a hang guard, not a timing)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the hang guard"
        time.sleep(0.01)


def test_a_span_whose_times_are_out_of_range_costs_only_itself():
    # a Jaeger Thrift span carries any signed 64-bit time: one before
    # 1970 or past OTLP's unsigned 64-bit nanoseconds used to make the
    # whole api_v3 answer unreadable ("startTimeUnixNano": "-5000")
    import socket

    from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

    from chaostracing._jaeger.thrift import (
        encode_process,
        encode_span,
        pack_datagrams,
    )

    udp = Process("udp")
    good = SpanData(0xC3, 1, 0, 1, "good", NOW - 1_000_000, 50, process=udp)
    bad = [good.replace(span_id=2, start_us=-5),
           good.replace(span_id=3, start_us=1 << 62),
           good.replace(span_id=4, duration_us=-1),
           good.replace(span_id=5, logs=[(-1, {"event": "x"})])]
    ((datagram, count),) = pack_datagrams(
        encode_process(udp), [encode_span(s) for s in [good] + bad])
    assert count == 5
    with Collector(udp_port=0, otlp_port=None, query_port=0) as running:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(datagram, ("127.0.0.1", running.udp_port))
        _until(lambda: running.agent.handled >= 1)
        assert running.agent.malformed == 0  # the datagram was read
        assert [s.span_id for s in running.store.spans()] == [1]
        assert running.store.malformed == 4
        assert "4 span(s) refused (a time before 1970" in running.summary()
        base = f"http://127.0.0.1:{running.query_port}"
        answer = get_json(base, "/api/v3/traces",
                          window(**{"query.serviceName": "udp"}))
        parsed = parse_with(TracesData, answer["result"])
        (resource,) = parsed.resource_spans
        assert [s.name for s in resource.scope_spans[0].spans] == ["good"]
        summaries = get_json(base, "/api/v3/trace-summaries",
                             window(**{"query.serviceName": "udp"}))
        assert not check_schema(summaries,
                                "jaeger.api_v3.FindTraceSummariesResponse")
        (summary,) = summaries["summaries"]
        assert summary["minStartTimeUnixNano"] == str(good.start_us * 1000)


def test_the_writers_never_write_a_time_out_of_unsigned_64_bits():
    # a reader other than the collector's store may hold such spans (the
    # Jaeger JSON reader takes up to 2**62 µs): clamped, never refused
    from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

    from chaostracing._data.model import MAX_TIME_US
    from chaostracing._data.summary import summarize

    spans = [SpanData(0xD4, 1, 0, 1, "early", -5, 10,
                      logs=[(-7, {"event": "before"})]),
             SpanData(0xD4, 2, 1, 1, "late", 1 << 62, 10,
                      logs=[(1 << 62, {"event": "after"})])]
    document = traces_data([(0xD4, spans)])
    parsed = parse_with(TracesData, document)  # refuses a negative, or 2**64
    times = [(s.start_time_unix_nano, s.end_time_unix_nano,
              s.events[0].time_unix_nano)
             for s in parsed.resource_spans[0].scope_spans[0].spans]
    assert times == [(0, 5000, 0), (MAX_TIME_US * 1000,) * 3]
    entry = summarize(spans).api_v3()
    assert entry["minStartTimeUnixNano"] == "0"
    assert entry["maxEndTimeUnixNano"] == str(MAX_TIME_US * 1000)
