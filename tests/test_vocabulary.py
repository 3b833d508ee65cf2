"""One vocabulary: tag names defined once and written nowhere else, one
span-kind table, one meaning of "failed", one never-raising str()."""
import ast
import json
import re

import pytest
from conftest import ROOT

from chaostracing._data import tags
from chaostracing._data.model import (
    Process,
    SpanData,
    failed,
    http_status,
    marked_error,
)
from chaostracing._data.text import safe_repr, safe_str

#: the values of tags and fields, rather than names: not held to the
#: naming rule
VALUES = {
    "EVENT_ERROR", "EVENT_EXCEPTION", "EVENT_LOG", "STATUS_OK",
    "STATUS_ERROR", "SERVER", "CLIENT", "PRODUCER", "CONSUMER", "INTERNAL",
    "ARG_PREFIX",
}
#: a string of tags.py written out elsewhere, where it is not that name
NOT_A_TAG = {
    ("chaostracing/_collector/otlp.py", "message"):
        "the field of OTLP's error body (google.rpc.Status)",
    ("chaostracing/_collector/apiv3.py", "error"):
        "the field of Jaeger's api_v3 error body (GRPCGatewayError)",
    ("chaostracing/_collector/apiv3.py", "message"):
        "the field of Jaeger's api_v3 error body (GRPCGatewayError)",
    ("chaostracing/_data/otlpjson.py", "message"):
        "the field of OTLP's Status",
    ("chaostracing/_data/inputs.py", "exception"):
        "the key of a journal's activity run",
    ("chaostracing/_run/run.py", "exception"):
        "the key of chaoslib's activity run state",
    ("chaostracing/_run/compat.py", "exception"):
        "the key of chaoslib's activity run state",
    ("chaostracing/_viewers/report.py", "error"):
        "a field of the report page's own JSON",
    ("chaostracing/probes.py", "server"):
        "the kind argument's default, as chaos discover shows it",
    ("chaostracing/probes.py", "error"):
        "a key of chaos discover's system answer",
}


def _names():
    """``{constant: string}`` of every name tags.py defines."""
    return {name: getattr(tags, name) for name in tags.__all__
            if isinstance(getattr(tags, name), str)}


def test_every_name_is_a_constant_named_after_its_string():
    for name, value in _names().items():
        if name in VALUES:
            continue
        assert re.sub(r"[.\-]", "_", value).upper() == name, (name, value)


def test_no_name_is_defined_twice():
    names = {n: v for n, v in _names().items() if n not in VALUES}
    assert len(set(names.values())) == len(names)


def test_opentracings_names_are_the_ones_its_library_defines():
    from opentracing import logs
    from opentracing.ext import tags as ot

    assert (tags.SPAN_KIND, tags.ERROR, tags.COMPONENT) == (
        ot.SPAN_KIND, ot.ERROR, ot.COMPONENT)
    assert (tags.HTTP_METHOD, tags.HTTP_URL, tags.HTTP_STATUS_CODE) == (
        ot.HTTP_METHOD, ot.HTTP_URL, ot.HTTP_STATUS_CODE)
    assert (tags.PEER_HOSTNAME, tags.PEER_IPV4, tags.PEER_IPV6,
            tags.PEER_PORT) == (ot.PEER_HOSTNAME, ot.PEER_HOST_IPV4,
                                ot.PEER_HOST_IPV6, ot.PEER_PORT)
    assert (tags.EVENT, tags.ERROR_KIND, tags.ERROR_OBJECT, tags.MESSAGE,
            tags.STACK) == (logs.EVENT, logs.ERROR_KIND, logs.ERROR_OBJECT,
                            logs.MESSAGE, logs.STACK)
    assert {tags.SERVER, tags.CLIENT, tags.PRODUCER, tags.CONSUMER} == {
        ot.SPAN_KIND_RPC_SERVER, ot.SPAN_KIND_RPC_CLIENT,
        ot.SPAN_KIND_PRODUCER, ot.SPAN_KIND_CONSUMER}


