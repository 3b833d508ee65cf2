"""The collector's HTTP serving and store, in this process: what arrives
byte by byte on a real loopback socket, and the store's bounds.

Raw sockets send what libraries would not (a chunked body, a cut gzip
stream, a bad ``Content-Length``, a foreign ``Host``); the answers, and what
the store holds after, are checked. The endpoint functions are also called
directly, without HTTP: they are plain functions of (store, request).
"""
import gzip
import json
import socket
import sys
import time
import zlib

import pytest
import requests

from chaostracing._collector import Collector, query
from chaostracing._collector import http as collector_http
from chaostracing._collector import store as store_module
from chaostracing._collector.http import (
    MAX_MEMBERS,
    HostGuard,
    HttpError,
    Request,
    inflate,
    match,
)
from chaostracing._collector.store import SpanStore, process_size, span_size
from chaostracing._data.model import Process, SpanData

TRACE = "5b8efff798038103d269b633813fc60c"


def otlp_body(trace_id=TRACE, count=1, name="span", value=None):
    spans = []
    for i in range(count):
        span = {"traceId": trace_id, "spanId": f"{i + 1:016x}", "name": name,
                "startTimeUnixNano": "1700000000000000000",
                "endTimeUnixNano": "1700000000005000000"}
        if value is not None:
            span["attributes"] = [{"key": "big",
                                   "value": {"stringValue": value}}]
        spans.append(span)
    return json.dumps({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "raw"}}]},
        "scopeSpans": [{"spans": spans}]}]}).encode()


