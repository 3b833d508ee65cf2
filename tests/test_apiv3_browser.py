"""Jaeger UI's search against ``collect``, in a real headless Chromium
(Debian's ``chromium``, driven by Playwright, as tests/test_report_browser.py
does).

- Always: a page that searches as Jaeger UI v2.19 does
  (tests/apiv3_search_page.html: services → operations → trace-summaries
  with the UI's exact query parameters, each answer checked with the rules
  of the UI's zod schemas), served by the test next to a proxy to the
  collector's API; what it renders is asserted, and the requests it made.
- Where ``JAEGER_UI_BUILD`` names a built Jaeger UI (the ``build`` folder of
  jaeger-ui's ``packages/jaeger-ui``: its source cannot be fetched where the
  tests run, and it is never committed), the real one: Search (the service
  list, a search with tag and duration filters, a trace opened from the
  results) and System Architecture. docs/collector.md says how to build one.

`make test` installs Chromium where root and apt allow; elsewhere these tests
skip, saying so.
"""
import contextlib
import json
import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import CHROMIUM
from test_apiv3 import NOW, collected, shop_traces

from chaostracing._data.model import Process, SpanData

pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason=(
    "no chromium here: `make test` installs Debian's chromium where root and "
    "apt allow (apt-get install chromium); the api_v3 browser tests skip")),
    pytest.mark.slow]  # a browser, and playwright's node driver

PAGE = Path(__file__).with_name("apiv3_search_page.html")
UI_BUILD = os.environ.get("JAEGER_UI_BUILD", "")


class Front(ThreadingHTTPServer):
    """What serves a UI in front of the collector, as Jaeger's query
    service serves its UI: files from ``root`` (any other path is the
    single-page app's ``index.html``), and ``/api/`` forwarded to
    ``backend``, each request recorded; ``answers`` replaces the
    collector's answer for a path."""

    daemon_threads = True

    def __init__(self, root, backend, index="index.html"):
        super().__init__(("127.0.0.1", 0), _FrontHandler)
        self.root, self.backend, self.index = Path(root), backend, index
        self.requests = []
        #: (request, status) of every /api/ request answered
        self.answered = []
        self.answers = {}

    @property
    def base(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def api_requests(self, path):
        """The query parameters of each request made to ``path``."""
        return [urllib.parse.parse_qs(query, keep_blank_values=True)
                for asked, query in (r.partition("?")[::2]
                                     for r in self.requests)
                if asked == path]


class _FrontHandler(BaseHTTPRequestHandler):
    server: Front

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.path.partition("?")[0]
        if path.startswith("/api/"):
            self.server.requests.append(self.path)
            status, kind, body = self.server.answers.get(path) or \
                self._forward()
            self.server.answered.append((self.path, status))
        else:
            file = (self.server.root / path.lstrip("/")).resolve()
            if not file.is_file() or self.server.root.resolve() not in \
                    file.parents:
                file = self.server.root / self.server.index
            status, body = 200, file.read_bytes()
            kind = {".js": "text/javascript", ".css": "text/css",
                    ".svg": "image/svg+xml", ".png": "image/png",
                    ".ico": "image/x-icon", ".json": "application/json"}.get(
                file.suffix, "text/html; charset=utf-8")
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self):
        try:
            with urllib.request.urlopen(self.server.backend + self.path,
                                        timeout=10) as answer:
                return (answer.status, answer.headers["Content-Type"],
                        answer.read())
        except urllib.error.HTTPError as error:
            return error.code, error.headers["Content-Type"], error.read()


