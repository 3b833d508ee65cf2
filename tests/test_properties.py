"""Property-based tests: any configuration, value, header or secret is
handled."""
import json
import math
import urllib.parse

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from opentracing.propagation import SpanContextCorruptedException

from chaostracing._collector.agent import decode_datagram
from chaostracing._data.jaegerjson import dumps
from chaostracing._data.model import Process
from chaostracing._jaeger.thrift import (
    MAX_DATAGRAM,
    encode_fitting,
    encode_process,
    pack_datagrams,
    span_budget,
)
from chaostracing._run.config import (
    KNOWN_KEYS,
    ConfigError,
    TracingConfig,
    load_config,
)
from chaostracing._run.pipeline import span_data
from chaostracing._run.propagation import Propagator
from chaostracing._run.redact import MASK, MIN_SECRET_LENGTH, Redactor
from chaostracing._run.tracer import Tracer

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats()
    | st.text() | st.binary(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


@pytest.mark.slow  # hundreds of generated examples: seconds
@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(KNOWN_KEYS), json_values),
       st.dictionaries(st.sampled_from(KNOWN_KEYS), json_values))
def test_any_configuration_gives_a_config_or_a_config_error(conf, args):
    try:
        config = load_config(conf, args, environ={})
    except ConfigError as error:
        assert error.problems
        for problem in error.problems:
            assert any(problem.startswith(key) for key in KNOWN_KEYS)
            assert "expected" in problem
    else:
        assert isinstance(config, TracingConfig)
        assert 1 <= config.port <= 65535
        assert 0.0 <= config.sampler_rate <= 1.0


class _Capture:
    def __init__(self):
        self.spans = []

    def report_span(self, span):
        self.spans.append(span)


def one_span_on_the_wire(tags, logs, redactor):
    """A span through the real conversion, encoding and datagram packing."""
    capture = _Capture()
    span = Tracer("svc", capture).start_span("op", tags=tags)
    for fields in logs:
        span.log_kv(fields)
    span.finish()
    (finished,) = capture.spans
    record = span_data(finished, redactor, Process("svc"))
    process = encode_process(Process("svc"))
    encoded, _ = encode_fitting(record, span_budget(process))
    datagrams = list(pack_datagrams(process, [encoded], seq_id=300))
    assert all(len(d) <= MAX_DATAGRAM for d, _ in datagrams)
    ((datagram, _),) = datagrams
    (received,) = decode_datagram(datagram)
    return record, received, datagram


@pytest.mark.slow  # hundreds of generated examples: seconds
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=30), json_values, max_size=12),
       st.lists(st.dictionaries(st.text(max_size=10), json_values, max_size=4),
                max_size=3),
       st.integers(min_value=16, max_value=3000))
def test_any_tag_value_is_encoded_within_limits_and_decodes(tags, logs, limit):
    record, received, _ = one_span_on_the_wire(tags, logs, Redactor(limit))
    assert received.tags == record.tags
    for key, value in received.tags.items():
        if isinstance(value, str):
            assert len(value) <= limit
        if isinstance(value, float) and key in tags:
            assert math.isnan(value) or value == tags[key]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["uber-trace-id", "traceparent", "tracestate",
                     "X-B3-TraceId", "x-b3-spanid", "b3", "baggage",
                     "uberctx-k", "other"]) | st.text(),
    st.text(), max_size=6))
def test_any_headers_give_a_context_none_or_a_corruption_error(headers):
    try:
        context = Propagator().extract(headers, url_decode=True)
    except SpanContextCorruptedException:
        return
    if context is not None:
        assert 0 < context.trace_id < 1 << 128
        assert 0 < context.span_id < 1 << 64


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120))
def test_any_binary_carrier_gives_a_context_none_or_a_corruption_error(data):
    try:
        context = Propagator().extract_binary(bytearray(data))
    except SpanContextCorruptedException:
        return
    assert context is None or context.trace_id > 0


# -- no piece of a secret, in any form -----------------------------------------
# secrets of fewer than MIN_SECRET_LENGTH characters are masked only as whole
# values (test_short_secrets_are_masked_as_whole_values_only)
SECRETS = st.text(
    st.characters(blacklist_categories=("Cs",)), min_size=4, max_size=200
) | st.text("\"'\\\t\n é€😀%+/ =&?#:@abcXYZ019", min_size=4, max_size=200)


def forms(secret):
    """How a leaked piece would look: raw, JSON-escaped, percent-encoded,
    repr."""
    return {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        urllib.parse.quote(secret, safe=""),
        repr(secret)[1:-1],
    }


def pieces(secret, size=8):
    out = set()
    for form in forms(secret):
        out |= {form[i:i + size] for i in range(len(form) - size + 1)}
    return out


def carriers(secret, pad, offset):
    """The secret at ``offset`` inside each kind of value it can reach us in."""
    text = pad * offset + secret + pad * 7
    return {
        "text": text,
        "dict": {"token": text, "nested": [{"deep": text}]},
        "list": [pad * offset, secret],
        "bytes": text.encode("utf-8"),
        "error": RuntimeError(f"bad token {secret!r} at {pad * offset}"),
        "url": "http://h.local/x/" + urllib.parse.quote(text, safe="")
               + "?key=" + urllib.parse.quote(secret, safe=""),
        "repr": f"{pad * offset}{secret!r}",
    }


