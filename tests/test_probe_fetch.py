"""The probes' fetch (issue 18, item 5), against real HTTP servers on
loopback: one deadline for the whole answer, credentials that never follow
a redirect to another origin, and a password never printed, whatever it
holds."""
import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from chaoslib.exceptions import ActivityFailed

from chaostracing import probes
from chaostracing._probes.fetch import shown, split_credentials

PASSWORD = "pa/ss#w?rd@x:y%"


def now_us():
    return time.time_ns() // 1000


def answer_body(service="api"):
    now = now_us()
    return json.dumps({"data": [{
        "traceID": "a1", "spans": [{
            "traceID": "a1", "spanID": "1", "operationName": "GET /",
            "startTime": now - 1_000_000, "duration": 1000,
            "tags": [{"key": "span.kind", "type": "string",
                      "value": "server"}], "processID": "p1"}],
        "processes": {"p1": {"serviceName": service}}}]}).encode()


class Handler(BaseHTTPRequestHandler):
    """What each test puts in ``server.behaviour``, requests recorded."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append((self.path, dict(self.headers)))
        self.server.behaviour(self)


def serve(behaviour):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.requests = []
    server.behaviour = behaviour
    server.stop = threading.Event()
    threading.Thread(target=server.serve_forever, args=(0.05,),
                     daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server


@pytest.fixture
def servers():
    started = []

    def start(behaviour):
        server = serve(behaviour)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop.set()
        server.shutdown()
        server.server_close()


def ok(handler):
    body = answer_body()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def drip(handler):
    """Headers at once, then one byte every 0.1 s for 100 s."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    for _ in range(1000):
        if handler.server.stop.wait(0.1):
            return
        try:
            handler.wfile.write(b" ")
            handler.wfile.flush()
        except OSError:
            return


def drip_headers(handler):
    """The status line, then a header byte every 0.1 s."""
    handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
    for _ in range(1000):
        if handler.server.stop.wait(0.1):
            return
        try:
            handler.wfile.write(b"X")
            handler.wfile.flush()
        except OSError:
            return


@pytest.mark.slow  # seconds of dripping
@pytest.mark.parametrize("behaviour", [drip, drip_headers],
                         ids=["body", "headers"])
def test_a_dripping_answer_is_cut_at_the_probes_timeout(servers, behaviour):
    server = servers(behaviour)
    started = time.monotonic()
    with pytest.raises(ActivityFailed, match="did not answer within the "
                       "timeout"):
        probes.span_count("api", query_url=server.url, timeout=2)
    # one deadline for the whole answer: 2 s, not 2 s per byte
    assert time.monotonic() - started < 4


def test_credentials_do_not_follow_a_redirect_to_another_origin(servers):
    target = servers(ok)

    def elsewhere(handler):
        handler.send_response(302)
        handler.send_header("Location", target.url + handler.path)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    origin = servers(elsewhere)
    url = origin.url.replace("http://", "http://reader:s3cret@")
    assert probes.span_count("api", query_url=url) == 1
    (_, asked), = origin.requests
    (_, redirected), = target.requests
    assert asked["Authorization"] == "Basic " + base64.b64encode(
        b"reader:s3cret").decode()
    assert "Authorization" not in redirected


def test_credentials_follow_a_redirect_on_the_same_origin(servers):
    def here(handler):
        if handler.path.startswith("/moved"):
            return ok(handler)
        handler.send_response(307)
        handler.send_header("Location", "/moved" + handler.path)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    server = servers(here)
    url = server.url.replace("http://", "http://reader:s3cret@")
    assert probes.span_count("api", query_url=url) == 1
    assert [h.get("Authorization") for _, h in server.requests] == [
        "Basic " + base64.b64encode(b"reader:s3cret").decode()] * 2


@pytest.mark.parametrize("password", [PASSWORD, "a/b", "a#b", "a?b", "@@",
                                      "a:b/c?d#e@f"])
def test_a_password_of_any_characters_is_sent_and_never_printed(servers,
                                                               password):
    def refuse(handler):
        handler.send_response(503)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    server = servers(refuse)
    url = server.url.replace("http://", f"http://reader:{password}@")
    assert split_credentials(url) == (server.url, "reader", password.replace(
        "%", "%"))
    with pytest.raises(ActivityFailed) as failed:
        probes.span_count("api", query_url=url)
    message = str(failed.value)
    assert "answered HTTP 503" in message and server.url in message
    assert password not in message and "reader" not in message
    (_, headers), = server.requests
    assert headers["Authorization"] == "Basic " + base64.b64encode(
        f"reader:{password}".encode()).decode()
    assert password not in shown(url)


def test_the_query_urls_password_is_hidden_in_setting_problems():
    from chaostracing._probes import arguments

    with pytest.raises(ActivityFailed) as failed:
        arguments.resolve_query_url(f"ftp://reader:{PASSWORD}@jaeger", None)
    assert PASSWORD not in str(failed.value)
    assert "ftp://***@jaeger" in str(failed.value)


def test_the_searchs_repr_hides_the_password():
    from chaostracing._probes import arguments

    search = arguments.search(
        service="api", query_url=f"http://reader:{PASSWORD}@jaeger:16686",
        limit=1, timeout=1)
    assert PASSWORD not in repr(search) and "http://jaeger:16686" in repr(
        search)


@pytest.mark.slow  # chaos run in a process
def test_a_chaos_run_neither_hangs_on_a_dripping_answer_nor_prints_the_password(
    servers, chaos, tmp_path
):
    slow = servers(drip)

    def refuse(handler):
        handler.send_response(401)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    locked = servers(refuse)

    def probe(name, url):
        return {"type": "probe", "name": name, "tolerance": 0, "provider": {
            "type": "python", "module": "chaostracing.probes",
            "func": "span_count", "secrets": ["jaeger"],
            "arguments": {"service": "api", "query_url": url,
                          "timeout": 2}}}

    def with_password(server):
        return server.url.replace("http://", f"http://reader:{PASSWORD}@")

    experiment = {
        "title": "probes and hostile query services", "description": "d",
        "secrets": {"jaeger": {
            "slow": {"type": "env", "key": "SLOW_URL"},
            "locked": {"type": "env", "key": "LOCKED_URL"}}},
        "method": [probe("dripping", "${slow}"), probe("locked", "${locked}")],
    }
    started = time.monotonic()
    run = chaos(experiment, env={"SLOW_URL": with_password(slow),
                                 "LOCKED_URL": with_password(locked)})
    assert time.monotonic() - started < 60
    results = {r["activity"]["name"]: r for r in run.journal["run"]}
    assert "did not answer within the timeout" in \
        results["dripping"]["exception"][-1]
    assert "answered HTTP 401" in results["locked"]["exception"][-1]
    journal = json.dumps(run.journal)
    log_file = (tmp_path / "chaostoolkit.log").read_text()
    assert "did not answer within the timeout" in log_file
    for text in (journal, run.log, log_file):
        assert PASSWORD not in text and "pa/ss" not in text
    assert locked.url + "/api/traces" in journal
