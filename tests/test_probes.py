"""``chaostracing.probes`` against real query services on loopback: the
collector's API, and canned servers answering as a Jaeger would (its 64-bit
trace ids, its error bodies) or as a broken one would."""
import base64
import inspect
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from chaoslib.exceptions import ActivityFailed

from chaostracing import probes
from chaostracing._collector import Collector
from chaostracing._data.model import Process, SpanData
from chaostracing._probes import arguments, counting, query


def now_us():
    """Now: the probes' window ends now, so spans are made at test time."""
    return time.time_ns() // 1000
SHOP = Process("shop")


def server_span(number, duration_ms, start=None, tags=(), op="GET /orders",
                process=SHOP):
    tags = dict({"span.kind": "server"}, **dict(tags))
    return SpanData(number, 1, 0, 1, op, now_us() - 1_000_000 if start is None
                    else start, int(duration_ms * 1000), tags=tags,
                    process=process)


@pytest.fixture
def collector():
    with Collector(udp_port=None, otlp_port=None, query_port=0) as running:
        running.url = f"http://127.0.0.1:{running.query_port}"
        yield running


@pytest.fixture
def shop(collector):
    """20 requests served by the shop in the last seconds, 1 to 20 ms long,
    four of them failed, each in its own way; and spans that must not
    count: the shop's client spans, another service's, older ones."""
    spans = []
    now = now_us()
    failures = {3: {"error": True}, 7: {"otel.status_code": "ERROR"},
                11: {"http.status_code": 503},
                15: {"http.response.status_code": "502"}}
    for number in range(1, 21):
        tags = dict(failures.get(number, {"http.status_code": 200}))
        spans.append(server_span(number, number, tags=tags))
        spans.append(SpanData(number, 2, 1, 1, "call stock", now - 900_000,
                              50_000, tags={"span.kind": "client",
                                            "error": True}, process=SHOP))
        spans.append(SpanData(number, 3, 2, 1, "GET /stock", now - 800_000,
                              90_000, tags={"span.kind": "server",
                                            "error": True},
                              process=Process("stock")))
    # 404s are not failures of the server; old spans are out of the window
    spans.append(server_span(21, 1, tags={"http.status_code": 404},
                             op="GET /missing"))
    for number in range(30, 40):
        spans.append(server_span(number, 500, start=now - 600_000_000,
                                 tags={"error": True}))
    collector.store.add(spans)
    return collector


def test_error_ratio_counts_every_way_a_span_fails(shop):
    ratio = probes.span_error_ratio("shop", window=60, query_url=shop.url)
    assert ratio == pytest.approx(4 / 21)
    assert probes.span_error_ratio("shop", operation="GET /orders",
                                   query_url=shop.url) == pytest.approx(4 / 20)
    assert probes.span_error_ratio("shop", operation="GET /missing",
                                   query_url=shop.url) == 0.0
    # the older failures count when the window reaches them
    assert probes.span_error_ratio("shop", window=3600, query_url=shop.url) \
        == pytest.approx(14 / 31)
    # client spans: kind="client"; every span: kind=None
    assert probes.span_error_ratio("shop", kind="client",
                                   query_url=shop.url) == 1.0
    assert probes.span_count("shop", kind=None, query_url=shop.url) == 41


def test_latency_percentile_is_the_nearest_rank_in_ms(shop):
    def p(rank, **extra):
        return probes.span_latency_percentile(
            "shop", operation="GET /orders", percentile=rank,
            query_url=shop.url, **extra)

    assert p(95) == 19.0
    assert p(50) == 10.0
    assert p(100) == 20.0
    assert p(1) == 1.0
    assert p("95") == 19.0  # a ${...} substitution gives text
    assert p(99.9, window=3600) == 500.0


def test_count_with_tags_and_errors_only(shop):
    url = shop.url
    assert probes.span_count("shop", query_url=url) == 21
    assert probes.span_count("shop", errors_only=True, query_url=url) == 4
    assert probes.span_count("shop", tags={"http.status_code": 503},
                             query_url=url) == 1
    assert probes.span_count("shop", tags={"error": True}, query_url=url) == 1
    assert probes.span_count("stock", query_url=url) == 20
    assert probes.span_count("nobody", query_url=url) == 0