def test_opentelemetrys_names_are_the_ones_its_conventions_define():
    attributes = pytest.importorskip("opentelemetry.semconv.attributes")
    from opentelemetry.semconv.attributes import (
        exception_attributes,
        http_attributes,
        otel_attributes,
        service_attributes,
        url_attributes,
    )
    from opentelemetry.semconv.trace import SpanAttributes

    assert attributes is not None
    pairs = [
        (tags.OTEL_STATUS_CODE, otel_attributes.OTEL_STATUS_CODE),
        (tags.OTEL_STATUS_DESCRIPTION,
         otel_attributes.OTEL_STATUS_DESCRIPTION),
        (tags.OTEL_SCOPE_NAME, otel_attributes.OTEL_SCOPE_NAME),
        (tags.OTEL_SCOPE_VERSION, otel_attributes.OTEL_SCOPE_VERSION),
        (tags.SERVICE_NAME, service_attributes.SERVICE_NAME),
        (tags.EXCEPTION_TYPE, exception_attributes.EXCEPTION_TYPE),
        (tags.EXCEPTION_MESSAGE, exception_attributes.EXCEPTION_MESSAGE),
        (tags.EXCEPTION_STACKTRACE,
         exception_attributes.EXCEPTION_STACKTRACE),
        (tags.EXCEPTION_ESCAPED, exception_attributes.EXCEPTION_ESCAPED),
        (tags.HTTP_REQUEST_METHOD, http_attributes.HTTP_REQUEST_METHOD),
        (tags.HTTP_RESPONSE_STATUS_CODE,
         http_attributes.HTTP_RESPONSE_STATUS_CODE),
        (tags.URL_FULL, url_attributes.URL_FULL),
        (tags.URL_PATH, url_attributes.URL_PATH),
        (tags.URL_QUERY, url_attributes.URL_QUERY),
        (tags.URL_FRAGMENT, url_attributes.URL_FRAGMENT),
        # the older names, still written by many instrumentations
        (tags.HTTP_TARGET, SpanAttributes.HTTP_TARGET),
        (tags.CODE_FUNCTION, SpanAttributes.CODE_FUNCTION),
        (tags.CODE_NAMESPACE, SpanAttributes.CODE_NAMESPACE),
    ]
    for ours, theirs in pairs:
        assert ours == theirs