@pytest.mark.slow  # hundreds of generated examples: seconds
@settings(max_examples=250, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(SECRETS, st.integers(0, 3000), st.integers(16, 2500))
def test_no_eight_character_piece_of_a_secret_survives_anywhere(
    secret, offset, limit
):
    assume(secret.strip())
    pad = next(c for c in "#~_§¤" if c not in secret)
    redactor = Redactor(limit)
    redactor.add_secrets([("s", secret)])
    values = carriers(secret, pad, offset)
    # the same values without the secret: what our own text can contain
    noise_values = carriers(pad * len(secret), pad, offset)
    record, received, datagram = one_span_on_the_wire(
        dict(values, **{"http.url": values["url"]}),
        [{"event": "error", "error.object": values["error"],
          "message": values["text"]}],
        redactor)
    noise, _, _ = one_span_on_the_wire(
        dict(noise_values, **{"http.url": noise_values["url"]}),
        [{"event": "error", "error.object": noise_values["error"],
          "message": noise_values["text"]}],
        Redactor(limit))
    file_text = dumps([record])
    noise_text = dumps([noise]) + MASK + "...[truncated; chars in all]"
    wire = datagram.decode("utf-8", "replace")
    leaks = [
        piece for piece in pieces(secret)
        if piece not in noise_text and (piece in file_text or piece in wire)
    ]
    assert not leaks, (leaks[:3], file_text[:500])
    for value in record.tags.values():
        if isinstance(value, str):
            assert len(value) <= limit


@pytest.mark.slow  # hundreds of generated examples: seconds
@settings(max_examples=150, deadline=None)
@given(st.lists(SECRETS, min_size=1, max_size=4),
       st.lists(st.text(max_size=20), max_size=6),
       st.integers(min_value=16, max_value=200))
def test_cleaned_text_never_holds_a_whole_secret_and_respects_the_limit(
    secrets, fillers, limit
):
    secrets = [s for s in secrets if len(s.strip()) >= 4]
    assume(secrets)
    redactor = Redactor(limit)
    redactor.add_secrets(secrets)
    text = "".join(f + s for f, s in zip(fillers + [""] * 4, secrets))
    cleaned = redactor.clean_value(text)
    assert len(cleaned) <= limit
    for secret in secrets:
        assert secret not in cleaned
    if len(text) <= limit and any(s in text for s in secrets):
        assert MASK in cleaned


@given(st.text(st.characters(blacklist_categories=("Cs",)),
               min_size=1, max_size=MIN_SECRET_LENGTH - 1))
def test_short_secrets_are_masked_as_whole_values_only(secret):
    assume(secret.strip())
    redactor = Redactor(100)
    assert redactor.add_secrets([("scope.pin", secret)]) == ["scope.pin"]
    assert redactor.clean_value(secret) == MASK
    assert redactor.clean_value(secret.encode("utf-8")) == MASK
    cleaned = redactor.clean_value({"code": secret, "list": [secret]})
    assert json.loads(cleaned) == {"code": MASK, "list": [MASK]}
    # inside longer text it is left alone: masking it there would reveal it
    # ("succe***" for "ed")
    assert redactor.clean_value("succeeded") == "succeeded"


tag_values = (st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 63) - 1)
              | st.floats() | st.text() | st.binary(max_size=20))
tag_maps = st.dictionaries(st.text(max_size=12), tag_values, max_size=5)


@pytest.mark.slow  # hundreds of generated examples: seconds
@given(st.lists(st.tuples(
    st.integers(1, (1 << 64) - 1), st.integers(0, (1 << 64) - 1), st.text(),
    st.integers(0, 1 << 60), st.integers(0, 1 << 40), tag_maps,
    st.lists(st.tuples(st.integers(0, 1 << 60), tag_maps), max_size=2),
    st.sampled_from(["a", "b", "\u00e9\u2028<"]),
    st.none() | st.lists(st.text(max_size=8), max_size=2)), max_size=6))
def test_the_query_apis_writer_is_json_dumps_of_the_model(rows):
    """``trace_json`` (the query API's fast writer) is ``to_trace`` dumped."""
    from chaostracing._data.jaegerjson import to_trace, trace_json
    from chaostracing._data.model import Process, SpanData

    spans = [SpanData(7, span_id, parent, 1, name, start, duration,
                      tags=tags, logs=logs, process=Process(service),
                      warnings=warnings)
             for span_id, parent, name, start, duration, tags, logs, service,
             warnings in rows]
    assert json.loads(trace_json(7, spans)) == json.loads(
        json.dumps(to_trace(7, spans)))


@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(
    ["ns", "us", "\u00b5s", "ms", "s", "m", "h"])), min_size=1, max_size=4))
def test_go_durations_add_up(parts):
    from chaostracing._data.spanquery import parse_duration_ns

    text = "".join(f"{number}{unit}" for number, unit in parts)
    units = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "ms": 1_000_000,
             "s": 10 ** 9, "m": 60 * 10 ** 9, "h": 3600 * 10 ** 9}
    assert parse_duration_ns(text) == sum(n * units[u] for n, u in parts)
