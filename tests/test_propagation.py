"""Trace headers: both worlds by default, OpenTelemetry's names accepted, any
header read, and our propagator held to OpenTelemetry's own."""
import pytest
from opentracing.propagation import SpanContextCorruptedException

from chaostracing._run.config import ConfigError, load_config
from chaostracing._run.propagation import DEFAULT_FORMATS, Propagator
from chaostracing._run.spancontext import JaegerSpanContext

TRACE, SPAN = 0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331
CONTEXT = JaegerSpanContext(TRACE, SPAN, None, 1)


def formats(value):
    return load_config({"tracing_provider": "file",
                        "tracing_propagation": value}, environ={}).propagation


def test_by_default_w3c_and_jaeger_are_written_on_every_provider():
    for provider in ("jaeger", "file", "otlp"):
        config = load_config({"tracing_provider": provider}, environ={})
        assert config.propagation == DEFAULT_FORMATS == ("w3c", "jaeger")
    headers = {}
    Propagator().inject(CONTEXT, headers, url_encode=True)
    assert headers == {
        "traceparent": f"00-{TRACE:032x}-{SPAN:016x}-01",
        "uber-trace-id": f"{TRACE:032x}:{SPAN:016x}:0:1"}


@pytest.mark.parametrize("value, expected", [
    ("tracecontext", ("w3c",)),
    ("tracecontext,baggage,b3multi", ("w3c", "baggage", "b3")),
    (["jaeger", "b3"], ("jaeger", "b3")),
    ("W3C, tracecontext", ("w3c",)),
    ("none", ()),
])
def test_opentelemetrys_names_are_ours_too(value, expected):
    assert formats(value) == expected


def test_an_unknown_name_says_what_is_accepted():
    with pytest.raises(ConfigError) as raised:
        formats("ottrace")
    (problem,) = raised.value.problems
    assert problem.startswith(
        "tracing_propagation is 'ottrace': expected a list of 'jaeger', "
        "'w3c', 'b3', 'xray', 'baggage' (or OpenTelemetry's names: "
        "'tracecontext', 'b3multi', 'none')")


def test_an_otel_service_joins_through_traceparent_and_tracestate():
    incoming = {"traceparent": f"00-{TRACE:032x}-{SPAN:016x}-01",
                "tracestate": "vendor=abc,other=1"}
    context = Propagator().extract(incoming, url_decode=True)
    assert (context.trace_id, context.span_id) == (TRACE, SPAN)
    assert context.tracestate == "vendor=abc,other=1"
    # passed on to children, unchanged
    from chaostracing._run.tracer import Tracer

    tracer = Tracer("svc", reporter=None)
    child = tracer.start_span("child", child_of=context)
    headers = {}
    tracer.inject(child.context, "http_headers", headers)
    assert headers["tracestate"] == "vendor=abc,other=1"
    assert headers["traceparent"].split("-")[1] == f"{TRACE:032x}"


def test_a_tracestate_the_w3c_would_drop_is_dropped():
    for bad in ("x" * 600, "vendor=\x00", "é=1"):
        context = Propagator().extract(
            {"traceparent": f"00-{TRACE:032x}-{SPAN:016x}-01",
             "tracestate": bad}, url_decode=True)
        assert context.tracestate is None


def test_b3s_single_header_is_read():
    context = Propagator().extract(
        {"b3": f"{TRACE:032x}-{SPAN:016x}-1-{7:016x}"}, url_decode=True)
    assert (context.trace_id, context.span_id, context.flags) == (TRACE, SPAN,
                                                                  1)
    assert Propagator().extract({"b3": "0"}, url_decode=True) is None
    with pytest.raises(SpanContextCorruptedException):
        Propagator().extract({"b3": "zz-yy"}, url_decode=True)


def test_w3c_baggage_is_written_and_read():
    context = CONTEXT.with_baggage_item("user id", "a,b=c")
    headers = {}
    Propagator(("w3c", "baggage")).inject(context, headers, url_encode=True)
    assert headers["baggage"] == "user%20id=a%2Cb%3Dc"
    back = Propagator().extract(headers, url_decode=True)
    assert back.baggage == {"user id": "a,b=c"}
    # properties are W3C's, not values
    read = Propagator().extract(
        {"traceparent": headers["traceparent"], "baggage": "k=v;prop=1"},
        url_decode=True)
    assert read.baggage == {"k": "v"}


def test_when_headers_disagree_the_format_listed_last_wins():
    w3c = {"traceparent": f"00-{TRACE:032x}-{SPAN:016x}-01"}
    jaeger = {"uber-trace-id": f"{TRACE + 1:032x}:{SPAN:016x}:0:1"}
    both = dict(w3c, **jaeger)
    assert Propagator().extract(both, url_decode=True).trace_id == TRACE + 1
    assert Propagator(("jaeger", "w3c")).extract(
        both, url_decode=True).trace_id == TRACE
    # a format not listed is still read
    assert Propagator(("b3",)).extract(w3c, url_decode=True).trace_id == TRACE


def test_a_malformed_header_does_not_hide_a_good_one():
    headers = {"uber-trace-id": "garbage",
               "traceparent": f"00-{TRACE:032x}-{SPAN:016x}-01"}
    assert Propagator().extract(headers, url_decode=True).trace_id == TRACE
    with pytest.raises(SpanContextCorruptedException):
        Propagator().extract({"uber-trace-id": "garbage"}, url_decode=True)


def opentelemetrys(name):
    """OpenTelemetry's own propagator for one of our formats."""
    if name == "w3c":
        from opentelemetry.trace.propagation.tracecontext import (
            TraceContextTextMapPropagator,
        )

        return TraceContextTextMapPropagator()
    if name == "jaeger":
        from opentelemetry.propagators.jaeger import JaegerPropagator

        return JaegerPropagator()
    from opentelemetry.propagators.b3 import B3MultiFormat

    return B3MultiFormat()


@pytest.mark.parametrize("ours", ["w3c", "jaeger", "b3"])
def test_our_headers_are_read_by_opentelemetrys_propagators(ours):
    from opentelemetry import trace

    headers = {}
    Propagator((ours,)).inject(CONTEXT, headers, url_encode=True)
    got = trace.get_current_span(opentelemetrys(ours).extract(
        {k.lower(): v for k, v in headers.items()})).get_span_context()
    assert (got.trace_id, got.span_id) == (TRACE, SPAN)


def test_opentelemetrys_b3_single_header_is_read_by_us():
    from opentelemetry import trace
    from opentelemetry.propagators.b3 import B3SingleFormat

    span = trace.NonRecordingSpan(trace.SpanContext(
        TRACE, SPAN, is_remote=False, trace_flags=trace.TraceFlags(1)))
    headers = {}
    B3SingleFormat().inject(headers, context=trace.set_span_in_context(span))
    context = Propagator().extract(headers, url_decode=True)
    assert (context.trace_id, context.span_id) == (TRACE, SPAN)