def _string_literals(path):
    """``(line, text)`` of the string literals of a module, docstrings
    left out (prose may name a tag)."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                             ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value,
                                                          ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            yield node.lineno, node.value


def test_no_tag_name_is_written_out_outside_tags_py():
    strings = {value: name for name, value in _names().items()}
    found = []
    for package in ("chaostracing", "chaostracing_contrib"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative == "chaostracing/_data/tags.py":
                continue
            for line, text in _string_literals(path):
                if text in strings and (relative, text) not in NOT_A_TAG:
                    found.append(f"{relative}:{line}: {text!r} is "
                                 f"tags.{strings[text]}")
    assert not found, "\n".join(found)


def test_the_strings_that_are_not_tags_are_still_there():
    for (relative, text), why in NOT_A_TAG.items():
        literals = {t for _, t in _string_literals(ROOT / relative)}
        assert text in literals, f"{relative} no longer writes {text!r} " \
                                 f"({why}): drop it from NOT_A_TAG"


###############################################################################
# One span-kind table
###############################################################################
def test_the_kind_table_matches_otlp_and_opentelemetry():
    from opentelemetry.proto.trace.v1 import trace_pb2
    from opentelemetry.trace import SpanKind

    otlp = dict(trace_pb2.Span.SpanKind.items())
    assert len(tags.SPAN_KINDS) == len(SpanKind) == len(otlp) - 1
    for kind in tags.SPAN_KINDS:
        assert otlp[f"SPAN_KIND_{kind.otel}"] == kind.otlp
        assert SpanKind[kind.otel].name == kind.tag.upper()
        assert tags.kind_of_tag(kind.tag.upper()) is kind
        assert tags.kind_of_otlp(kind.otlp) is kind
        assert tags.kind_of_otel(kind.otel) is kind
    assert tags.kind_of_otlp(0) is None
    assert tags.kind_of_tag(None) is None and tags.kind_of_tag("rpc") is None


@pytest.mark.parametrize("kind", tags.SPAN_KINDS, ids=lambda k: k.tag)
def test_every_kind_goes_through_otlp_both_ways(kind):
    """OTLP in (the collector's decoder) and out (the otlp provider) agree
    on every kind, through the one table."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.trace import SpanKind

    from chaostracing._data.otlp import to_span_data
    from chaostracing._run.providers.otlp import to_readable_spans

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id = b"\x01" * 16, b"\x02" * 8
    span.name, span.kind = "op", kind.otlp
    (decoded,) = to_span_data(request)
    assert decoded.kind == kind.tag
    (readable,) = to_readable_spans([decoded], None)
    assert readable.kind is SpanKind[kind.otel]


def test_the_bridge_tags_every_kind_but_the_apis_default():
    from opentelemetry.trace import SpanKind

    from chaostracing._run.otel import bridge

    expected = {SpanKind[k.otel]: k.tag for k in tags.SPAN_KINDS
                if k.tag != tags.INTERNAL}
    assert bridge._KIND_TAGS == expected


def test_the_probes_accept_every_kind_of_the_table():
    from chaostracing._probes import arguments

    assert set(arguments.KINDS) == {k.tag for k in tags.SPAN_KINDS}


###############################################################################
# One meaning of "failed"
###############################################################################
@pytest.mark.parametrize("span_tags, expected", [
    ({}, False),
    ({"error": True}, True),
    ({"error": "true"}, True),
    ({"error": "TRUE"}, True),
    ({"error": False}, False),
    ({"otel.status_code": "ERROR"}, True),
    ({"otel.status_code": "OK"}, False),
    ({"http.status_code": 500}, True),
    ({"http.status_code": 503}, True),
    ({"http.status_code": 499}, False),
    ({"http.status_code": " 502 "}, True),
    ({"http.status_code": True}, False),
    ({"http.status_code": "abc", "http.response.status_code": 500}, True),
    ({"http.response.status_code": 504}, True),
    ({"http.response.status_code": 404}, False),
])
def test_failed_is_an_error_mark_or_an_http_5xx(span_tags, expected):
    span = SpanData(1, 2, tags=dict(span_tags))
    assert failed(span.tags) is expected
    assert span.failed is expected


def test_only_the_spans_own_mark_becomes_an_otlp_error_status():
    assert marked_error({"error": True})
    assert not marked_error({"http.status_code": 500})
    assert http_status({"http.status_code": 500}) == 500
    assert http_status({"http.status_code": "x"}) is None


def test_show_report_the_collector_and_the_probes_count_the_same_spans(
        tmp_path):
    """A server span answering 503 without marking itself failed is failed
    everywhere (show once counted it as healthy, the collector as failed)."""
    from chaostracing._collector import query
    from chaostracing._collector.store import SpanStore
    from chaostracing._data.spanquery import is_error
    from chaostracing._viewers import report, waterfall

    orders = Process("orders")
    spans = [
        SpanData(7, 1, operation_name="GET /", start_us=10, duration_us=50,
                 process=Process("front"), tags={"span.kind": "server"}),
        SpanData(7, 2, parent_id=1, operation_name="GET /orders",
                 start_us=20, duration_us=20, process=orders,
                 tags={"span.kind": "server", "http.status_code": 503}),
        SpanData(7, 3, parent_id=1, operation_name="pay", start_us=25,
                 duration_us=5, process=orders, tags={"error": True}),
    ]
    assert [is_error(s) for s in spans] == [s.failed for s in spans] == [
        False, True, True]
    assert "2 error(s)" in waterfall.render(spans, width=120)
    data = report.report_data(spans)
    assert data["traces"][0]["errors"] == 2
    assert [s["error"] for s in data["traces"][0]["spans"]] == [
        False, True, True]
    store = SpanStore()
    store.add(spans)
    assert "<td class=n>2</td>" in query._home(store)


###############################################################################
# One never-raising str()
###############################################################################
class _Hostile:
    def __str__(self):
        raise RuntimeError("no str")

    def __repr__(self):
        raise RuntimeError("no repr")


class _OnlyRepr:
    def __str__(self):
        raise RuntimeError("no str")

    def __repr__(self):
        return "<only repr>"


class _Long:
    def __str__(self):
        return "x" * 10_000


def test_safe_str_is_str_when_str_works():
    assert safe_str("text") == "text"
    assert safe_str(12) == "12"
    assert safe_str(None) == "None"
    assert safe_str(ValueError("bad")) == "bad"
    assert safe_str({"a": 1}) == "{'a': 1}"


def test_safe_str_falls_back_to_repr_then_to_the_type():
    assert safe_str(_OnlyRepr()) == "<only repr>"
    assert safe_str(_Hostile()) == "<_Hostile (repr failed)>"
    assert safe_repr(_Hostile()) == "<_Hostile (repr failed)>"


def test_safe_str_cuts_only_when_asked():
    assert len(safe_str(_Long())) == 10_000
    assert safe_str(_Long(), 10) == "x" * 10
    assert safe_str("abcdef", 3) == "abc"
    assert safe_repr("x" * 5000) == repr("x" * 5000)[:4096]


def test_every_former_str_helper_is_now_safe_str():
    """The viewers, the JSON writer and the run's exception messages go
    through the one function: a hostile value no longer raises there."""
    from chaostracing._data.jaegerjson import to_trace, trace_json
    from chaostracing._viewers import report, waterfall

    span = SpanData(1, 2, operation_name="op", tags={"odd": _Hostile()})
    assert waterfall.printable(_Hostile()) == "<_Hostile (repr failed)>"
    (tag,) = to_trace(1, [span])["spans"][0]["tags"]
    assert tag["value"] == "<_Hostile (repr failed)>"
    assert json.loads(trace_json(1, [span]))["spans"][0]["tags"] == [tag]
    (row,) = report.report_data([span])["traces"][0]["spans"][0]["tags"]
    assert row == ["odd", "<_Hostile (repr failed)>"]



def test_the_tag_reference_names_exactly_our_chaostoolkit_tags():
    """docs/tags.md and tags.py name the same chaostoolkit.* tags (the page
    may shorten a family: ``chaostoolkit.provider.type`` / ``.module``)."""
    page = (ROOT / "docs" / "tags.md").read_text()
    documented = set(re.findall(r"`(chaostoolkit\.[a-z_.]+[a-z_])`", page))
    ours = {v for v in _names().values() if v.startswith("chaostoolkit.")}
    assert documented <= ours, documented - ours
    for name in ours:
        assert f"`{name}`" in page or \
            f"`.{name.rsplit('.', 1)[1]}`" in page, f"{name} is not in " \
                                                    "docs/tags.md"


@pytest.mark.parametrize("code", [0, 0x1B, 0x1F, 0x20, 0x41, 0x7E, 0x7F,
                                  0x85, 0x9F, 0xA0, 0xE9, 0x200E, 0x2028,
                                  0x2029, 0x202E, 0x4E2D])
def test_printable_is_safe_str_with_control_characters_shown(code):
    """The terminal's layer over safe_str: C0, C1, DEL, bidirectional
    controls and line separators become escapes, the rest stays (ASCII
    text without them is returned as it is)."""
    from chaostracing._viewers.waterfall import printable

    char = chr(code)
    shown = printable(f"a{char}b")
    if code < 0x20 or 0x7F <= code < 0xA0:
        assert shown == f"a\\x{code:02x}b"
    elif code in (0x200E, 0x2028, 0x2029, 0x202E):
        assert shown == f"a\\u{code:04x}b"
    else:
        assert shown == f"a{char}b"
    assert printable(_Hostile()) == "<_Hostile (repr failed)>"