def test_no_data_is_not_health(shop):
    with pytest.raises(ActivityFailed) as caught:
        probes.span_error_ratio("nobody", operation="GET /x", window=30,
                                query_url=shop.url)
    message = str(caught.value)
    assert "no data is not health" in message
    for part in ("'nobody'", "'GET /x'", "30 s", shop.url, "min_spans=1"):
        assert part in message
    with pytest.raises(ActivityFailed, match="0 span"):
        probes.span_latency_percentile("nobody", query_url=shop.url)
    with pytest.raises(ActivityFailed, match="21 span.*min_spans=50"):
        probes.span_error_ratio("shop", min_spans=50, query_url=shop.url)
    # asked for explicitly, no data is a figure
    assert probes.span_error_ratio("nobody", min_spans=0,
                                   query_url=shop.url) == 0.0


def test_an_unreachable_query_service_fails_naming_its_url():
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://bob:pa55word@127.0.0.1:{port}"
    with pytest.raises(ActivityFailed) as caught:
        probes.span_count("shop", query_url=url)
    message = str(caught.value)
    assert f"cannot reach the trace query service at http://127.0.0.1:{port}" \
        f"/api/traces" in message
    assert "pa55word" not in message and "bob" not in message


class Canned(BaseHTTPRequestHandler):
    """Answers what the test put in ``server.answer``, records requests."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append((self.path, dict(self.headers)))
        status, content_type, body = self.server.answer
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def canned():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Canned)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,),
                              daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def jaeger_answer(spans):
    """A search answer as Jaeger 1.x writes it: 64-bit ids in 16 digits,
    typed tags, processes by id."""
    now = now_us()
    return {"data": [{
        "traceID": "00000000000000a1",
        "spans": [{
            "traceID": "00000000000000a1", "spanID": f"{i:016x}",
            "operationName": "HTTP GET /api", "references": [],
            "startTime": now - 1_000_000 + i, "duration": duration_us,
            "tags": [{"key": "span.kind", "type": "string", "value": "server"},
                     {"key": "error", "type": "bool", "value": error},
                     {"key": "internal.span.format", "type": "string",
                      "value": "otlp"}],
            "logs": [], "processID": "p1", "warnings": None, "flags": 1}
            for i, (duration_us, error) in enumerate(spans, 1)],
        "processes": {"p1": {"serviceName": "api", "tags": [
            {"key": "hostname", "type": "string", "value": "api-7d9"}]}},
        "warnings": None}], "total": 0, "limit": 0, "offset": 0, "errors": None}


def test_jaegers_own_answers_are_read(canned):
    canned.answer = (200, "application/json", json.dumps(jaeger_answer(
        [(1000, False), (2000, True), (3000, False), (4000, False)])).encode())
    assert probes.span_error_ratio("api", query_url=canned.url) == 0.25
    assert probes.span_latency_percentile("api", percentile=50,
                                          query_url=canned.url) == 2.0
    path, headers = canned.requests[0]
    assert path.startswith("/api/traces?")
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(path).query)
    assert query["service"] == ["api"]
    assert json.loads(query["tags"][0]) == {"span.kind": "server"}
    limit = inspect.signature(probes.span_error_ratio).parameters["limit"]
    assert query["limit"] == [str(limit.default)]
    end, start = int(query["end"][0]), int(query["start"][0])
    assert end - start == 60_000_000 and abs(end - now_us()) < 120_000_000
    assert headers["Accept"] == "application/json"


def test_credentials_in_the_url_are_basic_authentication(canned):
    canned.answer = (200, "application/json", json.dumps(jaeger_answer(
        [(1000, False)])).encode())
    url = canned.url.replace("http://", "http://reader:s%40cret@")
    assert probes.span_count("api", query_url=url) == 1
    _, headers = canned.requests[0]
    assert headers["Authorization"] == "Basic " + base64.b64encode(
        b"reader:s@cret").decode()


@pytest.mark.parametrize("answer, expected", [
    ((400, "application/json", json.dumps({
        "data": None, "total": 0, "limit": 0, "offset": 0,
        "errors": [{"code": 400, "msg": "parameter 'service' is required"}]
    }).encode()), "answered HTTP 400: parameter 'service' is required"),
    ((502, "text/html", b"<h1>Bad gateway</h1>"), "answered HTTP 502$"),
    ((200, "text/html", b"<html>a login page</html>"), "did not answer JSON"),
    ((200, "application/json", b'{"data": [{"traceID": "zz", "spans": '
      b'[{"traceID": "zz", "spanID": "1", "startTime": 1, "processID": "p1"}'
      b'], "processes": {"p1": {"serviceName": "api"}}}]}'),
     "did not answer Jaeger's JSON model: trace #1, span #1"),
    ((200, "application/json", b'{"something": "else"}'),
     "did not answer Jaeger's JSON model"),
])
def test_a_broken_query_service_fails_the_probe_clearly(canned, answer,
                                                         expected):
    canned.answer = answer
    with pytest.raises(ActivityFailed, match=expected):
        probes.span_error_ratio("api", query_url=canned.url)


def test_reaching_the_limit_says_so(shop, caplog):
    import logging

    caplog.set_level(logging.WARNING, logger="chaostoolkit")
    assert probes.span_count("shop", limit=5, query_url=shop.url) == 5
    (record,) = [r for r in caplog.records if "limit" in r.getMessage()]
    assert "limit=5" in record.getMessage()


def test_a_bad_span_in_the_answer_costs_only_itself(collector, caplog):
    import logging

    caplog.set_level(logging.WARNING, logger="chaostoolkit")
    # as another Jaeger back-end may answer: a start time of -1 and a
    # negative duration, in the traces of good spans (our collector refuses
    # such spans at ingest: they are made so once stored)
    early = server_span(1, 7).replace(span_id=2)
    negative = server_span(2, 3).replace(span_id=3)
    collector.store.add([server_span(1, 5), early, server_span(2, 9),
                         negative])
    early.start_us = -1
    negative.duration_us = -4
    assert probes.span_count("shop", query_url=collector.url) == 2
    assert probes.span_latency_percentile(
        "shop", percentile=100, query_url=collector.url) == 9.0
    said = [r.getMessage() for r in caplog.records
            if "not Jaeger's model" in r.getMessage()]
    assert len(said) == 2  # once per probe
    assert "2 bad span(s) left out" in said[0]
    assert "is out of range" in said[0]


@pytest.mark.parametrize("arguments, expected", [
    ({"service": ""}, "service is ''"),
    ({"service": "shop", "window": "soon"}, "window is 'soon': expected a "
     "number of seconds"),
    ({"service": "shop", "window": 0}, "window is 0"),
    ({"service": "shop", "kind": "sever"}, "kind is 'sever': expected one of"),
    ({"service": "shop", "tags": ["error"]}, "tags is .*expected a mapping"),
    ({"service": "shop", "min_spans": -1}, "min_spans is -1"),
    ({"service": "shop", "query_url": "localhost:16686"},
     "query_url is 'localhost:16686': expected an http:// or https:// URL"),
    ({"service": "shop", "limit": 0}, "limit is 0"),
])
def test_bad_arguments_name_the_argument(arguments, expected):
    with pytest.raises(ActivityFailed, match=expected):
        probes.span_error_ratio(**arguments)


def test_percentile_out_of_range():
    with pytest.raises(ActivityFailed, match="percentile is 0: expected"):
        probes.span_latency_percentile("shop", percentile=0)


def test_the_query_url_comes_from_argument_configuration_environment(
        monkeypatch):
    with Collector(udp_port=None, otlp_port=None, query_port=0) as first, \
            Collector(udp_port=None, otlp_port=None, query_port=0) as second:
        first.store.add([server_span(1, 1)])
        second.store.add([server_span(2, 1), server_span(3, 1)])
        at_first = f"http://127.0.0.1:{first.query_port}"
        at_second = f"http://127.0.0.1:{second.query_port}"
        monkeypatch.setenv("CHAOSTRACING_QUERY_URL", at_second)
        assert probes.span_count("shop") == 2
        configuration = {"tracing_query_url": at_first}
        assert probes.span_count("shop", configuration=configuration) == 1
        assert probes.span_count("shop", query_url=at_second,
                                 configuration=configuration) == 2
        monkeypatch.setenv("CHAOSTRACING_QUERY_URL", "nonsense")
        with pytest.raises(ActivityFailed, match=r"^CHAOSTRACING_QUERY_URL="
                           r"nonsense: expected an http"):
            probes.span_count("shop")
    monkeypatch.delenv("CHAOSTRACING_QUERY_URL")
    assert arguments.resolve_query_url(None, None) == \
        "http://127.0.0.1:16686"
    assert arguments.resolve_query_url(
        None, {"tracing_query_url": "http://j:1/x/"}) == "http://j:1/x"


def test_discover_lists_the_probes_and_the_services(collector, monkeypatch):
    import chaostracing

    collector.store.add([server_span(1, 1)])
    found = chaostracing.discover(discover_system=False)
    assert found["extension"]["name"] == "chaostoolkit-opentracing"
    assert [a["name"] for a in found["activities"]] == [
        "blast_radius", "span_count", "span_error_ratio",
        "span_latency_percentile"]
    # the containment probe says what it answers, and its arguments
    (radius,) = [a for a in found["activities"]
                 if a["name"] == "blast_radius"]
    assert radius["doc"].startswith("True when the fault stayed inside")
    assert [a["name"] for a in radius["arguments"]][:5] == [
        "allowed", "baseline", "min_spans", "query_url", "wait"]
    assert found["system"] is None
    monkeypatch.setenv("CHAOSTRACING_QUERY_URL", collector.url)
    assert chaostracing.discover()["system"] == {
        "query_url": collector.url, "services": ["shop"]}


# -- the steps, one by one (chaostracing._probes) -----------------------------
def test_the_arguments_become_one_checked_search():
    search = arguments.search(
        service="shop", operation="", window="30", kind="SERVER",
        tags={"http.status_code": 503, "error": True},
        query_url="http://u:p@j:16686/", limit="50", timeout=2)
    assert search == arguments.Search(
        service="shop", operation=None, seconds=30.0, kind="server",
        tags={"http.status_code": "503", "error": "true"}, limit=50,
        timeout=2.0, url="http://u:p@j:16686")
    assert list(search.wanted) == ["http.status_code", "error", "span.kind"]
    assert ":p@" not in repr(search) and "'shop'" in repr(search)
    assert search.described("http://j:16686") == (
        "service 'shop', kind 'server', tags {'http.status_code': '503', "
        "'error': 'true'}, in the last 30 s at http://j:16686")
    assert arguments.search(service="shop", kind=None, query_url="http://j:1",
                            limit=10, timeout=1).wanted == {}


def test_the_query_asks_jaeger_and_picks_spans_with_the_same_search():
    search = arguments.search(service="shop", operation="GET /orders",
                              tags={"error": True}, query_url="http://j:1",
                              limit=10, timeout=1)
    asked = query.build(search, now_us=1_000_000_000)
    assert asked.params == {
        "service": "shop", "start": "940000000", "end": "1000000000",
        "limit": "10", "operation": "GET /orders",
        "tags": '{"error": "true", "span.kind": "server"}'}
    spans = asked.spans
    assert (spans.service, spans.operation, spans.start_us, spans.end_us) == (
        "shop", "GET /orders", 940_000_000, 1_000_000_000)
    assert spans.tags == {"error": "true", "span.kind": "server"}


def test_counting_takes_each_matching_span_once():
    now = now_us()
    search = arguments.search(service="shop", query_url="http://j:1",
                              limit=10, timeout=1)
    asked = query.build(search, now_us=now)
    ok = server_span(1, 10, start=now - 1000)
    failed = server_span(2, 30, start=now - 1000, tags={"error": True})
    client = SpanData(1, 2, 1, 1, "GET", now - 900, 5,
                      tags={"span.kind": "client"}, process=SHOP)
    found = counting.matching([ok, client, failed, ok], asked.spans)
    assert found == [ok, failed]
    assert counting.error_ratio(found) == 0.5
    assert counting.count(found, errors_only=True) == 1
    assert counting.latency_percentile_ms(found, 50) == 10.0
    assert counting.latency_percentile_ms(found, 51) == 30.0
    assert counting.error_ratio([]) == 0.0
