"""``chaostracing report`` checked in a real headless Chromium (Debian's
``chromium``): the rendered DOM (``--dump-dom``), a screenshot, and clicks
through Playwright driving that same Chromium (no browser download).

`make test` installs Chromium where root and apt allow; elsewhere these tests
skip, saying so.
"""
import html.parser
import json
import subprocess
import time

import pytest
from conftest import CHROMIUM, FLAGS, ROOT

from chaostracing._data.inputs import load
from chaostracing._data.jaegerjson import write_atomic
from chaostracing._data.model import Process, SpanData
from chaostracing._viewers.report import render

pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason=(
    "no chromium here: `make test` installs Debian's chromium where root and "
    "apt allow (apt-get install chromium); the report's browser tests skip")),
    # a browser, or playwright's node driver: processes
    pytest.mark.slow]
EXAMPLE = ROOT / "docs" / "example-trace.json"


class Elements(html.parser.HTMLParser):
    """The attributes of every element of the dumped DOM, by tag."""

    def __init__(self):
        super().__init__()
        self.elements = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def dump_dom(page, tmp_path):
    proc = subprocess.run(
        [CHROMIUM, "--headless", *FLAGS,
         f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    parser = Elements()
    parser.feed(proc.stdout)
    parser.raw = proc.stdout
    return parser


def write_report(tmp_path, spans, **options):
    path = tmp_path / "report.html"
    write_atomic(str(path), render(spans, **options))
    return path


def span_elements(dom):
    return [attrs for tag, attrs in dom.elements if "data-span-id" in attrs]


def test_every_span_is_an_element_with_parent_service_and_error(tmp_path):
    spans = load([str(EXAMPLE)])
    # a second trace: the picker hides it, it stays in the DOM
    second = [SpanData(7, 1, operation_name="other run", start_us=10,
                       duration_us=5, process=Process("elsewhere"),
                       tags={"error": True}),
              SpanData(7, 2, 1, operation_name="child", start_us=11,
                       duration_us=2, process=Process("elsewhere"))]
    dom = dump_dom(write_report(tmp_path, spans + second), tmp_path)
    elements = span_elements(dom)
    assert len(elements) == len(spans) + 2
    by_id = {a["data-span-id"]: a for a in elements}
    for span in spans + second:
        attrs = by_id[format(span.span_id, "016x")]
        expected_parent = (format(span.parent_id, "016x") if span.parent_id
                           else "")
        assert attrs["data-parent-id"] == expected_parent
        assert attrs["data-service"] == span.service_name
        assert (attrs.get("data-error") == "true") == span.failed
    assert any(a.get("data-deviated") is None for a in elements)
    rows = [a for a in elements if a["data-service"] == "elsewhere"]
    assert {a["data-span-id"] for a in rows} == {format(1, "016x"),
                                                 format(2, "016x")}
    # nesting: depth follows the parent's
    for attrs in elements:
        if attrs["data-parent-id"]:
            parent = by_id[attrs["data-parent-id"]]
            assert int(attrs["data-depth"]) == int(parent["data-depth"]) + 1


def test_hostile_span_data_stays_text(tmp_path):
    evil = '<img src=x onerror="document.title=\'pwned\'">'
    spans = [SpanData(
        9, 1, operation_name=evil, start_us=1, duration_us=10,
        process=Process('"><b>bold</b>', [("note", "</script><script>"
                                            "document.title='pwned'</script>")]),
        tags={"error": True, "html": "<script>alert(1)</script>",
              "url": "javascript:alert(1)"},
        logs=[(2, {"event": "</script><img src=y onerror=alert(2)>"})])]
    page = write_report(tmp_path, spans, ui_url="javascript:alert(3)")
    text = page.read_text()
    assert "</script><script>" not in text.split('id="chaostracing-data">')[1]
    dom = dump_dom(page, tmp_path)
    tags = [tag for tag, _ in dom.elements]
    assert "img" not in tags and "b" not in tags
    assert tags.count("script") == 2  # ours: the data and the code
    assert not any(tag == "a" for tag in tags)  # the javascript: URL: no link
    (row,) = span_elements(dom)
    assert row["data-service"] == '"><b>bold</b>'
    assert evil in "".join(dom.text)
    # no script of the data ran: the page's title is still its own
    assert "<title>chaostracing report</title>" in dom.raw


def open_page(browser, path):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    problems, requests = [], []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" else None)
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    return page, problems, requests


def test_clicks_show_details_fold_the_tree_and_pick_traces(browser, tmp_path):
    spans = load([str(EXAMPLE)])
    later = max(s.end_us for s in spans) + 1_000_000
    other = SpanData(7, 1, operation_name="second run", start_us=later,
                     duration_us=5, process=Process("elsewhere"))
    page, problems, requests = open_page(
        browser, write_report(tmp_path, spans + [other],
                              ui_url="http://localhost:16686"))
    trace_id = spans[0].trace_id_hex
    assert page.inner_text("#title") == "The demo service survives stress"
    summary = page.inner_text("#summary")
    assert "status: completed" in summary and "27 spans" in summary
    assert "services: chaostoolkit, demo-service" in summary
    link = page.get_attribute("#links a", "href")
    assert link == f"http://localhost:16686/trace/{trace_id}"
    # a click on a span shows its tags, logs and references
    page.click(".span[data-error=true] .name")
    details = page.inner_text("#details")
    assert "http.status_code" in details and "503" in details
    assert "Tags" in details
    # folding the Method hides its descendants, unfolding shows them again
    method = page.locator(".trace:not(.hidden) .span", has_text="Method").first
    visible = ".trace:not(.hidden) .span:not(.hidden)"
    visible_before = page.locator(visible).count()
    method.locator(".toggle").click()
    folded = page.locator(".trace:not(.hidden) .span:not(.hidden)").count()
    assert folded < visible_before
    assert page.locator(".trace:not(.hidden) .span").count() == 27  # in the DOM
    method.locator(".toggle").click()
    assert page.locator(".trace:not(.hidden) .span:not(.hidden)").count() == \
        visible_before
    # the picker shows the other trace, hiding (not removing) this one
    page.select_option("#picker", "1")
    assert page.inner_text("#title") == "second run"
    assert page.locator(".trace.hidden .span").count() == 27
    assert page.locator(".span").count() == 28
    page.screenshot(path=str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 20_000
    assert problems == []
    # the page asked for nothing but itself: no asset, no network
    assert len(requests) == 1 and requests[0].startswith("file://")


def test_a_5000_span_trace_is_written_fast_and_renders_in_seconds(browser,
                                                                   tmp_path):
    spans = [SpanData(11, 1, operation_name="root", start_us=0,
                      duration_us=5_000_000, process=Process("svc"))]
    for i in range(2, 5001):
        spans.append(SpanData(
            11, i, parent_id=max(1, i // 3), operation_name=f"span {i}",
            start_us=i * 900, duration_us=800, process=Process(f"svc-{i % 5}"),
            tags={"http.status_code": 200, "n": i, "note": "x" * 40},
            logs=[(i * 900 + 10, {"event": "tick", "i": i})]))
    started = time.monotonic()
    path = write_report(tmp_path, spans)
    assert time.monotonic() - started < 5.0
    started = time.monotonic()
    page, problems, _ = open_page(browser, path)
    assert page.locator(".span").count() == 5000
    assert time.monotonic() - started < 15.0
    assert problems == []


def test_a_screenshot_from_the_command_line(tmp_path):
    spans = load([str(EXAMPLE)])
    page = write_report(tmp_path, spans)
    shot = tmp_path / "shot.png"
    proc = subprocess.run(
        [CHROMIUM, "--headless", *FLAGS, f"--user-data-dir={tmp_path / 'p'}",
         "--window-size=1400,900", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-1000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_the_file_provider_writes_the_report_at_the_end_of_the_run(
    chaos, demo_service, tmp_path
):
    from conftest import load_example

    experiment = load_example()
    experiment["configuration"] = {"tracing_provider": "file",
                                   "tracing_report": True,
                                   "service_url": demo_service.url}
    run = chaos(experiment)
    assert run.status == "completed"
    report = tmp_path / "chaostracing-report.html"
    dom = dump_dom(report, tmp_path)
    assert len(span_elements(dom)) == 12
    data = report.read_text().split('id="chaostracing-data">')[1].split(
        "</script>")[0]
    assert json.loads(data)["traces"][0]["title"] == \
        "The demo service survives stress"


def test_the_collectors_pages_in_the_browser(browser):
    """``chaostracing collect``'s query port, browsed: the recent traces,
    a click through to a trace's page, which draws every span."""
    from chaostracing._collector import Collector

    spans = load([str(EXAMPLE)])
    trace_id = spans[0].trace_id_hex
    with Collector(udp_port=None, otlp_port=None, query_port=0) as collector:
        collector.store.add(spans)
        base = f"http://127.0.0.1:{collector.query_port}"
        page = browser.new_page()
        problems = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("console", lambda m: problems.append(m.text)
                if m.type == "error" else None)
        page.goto(base + "/")
        rows = page.locator("tbody tr")
        assert rows.count() == 1
        assert "The demo service survives stress" in rows.first.inner_text()
        page.click(f"a[href='/trace/{trace_id}']")
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        assert page.url == f"{base}/trace/{trace_id}"
        assert page.inner_text("#title") == "The demo service survives stress"
        assert page.locator(".span").count() == len(spans)
        assert page.locator(".span[data-error=true]").count() == sum(
            1 for s in spans if s.failed)
        assert problems == []
        page.goto(base + "/trace/" + "e" * 32)  # a 404, which the console notes
        assert "Trace not found" in page.inner_text("h1")


def test_the_embedded_data_reads_back_exactly_whatever_it_holds(browser,
                                                                tmp_path):
    """What HTML's script parsing reacts to (an end tag, a comment opener,
    a character reference) and JavaScript's old line terminators go through
    the embedded JSON unchanged: the page's data is report_data's."""
    from chaostracing._viewers.report import report_data

    tricky = ("</script><!--<script>&amp;&lt;\u2028\u2029-->"
              "{{data}}{{title}}</SCRIPT >")
    spans = [SpanData(5, 1, operation_name=tricky, start_us=1,
                      duration_us=2, process=Process(tricky),
                      tags={tricky: tricky}, logs=[(1, {"event": tricky})])]
    page, problems, _ = open_page(browser, write_report(
        tmp_path, spans, title=tricky))
    shown = page.evaluate('JSON.parse(document.getElementById('
                          '"chaostracing-data").textContent)')
    assert shown == json.loads(json.dumps(report_data(spans)))
    assert page.title() == tricky
    assert page.inner_text("#title") == tricky
    assert page.locator("script").count() == 2
    assert problems == []