@contextlib.contextmanager
def front(root, backend, index="index.html"):
    server = Front(root, backend, index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def shop():
    with collected(*shop_traces()) as collector:
        yield collector


# -- the page that searches as Jaeger UI does ---------------------------------
def open_search(browser, server, **form):
    page = browser.new_page()
    page.goto(f"{server.base}/search?{urllib.parse.urlencode(form)}")
    page.wait_for_function(
        "document.getElementById('status').textContent !== 'loading'")
    return page


def rows(page):
    return page.eval_on_selector_all("#results tr", """rows => rows.map(
        row => Object.fromEntries([...row.cells].map(
            td => [td.dataset.key, td.textContent])))""")


def test_the_search_renders_what_jaeger_ui_would(browser, shop):
    with front(PAGE.parent, shop.base, PAGE.name) as server:
        page = open_search(browser, server, service="shop", limit=20,
                           lookback=1, tags="host.name=box-1",
                           minDuration="1ms")
        assert page.text_content("#error") == ""
        assert page.text_content("#status") == "2 Traces"
        assert page.eval_on_selector_all(
            "#service option", "o => o.map(e => e.textContent)") == [
            "batch", "shop", "stock service/eu"]
        assert page.eval_on_selector_all(
            "#operation option", "o => o.map(e => e.textContent)") == [
            "all", "GET /orders (server)", "POST /orders (server)",
            "check stock (client)"]
        later, earlier = rows(page)
        assert later == {
            "id": "0000000", "name": "shop: POST /orders", "spans": "4",
            "errors": "1", "orphans": "0",
            "services": "shop (2, 1 failed), stock service/eu (2)",
            "duration": "2.000", "start": str(NOW - 60_000_000)}
        assert earlier["name"] == "shop: GET /orders"
        assert earlier["errors"] == "0"
        assert earlier["start"] == str(NOW - 120_000_000)
        page.close()
    # the requests, as Jaeger UI v2.19 makes them
    assert [r.partition("?")[0] for r in server.requests] == [
        "/api/v3/services", "/api/v3/operations", "/api/v3/trace-summaries"]
    (operations,) = server.api_requests("/api/v3/operations")
    assert operations == {"service": ["shop"]}
    (search,) = server.api_requests("/api/v3/trace-summaries")
    assert sorted(search) == [
        "query.attributes", "query.durationMin", "query.searchDepth",
        "query.serviceName", "query.startTimeMax", "query.startTimeMin"]
    assert search["query.serviceName"] == ["shop"]
    assert search["query.searchDepth"] == ["20"]
    assert search["query.durationMin"] == ["1ms"]
    assert json.loads(search["query.attributes"][0]) == {"host.name": "box-1"}
    iso_ms = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.fullmatch(iso_ms, search["query.startTimeMin"][0])
    assert re.fullmatch(iso_ms, search["query.startTimeMax"][0])


def test_filters_narrow_what_the_page_shows(browser, shop):
    with front(PAGE.parent, shop.base, PAGE.name) as server:
        for form, names in (
                ({"tags": "error=true"}, ["shop: POST /orders"]),
                ({"operation": "GET /orders"}, ["shop: GET /orders"]),
                ({"maxDuration": "999us"}, []),
                ({"service": "batch"}, ["batch: nightly"])):
            page = open_search(browser, server, **dict({"service": "shop"},
                                                       **form))
            assert page.text_content("#error") == "", form
            assert [row["name"] for row in rows(page)] == names, form
            page.close()
    (*_, last) = server.api_requests("/api/v3/trace-summaries")
    assert last["query.serviceName"] == ["batch"]


@pytest.mark.parametrize("path, answer, shown", [
    # before this collector served api_v3: the symptom
    ("/api/v3/services", (404, "text/plain", b"404 page not found\n"),
     "Failed to fetch services: 404 Not Found"),
    # the v1 envelope is not what the UI reads
    ("/api/v3/services", (200, "application/json",
                          b'{"data":["shop"],"total":1}'),
     "services: Required"),
    ("/api/v3/operations", (200, "application/json",
                            b'{"operations":[{"name":"x"}]}'),
     "operations[0].spanKind: expected a string"),
    # a trace id in Jaeger JSON's 16-digit form
    ("/api/v3/trace-summaries", (
        200, "application/json",
        b'{"summaries":[{"traceId":"00000000000000a1"}]}'),
     "summaries[0].traceId: Invalid trace ID: must be 32-char hex string"),
    ("/api/v3/trace-summaries", (200, "application/json",
                                 b'{"summaries":[{"traceId":"' + b"a" * 32
                                 + b'","minStartTimeUnixNano":5}]}'),
     "summaries[0].minStartTimeUnixNano: expected a string"),
])
def test_answers_the_ui_would_refuse_are_refused(browser, shop, path, answer,
                                                  shown):
    with front(PAGE.parent, shop.base, PAGE.name) as server:
        server.answers[path] = answer
        page = open_search(browser, server, service="shop")
        assert page.text_content("#status") == "failed"
        assert page.text_content("#error") == shown
        page.close()


# -- the real Jaeger UI ------------------------------------------------------
needs_ui = pytest.mark.skipif(not UI_BUILD, reason=(
    "JAEGER_UI_BUILD is not set: it names a built Jaeger UI (jaeger-ui's "
    "packages/jaeger-ui/build; its source cannot be fetched here, "
    "docs/collector.md says how to build one); the page above searches as "
    "it does"))


#: the search form's selects, by their labels (v2.14 to v2.20)
_SERVICE = ".ant-form-item:has(label:has-text('Service')) .ant-select"
_OPERATION = ".ant-form-item:has(label:has-text('Operation')) .ant-select"


def real_ui_traces():
    """A trace with jaeger-client's 64-bit id, and a failed one with a
    128-bit id, both a shop calling the stock service."""
    from test_apiv3 import shop_trace

    return [shop_trace(0x5AF7183FB1D4CF5F, NOW - 30_000_000),
            shop_trace(0x4BF92F3577B34DA6A3CE929D0E0E4736, NOW - 20_000_000,
                       error=True, op="POST /orders"),
            [SpanData(0x77, 1, 0, 1, "nightly", NOW - 10_000_000, 50,
                      process=Process("batch"))]]


@pytest.fixture
def real_ui(tmp_path):
    build = Path(UI_BUILD)
    if not (build / "index.html").is_file():
        pytest.fail(f"JAEGER_UI_BUILD={UI_BUILD} holds no index.html")
    with collected(*real_ui_traces()) as collector, \
            front(build, collector.base) as server:
        yield server


def _list_view(page):
    """The search results as a list of items: v2.20 shows a table first,
    with a List switch (remembered in the browser's storage)."""
    page.wait_for_selector(".ResultItem, label:has-text('List')")
    if page.query_selector(".ResultItem") is None:
        page.click("label:has-text('List')")
        page.wait_for_selector(".ResultItem")


@needs_ui
def test_jaeger_uis_search_finds_and_opens_a_trace(browser, real_ui):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{real_ui.base}/search")
    # the service list
    page.click(_SERVICE)
    page.wait_for_selector(".ant-select-item-option")
    assert page.eval_on_selector_all(
        ".ant-select-item-option",
        "o => o.map(e => e.getAttribute('title'))") == [
        "batch", "shop", "stock service/eu"]
    page.click(".ant-select-item-option[title='shop']")
    page.wait_for_selector(f"{_OPERATION}:not(.ant-select-disabled)")
    # a search with a tag and a duration filter
    page.fill("input[name=tags]", "host.name=box-1 error=true")
    page.fill("input[name=minDuration]", "1ms")
    page.click("button:has-text('Find Traces')")
    _list_view(page)
    _screenshot(page, "search")
    (result,) = page.query_selector_all(".ResultItem")
    text = result.inner_text()
    assert "shop: POST /orders" in text and "4bf92f3" in text
    assert "4 Spans" in text and "1 Error" in text
    assert "shop (2)" in text and "stock service/eu (2)" in text
    # without the filters: both, newest first
    page.fill("input[name=tags]", "")
    page.fill("input[name=minDuration]", "")
    page.click("button:has-text('Find Traces')")
    page.wait_for_function(
        "document.querySelectorAll('.ResultItem').length === 2")
    titles = [item.inner_text() for item in
              page.query_selector_all(".ResultItemTitle")]
    assert "shop: POST /orders" in titles[0]
    assert "shop: GET /orders" in titles[1]
    v1_search = any(request.startswith("/api/traces?")
                    for request, _ in real_ui.answered)
    if v1_search:  # v2.14 to v2.18: Jaeger JSON's 16 digits, not 0000000
        assert "5af7183" in titles[1]
    # a trace opened from the results: its page, every span
    page.click("text=shop: GET /orders")
    page.wait_for_selector(".span-name")
    _screenshot(page, "trace")
    assert "5af7183" in page.title()
    rows = [(row.query_selector(".span-svc-name").inner_text().strip(),
             row.query_selector(".endpoint-name").inner_text().strip())
            for row in page.query_selector_all(".span-name")]
    assert rows == [("shop", "GET /orders"), ("shop", "check stock"),
                    ("stock service/eu", "GET /stock"),
                    ("stock service/eu", "lookup")]
    page.close()
    paths = [request.partition("?")[0] for request, _ in real_ui.answered]
    assert all(status == 200 for _, status in real_ui.answered), \
        real_ui.answered
    # v2.15 on: the form from api_v3; v2.14: from the v1 API
    assert {"/api/v3/services", "/api/v3/operations"} <= set(paths) or \
        {"/api/services", "/api/services/shop/operations"} <= set(paths)
    if v1_search:  # the trace came with the search's answer
        assert "/api/v3/trace-summaries" not in paths
    else:  # v2.19 on: summaries, then the trace by the summary's id
        assert "/api/v3/trace-summaries" in paths
        assert "/api/traces/00000000000000005af7183fb1d4cf5f" in paths


@needs_ui
def test_jaeger_uis_system_architecture_draws_the_calls(browser, real_ui):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{real_ui.base}/dependencies")
    page.wait_for_selector(".DAG--nodeLabel")
    _screenshot(page, "dependencies")
    labels = page.eval_on_selector_all(
        ".DAG--nodeLabel", "n => n.map(e => e.textContent)")
    assert sorted(labels) == ["shop", "stock service/eu"]
    assert page.eval_on_selector_all(
        "svg text", "t => t.map(e => e.textContent)") == ["2"]  # calls
    page.close()
    ((request, status),) = real_ui.answered
    assert request.startswith("/api/dependencies?endTs=") and status == 200


def _screenshot(page, name):
    """Kept where JAEGER_UI_SCREENSHOTS names a folder."""
    folder = os.environ.get("JAEGER_UI_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"jaeger-ui-{name}.png"))