def exchange(port, data, timeout=5.0, half_close=False, answers=1):
    """Send ``data`` on a new connection; what is read back until the server
    closes, ``answers`` whole answers with a length arrived, or
    ``timeout``."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(timeout)
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        out = b""
        try:
            while _whole(out) < answers:
                piece = sock.recv(65536)
                if not piece:
                    break
                out += piece
        except socket.timeout:
            pass
        except ConnectionResetError:
            pass
    return out


def _whole(data):
    """How many whole answers with a Content-Length ``data`` holds."""
    count = 0
    while b"\r\n\r\n" in data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lengths = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")]
        if not lengths or len(rest) < lengths[0]:
            break
        count += 1
        data = rest[lengths[0]:]
    return count


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer else 0


def post(body, *headers, host=b"127.0.0.1"):
    return (b"POST /v1/traces HTTP/1.1\r\nHost: " + host + b"\r\n"
            b"Content-Type: application/json\r\nConnection: close\r\n"
            + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body)


def chunked(body, size=100):
    return b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]),
                                      body[i:i + size])
                    for i in range(0, len(body), size)) + b"0\r\n\r\n"


@pytest.fixture
def collector():
    warnings = []
    with Collector(udp_port=None, otlp_port=0, query_port=0, timeout=2.0,
                   warn=warnings.append) as running:
        running.warnings = warnings
        yield running


# -- bodies -------------------------------------------------------------------
def test_a_chunked_body_is_read_whole_and_its_spans_stored(collector):
    body = otlp_body(count=3)
    answer = exchange(collector.otlp_port, post(
        chunked(body), b"Transfer-Encoding: chunked"))
    assert status_of(answer) == 200, answer
    assert len(collector.store) == 3


def test_a_chunked_gzip_body_too(collector):
    body = gzip.compress(otlp_body(count=2))
    answer = exchange(collector.otlp_port, post(
        chunked(body, 7), b"Transfer-Encoding: chunked",
        b"Content-Encoding: gzip"))
    assert status_of(answer) == 200, answer
    assert len(collector.store) == 2


def test_keep_alive_after_a_chunked_body(collector):
    # the next request on the connection is read as a request, not as the
    # rest of the body
    body = otlp_body(count=1)
    one = (b"POST /v1/traces HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
           b"application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
           + chunked(body))
    answer = exchange(collector.otlp_port, one + one.replace(
        b"HTTP/1.1\r\n", b"HTTP/1.1\r\nConnection: close\r\n", 1),
        answers=2)
    assert answer.count(b"HTTP/1.1 200 OK") == 2, answer
    assert b"Connection: close" in answer.split(b"HTTP/1.1 200 OK")[2]


def test_a_cut_gzip_body_is_400_and_nothing_is_stored(collector):
    body = gzip.compress(otlp_body(count=2))[:-6]
    answer = exchange(collector.otlp_port, post(
        body, b"Content-Length: %d" % len(body), b"Content-Encoding: gzip"))
    assert status_of(answer) == 400 and b"cut short" in answer
    assert len(collector.store) == 0


@pytest.mark.parametrize("length", [b"-5", b"abc", b"1, 2"])
def test_a_bad_content_length_is_400(collector, length):
    answer = exchange(collector.otlp_port, post(
        b"{}", b"Content-Length: " + length))
    assert status_of(answer) == 400


def test_a_bad_chunk_size_is_400(collector):
    answer = exchange(collector.otlp_port, post(
        b"zz\r\nhello\r\n0\r\n\r\n", b"Transfer-Encoding: chunked"))
    assert status_of(answer) == 400
    assert len(collector.store) == 0


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_a_body_cut_by_the_connection_is_never_200(collector, framing):
    body = otlp_body(count=2)
    if framing == "length":
        request = post(body[:len(body) // 2],
                       b"Content-Length: %d" % len(body))
    else:
        request = post(chunked(body)[:len(body) // 2],
                       b"Transfer-Encoding: chunked")
    answer = exchange(collector.otlp_port, request, half_close=True)
    assert status_of(answer) != 200
    # the request's handling is over (not a fixed wait: a late store
    # would be seen)
    deadline = time.monotonic() + 30  # a hang guard
    while collector.http.handled < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert len(collector.store) == 0
    assert collector.store.received == 0


@pytest.mark.slow  # waits for the timeout
def test_a_body_that_stops_arriving_is_408_at_the_timeout(collector):
    started = time.monotonic()
    answer = exchange(collector.otlp_port, post(
        b'{"resourceSpans":', b"Content-Length: 1000"), timeout=60)
    assert status_of(answer) == 408  # within 60 s: a hang guard
    assert time.monotonic() - started > 1.5  # the timeout (2 s), not sooner
    assert collector.otlp.counters["refused"] == 1


def test_expect_100_continue_is_answered_before_the_body(collector):
    # curl sends a body over 1 MiB this way: it waits for the interim
    # answer (a second, then sends anyway); the collector gives it at once
    body = otlp_body(count=2)
    with socket.create_connection(("127.0.0.1", collector.otlp_port)) as sock:
        sock.settimeout(10)  # a hang guard: the interim answer comes first
        sock.sendall(post(b"", b"Expect: 100-continue",
                          b"Content-Length: %d" % len(body)))
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += sock.recv(1)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        assert len(collector.store) == 0
        sock.sendall(body)
        answer = b""
        while _whole(answer) < 1:
            piece = sock.recv(65536)
            if not piece:
                break
            answer += piece
    assert status_of(answer) == 200, answer
    assert len(collector.store) == 2


def test_another_expectation_is_417_and_over_the_cap_no_continue(collector):
    answer = exchange(collector.otlp_port, post(
        b"", b"Expect: something-else", b"Content-Length: 10"), timeout=3)
    assert status_of(answer) == 417
    answer = exchange(collector.otlp_port, post(
        b"", b"Expect: 100-continue", b"Content-Length: 999999999"),
        timeout=3)
    assert b"100 Continue" not in answer and status_of(answer) == 413


def test_over_the_cap_is_413_before_the_body_is_read(collector):
    answer = exchange(collector.otlp_port, post(
        b"", b"Content-Length: 999999999"), timeout=3)
    assert status_of(answer) == 413


def test_a_gzip_bomb_is_413_once_inflated(collector):
    bomb = gzip.compress(b"\x00" * (40 * 1024 * 1024), compresslevel=1)
    answer = requests.post(
        f"http://127.0.0.1:{collector.otlp_port}/v1/traces", data=bomb,
        headers={"Content-Type": "application/x-protobuf",
                 "Content-Encoding": "gzip"}, timeout=10)
    assert answer.status_code == 413


def test_inflate_reads_several_gzip_members_and_refuses_a_cut_one():
    body = gzip.compress(b"ab") + gzip.compress(b"cd")
    assert inflate(body, 100, 100) == b"abcd"
    assert inflate(body + b"\x00" * 300, 100, 100) == b"abcd"  # padded
    with pytest.raises(HttpError) as cut:
        inflate(body[:-3], 100, 100)
    assert cut.value.status == 400
    with pytest.raises(HttpError) as big:
        inflate(gzip.compress(b"x" * 1000), 2000, 500)
    assert big.value.status == 413
    with pytest.raises(HttpError) as after:
        inflate(body + b"\x00\x00x", 100, 100)
    assert after.value.status == 400


class _CountingZlib:
    """zlib, counting the bytes each inflater is fed and the bytes it
    copies out as what follows its member (``unused_data``)."""

    error = zlib.error
    MAX_WBITS = zlib.MAX_WBITS

    def __init__(self):
        self.bytes = 0

    def decompressobj(self, wbits):
        real = zlib.decompressobj(wbits)
        counter = self

        class Inflater:
            def decompress(self, data, max_length=0):
                counter.bytes += len(data)
                out = real.decompress(data, max_length)
                counter.bytes += len(real.unused_data)
                return out

            def __getattr__(self, name):
                return getattr(real, name)

        return Inflater()


def test_inflate_is_linear_in_the_members_of_a_body(monkeypatch):
    # each member used to take a copy of all that followed it: 2,000
    # members of 22 bytes made 80 MB of copies
    counting = _CountingZlib()
    monkeypatch.setattr(collector_http, "zlib", counting)
    members = [gzip.compress(b"%05d" % i) for i in range(2000)]
    body = b"".join(members)
    assert inflate(body, 1 << 20, 1 << 20) == b"".join(
        b"%05d" % i for i in range(2000))
    assert counting.bytes < 20 * len(body)
    # a large member is fed in growing pieces, not copied again either
    counting.bytes = 0
    text = bytes(range(256)) * 20_000  # 5 MB, compresses to ~20 KB
    large = gzip.compress(text) + gzip.compress(b"end")
    assert inflate(large, 1 << 23, 1 << 23) == text + b"end"
    assert counting.bytes < 4 * len(large)


def test_a_body_of_too_many_gzip_members_is_400(collector):
    body = gzip.compress(b"") * (MAX_MEMBERS + 1)
    answer = exchange(collector.otlp_port, post(
        body, b"Content-Length: %d" % len(body), b"Content-Encoding: gzip"),
        timeout=30)
    assert status_of(answer) == 400 and b"gzip members" in answer
    # a body in many members is read whole
    spans = otlp_body(count=3)
    body = b"".join(gzip.compress(spans[i:i + 10])
                    for i in range(0, len(spans), 10))
    answer = exchange(collector.otlp_port, post(
        body, b"Content-Length: %d" % len(body), b"Content-Encoding: gzip"),
        timeout=30)
    assert status_of(answer) == 200
    assert len(collector.store) == 3


# -- the Host header, CORS ----------------------------------------------------
@pytest.mark.parametrize("host", [b"evil.example", b"evil.example:4318",
                                  b"10.0.0.1", b"localhost.evil.example"])
def test_a_foreign_host_is_421_and_said_once(collector, host):
    for _ in range(2):
        answer = exchange(collector.otlp_port, post(
            otlp_body(), b"Content-Length: %d" % len(otlp_body()), host=host))
        assert status_of(answer) == 421 and b"--allow-host" in answer
    assert len(collector.store) == 0
    name = host.split(b":")[0].decode()
    assert collector.warnings == [
        f"refused requests for Host {name!r} (421, a guard against DNS "
        f"rebinding): if that name is yours, add --allow-host {name}"]
    assert "2 request(s) refused for their Host (421)" in collector.summary()


def test_refused_hosts_are_counted_not_kept():
    # each refused name was kept: 20,000 names of 7 KB held 134 MiB
    guard = HostGuard()

    def held():
        return sum(len(v) for v in vars(guard).values()
                   if isinstance(v, (set, dict, list)))

    before = held()
    for number in range(1000):
        assert guard.refusal(f"evil{number}-" + "a" * 7000 + ".com",
                             True)[0] == 421
    assert guard.refused == 1000
    assert held() == before


@pytest.mark.parametrize("host", [b"localhost", b"LOCALHOST:4318",
                                  b"127.0.0.1", b"127.0.0.2:80", b"[::1]:4318",
                                  b"app.localhost"])
def test_loopback_hosts_are_served(collector, host):
    answer = exchange(collector.query_port, b"GET /api/services HTTP/1.1\r\n"
                      b"Host: " + host + b"\r\nConnection: close\r\n\r\n")
    assert status_of(answer) == 200


def test_host_rules():
    guard = HostGuard("127.0.0.1", allowed=["collector"])
    assert guard.refusal("collector:4318", True) is None
    assert guard.refusal("other", True)[0] == 421
    assert guard.refusal(None, True)[0] == 400  # HTTP/1.1 needs one
    assert guard.refusal(None, False) is None
    # a wildcard address serves every address, not every name
    wild = HostGuard("0.0.0.0")
    assert wild.refusal("192.168.1.20:4318", True) is None
    assert wild.refusal("[fe80::1]:80", True) is None
    assert wild.refusal("rebind.example", True)[0] == 421
    assert HostGuard("::", allowed=["*"]).refusal("x", True) is None


def test_no_cors_header_unless_asked(collector):
    answer = requests.get(f"http://127.0.0.1:{collector.query_port}"
                          "/api/services", headers={"Origin": "http://x.test"})
    assert not [h for h in answer.headers if h.lower().startswith("access")]
    preflight = requests.options(
        f"http://127.0.0.1:{collector.otlp_port}/v1/traces",
        headers={"Origin": "http://x.test",
                 "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 405
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_cors_for_the_origin_given():
    with Collector(udp_port=None, otlp_port=0, query_port=None,
                   cors=["http://localhost:3000"]) as running:
        url = f"http://127.0.0.1:{running.otlp_port}/v1/traces"
        preflight = requests.options(url, headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        assert preflight.status_code == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == \
            "http://localhost:3000"
        assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
        sent = requests.post(url, data=otlp_body(), headers={
            "Content-Type": "application/json",
            "Origin": "http://localhost:3000"})
        assert sent.status_code == 200
        assert sent.headers["Access-Control-Allow-Origin"] == \
            "http://localhost:3000"
        other = requests.post(url, data=otlp_body(), headers={
            "Content-Type": "application/json", "Origin": "http://evil.test"})
        assert "Access-Control-Allow-Origin" not in other.headers


# -- answers ------------------------------------------------------------------
def test_head_answers_the_length_without_the_body(collector):
    answer = exchange(collector.query_port, b"HEAD /api/services HTTP/1.1\r\n"
                      b"Host: localhost\r\nConnection: close\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    whole = requests.get(f"http://127.0.0.1:{collector.query_port}"
                         "/api/services")
    assert status_of(answer) == 200
    assert b"Content-Length: %d" % len(whole.content) in head
    assert body == b""


def test_another_method_is_405_with_allow(collector):
    answer = requests.post(f"http://127.0.0.1:{collector.query_port}"
                           "/api/services", data=b"")
    assert answer.status_code == 405 and answer.headers["Allow"] == "GET, HEAD"
    answer = requests.get(f"http://127.0.0.1:{collector.otlp_port}"
                          "/v1/traces")
    assert answer.status_code == 405 and answer.headers["Allow"] == "POST"


def test_a_large_search_is_streamed_in_pieces(collector):
    now = time.time_ns() // 1000
    shop = Process("shop")
    for trace in range(600):
        collector.store.add([SpanData(trace + 1, i + 1, i, 1, f"op {i}",
                                      now - 1000 + trace, 10, process=shop,
                                      tags={"n": "x" * 40})
                             for i in range(3)])
    answer = requests.get(f"http://127.0.0.1:{collector.query_port}"
                          "/api/traces", params={"service": "shop",
                                                 "limit": "0"}, stream=True)
    assert answer.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in answer.headers
    document = json.loads(answer.content)
    assert len(document["data"]) == 600 and document["errors"] is None
    # a small answer keeps its length
    small = requests.get(f"http://127.0.0.1:{collector.query_port}"
                         "/api/traces", params={"service": "shop",
                                                "limit": "2"})
    assert int(small.headers["Content-Length"]) == len(small.content)
    assert len(small.json()["data"]) == 2


def test_max_connections_holds_in_a_burst():
    # counted once aiohttp had a connection: the 100 connections of a
    # burst were all accepted past a limit of 5
    import threading

    from chaostracing._collector.http import Limits, Serving

    serving = Serving(Limits(max_connections=5, timeout=30))
    port = serving.bind("127.0.0.1", 0, query.site(SpanStore()))
    serving.start()
    try:
        gate = threading.Event()  # the loop waits: the 100 come at once
        serving._loop.call_soon_threadsafe(gate.wait, 60)
        sockets = []
        for _ in range(100):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"GET /api/services HTTP/1.1\r\nHost: 127.0.0.1"
                         b"\r\nConnection: close\r\n\r\n")
            sockets.append(sock)
        gate.set()
        statuses = []
        for sock in sockets:
            with sock:
                sock.settimeout(30)  # a hang guard
                out = b""
                try:
                    while True:
                        piece = sock.recv(65536)
                        if not piece:
                            break
                        out += piece
                except ConnectionResetError:  # closed with the request unread
                    pass
                statuses.append(status_of(out))
        assert statuses.count(200) == 5
        assert serving.busy == 95
        assert set(statuses) <= {200, 503, 0}
    finally:
        serving.stop()


def _pieces_then(error_after):
    def pieces():
        for _ in range(error_after):
            yield b"x" * 10
        raise KeyError("a bug")
    return pieces


@pytest.mark.parametrize("error_after", [0, 1, 3])
def test_an_answer_that_fails_as_it_is_made_is_cut_and_counted(
        caplog, error_after):
    # it escaped: aiohttp answered its own 500 (or a cut answer), counted
    # as an answer and as a malformed request
    from chaostracing._collector.http import (
        Answer,
        Limits,
        Route,
        Serving,
        Site,
    )

    pieces = _pieces_then(error_after)
    site = Site("t", [Route("GET", "/a", lambda context, request: Answer(
        200, "text/plain", pieces()))], None,
        lambda status, message: Answer(status, "text/plain",
                                       message.encode()))
    serving = Serving(Limits(timeout=30))
    port = serving.bind("127.0.0.1", 0, site)
    serving.start()
    try:
        with caplog.at_level("WARNING", logger="chaostoolkit"):
            answer = exchange(port, b"GET /a HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              b"Connection: close\r\n\r\n", timeout=30)
    finally:
        serving.stop()
    assert b"0\r\n\r\n" not in answer  # never a whole answer
    assert b" 500 " not in answer
    assert site.counters == {"requests": 0, "refused": 1}
    assert serving.malformed == 0
    (warning,) = [r for r in caplog.records if "failed as it was made"
                  in r.getMessage()]
    assert "KeyError('a bug')" in warning.getMessage()


def test_endpoints_are_plain_functions_of_store_and_request():
    store = SpanStore()
    store.add([SpanData(7, 1, operation_name="GET /", process=Process("web"))])
    answer = query.services(store, Request())
    assert answer.status == 200
    assert json.loads(answer.body)["data"] == ["web"]
    with pytest.raises(HttpError) as refused:
        query.operations(store, Request(params={}))
    assert refused.value.status == 400
    route, args, _ = match(query.ROUTES, "GET",
                           "/api/services/stock%20service%2Feu/operations")
    assert route.handler is query.service_operations
    assert args == {"service": "stock service/eu"}
    assert match(query.ROUTES, "POST", "/api/services")[2] == ["GET", "HEAD"]
    assert match(query.ROUTES, "GET", "/api/nothing") == (None, {}, [])


# -- the store's bounds -------------------------------------------------------
def test_rejected_spans_are_only_those_of_the_request_not_stored(collector):
    store = collector.store
    store.max_spans = 10
    for trace in range(5):
        added, rejected = store.ingest([SpanData(trace + 1, i + 1)
                                        for i in range(4)])
        # older traces were evicted for these, but these were all stored
        assert (added, rejected) == (4, 0)
    assert store.dropped == 12
    # a request larger than the store: what does not fit is its own
    assert store.ingest([SpanData(99, i + 1) for i in range(15)]) == (15, 5)
    url = f"http://127.0.0.1:{collector.otlp_port}/v1/traces"
    answer = requests.post(url, data=otlp_body(count=12), headers={
        "Content-Type": "application/json"}).json()
    assert answer["partialSuccess"]["rejectedSpans"] == "2"
    answer = requests.post(url, data=otlp_body(TRACE.replace("5", "6"), 3),
                           headers={"Content-Type": "application/json"}).json()
    assert answer == {}  # stored, though older spans went for them


def test_the_store_is_bounded_in_bytes_and_counts_what_it_evicts():
    collector = Collector(udp_port=None, otlp_port=None, max_bytes=200_000)
    for trace in range(50):
        collector._add([SpanData(trace + 1, 1, operation_name="big",
                                 tags={"v": "x" * 10_000})])
    store = collector.store
    assert store.bytes <= 200_000
    assert 10 <= len(store) < 20
    assert store.dropped == store.dropped_for_bytes == 50 - len(store)
    assert {tid for tid, _ in store.traces()} == set(
        range(51 - len(store), 51))
    assert (f"{store.dropped} span(s) dropped (oldest traces, over "
            "--max-bytes 200000)") in collector.summary()


def test_long_values_are_cut_at_ingest_with_the_run_sides_marker():
    store = SpanStore(max_value=1000)
    process = Process("p" * 2000, [("host", "h" * 5000)])
    span = SpanData(1, 1, operation_name="o" * 3000, process=process,
                    tags={"short": "s", "long": "x" * 5000, "raw": b"\x00" *
                          4000},
                    logs=[(1, {"event": "e", "stack": "y" * 9000})])
    store.add([span, SpanData(1, 2, process=process)])
    kept = {s.span_id: s for s in store.spans()}
    one = kept[1]
    assert one.tags["short"] == "s"
    assert len(one.tags["long"]) == 1000
    assert one.tags["long"].endswith("...[truncated; 5000 chars in all]")
    assert one.tags["raw"].endswith(b"...[truncated; 4000 chars in all]")
    assert one.logs[0][1]["stack"].endswith("[truncated; 9000 chars in all]")
    assert len(one.operation_name) == 1000
    assert one.service_name.endswith("[truncated; 2000 chars in all]")
    # the process stays one object for the spans that shared it
    assert kept[2].process is one.process
    assert store.values_cut == 6
    assert span.tags["long"] == "x" * 5000  # the caller's span is untouched
    assert span_size(one) < 10_000


def test_an_unwritable_output_is_said_once_and_written_when_it_can_be(
        tmp_path):
    folder = tmp_path / "out"
    output = folder / "trace.json"
    warnings = []
    collector = Collector(udp_port=None, otlp_port=None, output=str(output),
                          warn=warnings.append)
    collector._add([SpanData(1, 1, operation_name="first")])
    assert collector.write(force=True)
    folder.rename(tmp_path / "gone")
    folder.write_text("a file where the folder was")
    collector._add([SpanData(1, 2, operation_name="second")])
    assert not collector.write(force=True)
    collector._add([SpanData(1, 3, operation_name="third")])
    assert not collector.write(force=True)
    assert len(warnings) == 1 and "cannot write" in warnings[0]
    assert "NOT written" in collector.summary()
    folder.unlink()
    folder.mkdir()
    assert collector.write(force=True)
    assert warnings[1] == f"{output} is written again"
    document = json.loads(output.read_text())
    assert len(document["data"][0]["spans"]) == 3
    assert collector.summary().startswith(f"3 span(s) written to {output}")


def test_an_output_unwritable_at_the_end_goes_to_the_temporary_folder(
        tmp_path):
    output = tmp_path / "file" / "trace.json"
    (tmp_path / "file").write_text("not a folder")
    collector = Collector(udp_port=None, otlp_port=None, output=str(output),
                          warn=lambda message: None)
    collector._add([SpanData(1, 1, operation_name="kept")])
    assert not collector.write(force=True)
    fallback = collector.write_elsewhere()
    try:
        assert json.loads(open(fallback).read())["data"][0]["spans"][0][
            "operationName"] == "kept"
        assert f"written to {fallback} instead" in collector.summary()
    finally:
        import os

        os.unlink(fallback)


@pytest.mark.parametrize("mode", [0o600, 0o644, 0o400, 0o200])
def test_the_fallback_file_is_new_private_and_not_where_one_could_guess(
        tmp_path, monkeypatch, mode):
    # it was f"{tempdir}/chaostracing-collect-{pid}-{name}", 0666 less the
    # umask: a 0600 output's spans became world-readable, and a file
    # planted there kept its own mode
    import os
    import stat
    import tempfile

    import chaostracing._collector as collector_package

    output = tmp_path / "trace.json"
    output.write_text("{}")
    output.chmod(mode)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    planted = tmp_path / "tmp" / f"chaostracing-collect-{os.getpid()}-" \
        "trace.json"
    planted.write_text("planted")
    planted.chmod(0o666)
    real = collector_package._write

    def unwritable(path, traces):  # the output only (a full disk, say)
        if path == str(output):
            raise OSError(28, "No space left on device")
        real(path, traces)

    monkeypatch.setattr(collector_package, "_write", unwritable)
    old_umask = os.umask(0)
    try:
        collector = Collector(udp_port=None, otlp_port=None,
                              output=str(output), warn=lambda message: None)
        collector._add([SpanData(1, 1, operation_name="kept")])
        assert not collector.write(force=True)
        fallback = collector.write_elsewhere()
    finally:
        os.umask(old_umask)
    assert fallback is not None and fallback != str(planted)
    assert os.path.dirname(fallback) == str(tmp_path / "tmp")
    # the output's mode, no more than 0600, and always readable by its
    # owner (a write-only output made an unreadable fallback)
    assert stat.S_IMODE(os.stat(fallback).st_mode) == mode & 0o600 | 0o400
    assert json.loads(open(fallback).read())["data"][0]["spans"][0][
        "operationName"] == "kept"
    assert planted.read_text() == "planted"
    assert f"written to {fallback} instead" in collector.summary()


def test_a_fallback_that_cannot_be_written_leaves_no_file(tmp_path,
                                                          monkeypatch):
    import tempfile

    import chaostracing._collector as collector_package

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()

    def full(path, traces):  # a full disk: the output and the fallback
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(collector_package, "_write", full)
    collector = Collector(udp_port=None, otlp_port=None,
                          output=str(tmp_path / "trace.json"),
                          warn=lambda message: None)
    collector._add([SpanData(1, 1, operation_name="kept")])
    assert not collector.write(force=True)
    assert collector.write_elsewhere() is None
    assert list((tmp_path / "tmp").iterdir()) == []


# -- UDP ----------------------------------------------------------------------
@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="the kernel's drop count is read on Linux")
def test_datagrams_the_kernel_dropped_are_counted_and_reported():
    collector = Collector(udp_port=0, otlp_port=None)
    agent = collector.agent
    assert agent.receive_buffer >= 1 << 20  # enlarged
    # a tiny buffer, and nobody reading yet: most of a burst is dropped
    agent._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for _ in range(500):
            sender.sendto(b"x" * 512, ("127.0.0.1", collector.udp_port))
    collector.start()
    deadline = time.monotonic() + 5
    while agent.malformed + agent.kernel_dropped < 500 and \
            time.monotonic() < deadline:
        time.sleep(0.01)
    collector.stop()
    assert agent.kernel_dropped > 400
    assert agent.kernel_dropped + agent.malformed == 500
    assert (f"{agent.kernel_dropped} datagram(s) dropped by the kernel"
            in collector.summary())


def test_the_agent_stops_at_once():
    from chaostracing._collector.agent import AgentReceiver

    agent = AgentReceiver()
    agent._sock.settimeout(300)  # a wait the test would see
    agent.start()
    time.sleep(0.05)  # its thread waits in recvmsg, likely
    agent.stop()
    for thread in agent._threads:  # a hang guard, far below the 300 s
        thread.join(60)
    # woken by stop(), not by its socket's timeout
    assert not any(thread.is_alive() for thread in agent._threads)


def test_query_parameters_are_decoded_once(collector):
    now = time.time_ns() // 1000
    collector.store.add([SpanData(5, 1, operation_name="GET", start_us=now,
                                  process=Process("web"),
                                  tags={"http.url": "/a+b&c%d e"})])
    answer = exchange(collector.query_port, b"GET /api/traces?service=web&"
                      b"tag=http.url:/a%2Bb%26c%25d+e HTTP/1.1\r\n"
                      b"Host: localhost\r\nConnection: close\r\n\r\n")
    body = answer.partition(b"\r\n\r\n")[2]
    assert len(json.loads(body)["data"]) == 1


def test_a_datagrams_spans_are_sized_from_it_and_a_huge_trace_measured():
    store = SpanStore(max_bytes=30_000)
    spans = [SpanData(1, i + 1, tags={"v": "x" * 1000}) for i in range(20)]
    store.ingest(spans[:10], wire=10 * 1030)  # sizes from the datagram
    measured = sum(span_size(s) for s in spans[:10])
    assert abs(store.bytes - measured) < 0.05 * measured
    # one trace over the bound: its spans measured, the oldest cut
    store.ingest(spans[10:], wire=10 * 1030)
    assert store.bytes <= 30_000
    assert store.bytes == sum(span_size(s) for _, t in store.traces()
                              for s in t) + process_size(spans[0].process)
    assert store.dropped == store.dropped_for_bytes == 20 - len(store)


def test_process_tags_are_counted_once_and_evicted_with_their_spans():
    # an OTLP request makes a process of its own: 40 tags of 60 KB each
    # were held without being counted (50 requests: 1.1 GiB, bytes 30,100)
    value = "v" * 60_000  # one string: the test holds little
    collector = Collector(udp_port=None, otlp_port=None,
                          max_bytes=10_000_000)
    store = collector.store
    for trace in range(20):
        process = Process("big", [(f"tag{i}", value) for i in range(40)])
        collector._add([SpanData(trace + 1, i + 1, process=process)
                        for i in range(3)])
        held = {id(s.process): s.process for s in store.spans()}
        assert store.bytes == sum(span_size(s) for s in store.spans()) + sum(
            process_size(p) for p in held.values())  # once per process
        assert store.bytes <= 10_000_000
    assert process_size(process) > 40 * 60_000
    assert 1 <= len(store) // 3 <= 4  # 2.4 MB each: four at most
    assert store.dropped_for_bytes == 60 - len(store)
    # gone with the last span holding it
    store.max_bytes = 1_000
    collector._add([SpanData(99, 1)])
    assert store.bytes == span_size(SpanData(99, 1)) + process_size(
        SpanData(99, 1).process)


def test_a_long_process_tag_is_cut_at_ingest():
    store = SpanStore()
    process = Process("p", [("host", "h" * 100_000), ("pid", 7)])
    store.ingest([SpanData(1, 1, process=process)])
    (span,) = store.spans()
    tags = dict(span.process.tags)
    assert len(tags["host"]) == 64 * 1024
    assert tags["host"].endswith("...[truncated; 100000 chars in all]")
    assert tags["pid"] == 7 and store.values_cut == 1
    assert store.bytes < 80_000


class _Counted:
    """Counts the calls of a function."""

    def __init__(self, function):
        self.function = function
        self.calls = 0

    def __call__(self, *args):
        self.calls += 1
        return self.function(*args)


@pytest.mark.parametrize("wire", [True, False], ids=["udp", "otlp"])
def test_an_ingest_into_a_full_store_of_one_huge_trace_costs_what_it_adds(
        monkeypatch, wire):
    # the store full of one trace: each ingest measured the whole trace
    # again under the lock (100 ms per span at 200,000 spans)
    store = SpanStore(max_bytes=2_000_000)
    spans = [SpanData(1, i + 1, tags={"v": "x" * 100})
             for i in range(5_000)]
    for i in range(0, len(spans), 50):
        store.ingest(spans[i:i + 50], wire=50 * 130 if wire else None)
    assert store.bytes > 1_000_000
    store.max_bytes = store.bytes  # full: each span added evicts one
    measure = _Counted(store_module._measure)
    monkeypatch.setattr(store_module, "_measure", measure)
    for i in range(100):
        span = SpanData(1, 10_000 + i, tags={"v": "y" * 100})
        store.ingest([span], wire=130 if wire else None)
    assert measure.calls <= 100 * 3 + len(spans)  # once the whole trace
    assert store.bytes <= store.max_bytes
    assert store.bytes == sum(span_size(s) for s in store.spans()) + \
        process_size(spans[0].process)
    assert max(s.span_id for s in store.spans()) == 10_099


def test_text_outside_ascii_counts_the_bytes_it_may_take():
    # characters were counted: 10,000 of U+1F600 take 40 KB in memory
    ascii_span = SpanData(1, 1, tags={"v": "a" * 10_000})
    wide_span = SpanData(1, 2, tags={"v": "\U0001F600" * 10_000},
                         logs=[(1, {"m": "\u00e9" * 10_000})])
    assert span_size(ascii_span) < 11_000
    assert span_size(wide_span) >= 4 * 20_000
    wide = Process("p", [("host", "\u65e5" * 10_000)])
    assert process_size(wide) >= 4 * 10_000
