"""Property-based tests: any configuration, tag value or header is handled."""
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentracing.propagation import SpanContextCorruptedException

from chaostracing.config import ConfigError, TracingConfig, load_config
from chaostracing.exporters.jaeger_thrift import MAX_DATAGRAM, encode_process
from chaostracing.exporters.udp import UdpSpanSender
from chaostracing.propagation import extract_headers
from chaostracing.redact import MASK, Redactor
from chaostracing.thrift_decode import decode_emit_batch
from chaostracing.tracer import Tracer

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats()
    | st.text() | st.binary(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
KEYS = ["tracing_provider", "tracing_host", "tracing_port",
        "tracing_service_name", "tracing_sampler_rate",
        "tracing_max_tag_length", "tracing_flush_timeout",
        "tracing_max_queue_size", "tracing_propagation", "tracing_file",
        "tracing_ui_url", "tracing_instrument_requests"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), json_values),
       st.dictionaries(st.sampled_from(KEYS), json_values))
def test_any_configuration_gives_a_config_or_a_config_error(conf, args):
    try:
        config = load_config(conf, args, environ={})
    except ConfigError as error:
        assert any(key in str(error) for key in KEYS)
        assert "expected" in str(error)
    else:
        assert isinstance(config, TracingConfig)
        assert 1 <= config.port <= 65535
        assert 0.0 <= config.sampler_rate <= 1.0


class _Capture:
    def __init__(self):
        self.spans = []

    def report_span(self, span):
        self.spans.append(span)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=30), json_values, max_size=12),
       st.lists(st.dictionaries(st.text(max_size=10), json_values, max_size=4),
                max_size=3),
       st.integers(min_value=16, max_value=3000))
def test_any_tag_value_is_encoded_within_limits_and_decodes(tags, logs, limit):
    capture = _Capture()
    tracer = Tracer("svc", capture)
    span = tracer.start_span("op", tags=tags)
    for fields in logs:
        span.log_kv(fields)
    span.finish()
    sender = UdpSpanSender.__new__(UdpSpanSender)  # encode path, no thread
    sender.redactor = Redactor(limit)
    sender._process = encode_process("svc", [])
    sender._seq = 0
    datagrams = []

    class Socket:
        def sendto(self, data, address):
            datagrams.append(data)

    sender._sock, sender._address = Socket(), None
    sender.sent = sender.dropped = sender.datagrams = 0
    from chaostracing.exporters.records import from_span
    sender._convert = from_span
    sender._broken = None
    sender._send(capture.spans)
    assert sender.sent == 1
    assert all(len(d) <= MAX_DATAGRAM for d in datagrams)
    (_, _, (record,)) = decode_emit_batch(datagrams[0])
    for key, value in record.tags:
        if isinstance(value, str):
            assert len(value) <= max(limit, 4096)
        if isinstance(value, float):
            assert math.isnan(value) or value == tags[key] or key not in tags


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["uber-trace-id", "traceparent", "X-B3-TraceId",
                     "x-b3-spanid", "uberctx-k", "other"]) | st.text(),
    st.text(), max_size=6))
def test_any_headers_give_a_context_none_or_a_corruption_error(headers):
    try:
        context = extract_headers(headers)
    except SpanContextCorruptedException:
        return
    if context is not None:
        assert 0 < context.trace_id < 1 << 128
        assert 0 < context.span_id < 1 << 64


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=4, max_size=12),
                min_size=1, max_size=4),
       st.lists(st.text(max_size=20), max_size=6),
       st.integers(min_value=16, max_value=200))
def test_no_secret_survives_cleaning(secrets, fillers, limit):
    redactor = Redactor(limit)
    redactor.add_secrets(secrets)
    text = "".join(f + s for f, s in zip(fillers + [""] * 4, secrets))
    cleaned = redactor.clean(text)
    assert len(cleaned) <= limit
    for secret in secrets:
        assert secret not in cleaned
    if any(s in text for s in secrets) and len(text) <= limit:
        assert MASK in cleaned
