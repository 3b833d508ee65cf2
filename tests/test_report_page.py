"""The report page is package data (report.html, .css, .js), put together
into one self-contained file: each asset once, every placeholder filled."""
import pkgutil

from chaostracing._data.model import Process, SpanData
from chaostracing._viewers import report

ASSETS = ("report.html", "report.css", "report.js")


def _asset(name):
    return pkgutil.get_data("chaostracing._viewers", name).decode("utf-8")


def test_the_page_is_its_frame_with_the_style_script_title_and_data():
    spans = [SpanData(3, 1, operation_name="run", start_us=1, duration_us=2,
                      process=Process("svc"))]
    page = report.render(spans, title="A & B")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count(_asset("report.css")) == 1
    assert page.count(_asset("report.js")) == 1
    assert "<title>A &amp; B</title>" in page
    assert "{{" not in page.replace(_asset("report.js"), "")
    assert page.count('<script type="application/json"') == 1


def test_a_title_naming_a_placeholder_stays_text():
    page = report.render([SpanData(3, 1, process=Process("svc"))],
                         title="{{data}} {{script}}")
    assert "<title>{{data}} {{script}}</title>" in page
    assert page.count(_asset("report.js")) == 1


def test_the_assets_cannot_end_their_own_elements():
    assert "</style" not in _asset("report.css").lower()
    assert "</script" not in _asset("report.js").lower()
    assert "<!--" not in _asset("report.js")


def test_the_embedded_json_holds_no_markup_character():
    tricky = "</script><!-- & \u2028\u2029 >"
    page = report.render([SpanData(3, 1, operation_name=tricky,
                                   process=Process(tricky))])
    data = page.split('id="chaostracing-data">', 1)[1].split("</script>")[0]
    for char in "<>&\u2028\u2029":
        assert char not in data
    assert "\\u003c/script\\u003e\\u003c!-- \\u0026 \\u2028\\u2029" in data
