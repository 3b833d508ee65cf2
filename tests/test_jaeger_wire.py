"""Our Jaeger agent wire format: encoder, decoder, and Apache Thrift's own;
the UDP pipeline's delivery and failure rules.

Our encoder and our decoder are each checked against the thrift library
with jaeger-client's generated types (tests/thrift_check.py), so neither
only agrees with itself.
"""
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from thrift_check import decode_with_thrift, encode_with_thrift

from chaostracing._collector.agent import decode_datagram
from chaostracing._data.model import CHILD_OF, FOLLOWS_FROM, Process, SpanData
from chaostracing._jaeger.thrift import (
    MAX_DATAGRAM,
    encode_fitting,
    encode_process,
    encode_span,
    pack_datagrams,
    span_budget,
)
from chaostracing._run.pipeline import Pipeline
from chaostracing._run.providers.udp import UdpTransport
from chaostracing._run.redact import Redactor
from chaostracing._run.tracer import Tracer

MASK = (1 << 64) - 1
PROCESS = Process("svc", [("hostname", "h"), ("ip", "127.0.0.1")])


def record(i=1, **changes):
    base = SpanData(
        trace_id=(0xFEDCBA9876543210 << 64) | 0x0123456789ABCDEF,
        span_id=0xFFFFFFFFFFFFFFF0 + (i % 15),
        parent_id=i,
        flags=1,
        operation_name=f"op-{i}",
        start_us=1_700_000_000_000_000 + i,
        duration_us=1234,
        references=[(FOLLOWS_FROM, 5 << 64 | 6, 7)],
        tags={"s": "text é", "b": True, "f": False, "n": -(2**63),
              "d": 1.5, "bin": b"\x00\x7f", "big": "x" * 20},
        logs=[(1_700_000_000_000_001, {"event": "error", "n": 3})],
    )
    return base.replace(**changes)


def one_datagram(process, *records):
    ((datagram, count),) = pack_datagrams(
        encode_process(process), [encode_span(r) for r in records])
    assert count == len(records)
    return datagram


def test_a_span_round_trips_through_our_decoder():
    (span,) = decode_datagram(one_datagram(PROCESS, record()))
    expected = record()
    assert span.trace_id == expected.trace_id
    assert span.span_id == expected.span_id
    assert span.parent_id == 1
    assert span.operation_name == "op-1"
    assert span.start_us == expected.start_us
    assert span.duration_us == 1234
    assert span.flags == 1
    assert span.service_name == "svc"
    assert span.process == PROCESS
    assert span.tags == expected.tags
    assert span.logs == [(1_700_000_000_000_001, {"event": "error", "n": 3})]
    assert span.references == [(FOLLOWS_FROM, 5 << 64 | 6, 7)]


def test_the_thrift_library_decodes_what_we_encode():
    batch = decode_with_thrift(one_datagram(Process("svc", [("hostname", "h")]),
                                            record(3)))
    assert batch.process.serviceName == "svc"
    (span,) = batch.spans
    expected = record(3)
    assert span.traceIdLow & MASK == expected.trace_id & MASK
    assert span.traceIdHigh & MASK == expected.trace_id >> 64
    assert span.spanId & MASK == expected.span_id
    assert span.operationName == "op-3"
    assert span.duration == 1234
    tags = {t.key: (t.vType, t.vStr, t.vDouble, t.vBool, t.vLong)
            for t in span.tags}
    assert tags["s"] == (0, "text é", None, None, None)
    assert tags["b"] == (2, None, None, True, None)
    assert tags["n"] == (3, None, None, None, -(2**63))
    assert tags["d"] == (1, None, 1.5, None, None)
    assert span.logs[0].fields[0].vStr == "error"
    assert span.references[0].refType == 1


@pytest.mark.parametrize("binary", [False, True], ids=["compact", "binary"])
def test_we_decode_what_the_thrift_library_encodes(binary):
    from jaeger_client.thrift_gen.jaeger import ttypes as t

    batch = t.Batch(
        process=t.Process(serviceName="svc", tags=[
            t.Tag(key="ip", vType=t.TagType.STRING, vStr="1.2.3.4")]),
        spans=[t.Span(
            traceIdLow=-2, traceIdHigh=5, spanId=-3, parentSpanId=0,
            operationName="op", flags=1, startTime=10, duration=20,
            references=[t.SpanRef(refType=0, traceIdLow=-2, traceIdHigh=5,
                                  spanId=9)],
            tags=[t.Tag(key="ok", vType=t.TagType.BOOL, vBool=False),
                  t.Tag(key="n", vType=t.TagType.LONG, vLong=-7),
                  t.Tag(key="d", vType=t.TagType.DOUBLE, vDouble=-0.5)],
            logs=[t.Log(timestamp=11, fields=[
                t.Tag(key="event", vType=t.TagType.STRING, vStr="x")])],
        )],
    )
    (span,) = decode_datagram(encode_with_thrift(batch, binary=binary))
    assert span.trace_id == (5 << 64) | (MASK - 1)
    assert span.span_id == MASK - 2
    # a client that names its parent only as a CHILD_OF reference
    assert span.parent_id == 9
    assert span.references == []
    assert span.tags == {"ok": False, "n": -7, "d": -0.5}
    assert span.logs == [(11, {"event": "x"})]
    assert span.process.tags == (("ip", "1.2.3.4"),)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_never_raises_anything_but_value_error(data):
    for prefix in (b"", b"\x82\x81\x00\x09emitBatch", b"\x80\x01\x00\x04"):
        try:
            decode_datagram(prefix + data)
        except ValueError:
            pass


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(
    st.text(max_size=20),
    st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1),
              st.floats(allow_nan=False), st.text(max_size=50),
              st.binary(max_size=20)),
    max_size=20))
def test_any_tags_round_trip_through_our_encoder_and_decoder(tags):
    (span,) = decode_datagram(one_datagram(Process("s"), record(tags=tags)))

    def utf8(key):
        return key.encode("utf-8", "replace").decode("utf-8", "replace")

    assert span.tags == {
        utf8(k): (utf8(v) if isinstance(v, str) else v) for k, v in tags.items()
    }


def test_a_minimal_span_without_optional_fields_round_trips():
    minimal = record(references=[], tags={}, logs=[], parent_id=0)
    (span,) = decode_datagram(one_datagram(Process("s"), minimal))
    assert (span.parent_id, span.tags, span.logs) == (0, {}, [])


def test_many_spans_are_split_into_datagrams_under_the_agent_limit():
    spans = [encode_span(record(i, tags={"pad": "y" * 900}))
             for i in range(400)]
    datagrams = list(pack_datagrams(encode_process(Process("s")), spans))
    assert len(datagrams) > 1
    assert sum(count for _, count in datagrams) == 400
    assert all(len(d) <= MAX_DATAGRAM for d, _ in datagrams)
    decoded = [s for d, _ in datagrams for s in decode_datagram(d)]
    assert [s.operation_name for s in decoded] == [
        f"op-{i}" for i in range(400)]


def test_list_sizes_over_fourteen_use_the_long_list_header():
    tags = {f"k{i}": i for i in range(40)}
    (span,) = decode_datagram(one_datagram(Process("s"), record(tags=tags)))
    assert span.tags == tags


def test_garbage_is_refused_with_a_value_error():
    for data in (b"", b"hello", b"\x82\x81\x00\x09emitBatch\x1c\xff"):
        with pytest.raises(ValueError):
            decode_datagram(data)


@pytest.mark.parametrize("seq", [0, 127, 128, 2**14, 2**31, 2**32 - 1])
def test_a_span_of_exactly_the_budget_fits_whatever_the_sequence_number(seq):
    # the budget used to be computed for sequence number 0, whose varint is
    # one byte: a span of that size raised once the number reached 128
    process = encode_process(PROCESS)
    budget = span_budget(process)
    base = record(tags={"pad": ""}, logs=[], references=[])
    pad = budget - len(encode_span(base))
    span = encode_span(base.replace(tags={"pad": "z" * pad}))
    pad -= len(span) - budget  # the length's varint grew
    span, trimmed = encode_fitting(base.replace(tags={"pad": "z" * pad}),
                                   budget)
    assert len(span) == budget and not trimmed
    ((datagram, count),) = pack_datagrams(process, [span], seq_id=seq)
    assert count == 1 and len(datagram) <= MAX_DATAGRAM


def test_a_span_with_thousands_of_references_is_trimmed_not_lost():
    # the trimming loop never trimmed references: it spun forever
    refs = [(FOLLOWS_FROM, (0xF1 << 120) | i, (0xE2 << 56) | i)
            for i in range(3000)]
    budget = span_budget(encode_process(PROCESS))
    data, trimmed = encode_fitting(record(references=refs), budget)
    assert trimmed and len(data) <= budget
    (span,) = decode_datagram(
        one_datagram(PROCESS, record(references=refs[:1])))
    assert span.references == refs[:1]


# -- the pipeline, with real UDP on loopback -----------------------------------
class _Keep:
    def report_span(self, span):
        pass


_tracer = Tracer("test", _Keep())


def FakeSpan(i, tags=()):
    """A finished span of our tracer, as the pipeline receives it."""
    span = _tracer.start_span(f"span-{i}", tags=dict(tags), start_time=1.0)
    span.finish(finish_time=2.0)
    return span


def udp_pipeline(port, host="127.0.0.1", redactor=None, **options):
    return Pipeline(UdpTransport(host, port), redactor or Redactor(), PROCESS,
                    **options)


@pytest.mark.slow  # 10,000 spans over loopback UDP: a second or more
def test_the_pipeline_delivers_a_burst_of_ten_thousand_spans(agent):
    pipeline = udp_pipeline(agent.port, batch_trigger=100)
    for i in range(10_000):
        pipeline.report_span(FakeSpan(i))
    assert pipeline.flush(timeout=10)
    spans = agent.wait_for(10_000, timeout=10)
    assert len(spans) == 10_000
    assert len({s.span_id for s in spans}) == 10_000
    assert {s.operation_name for s in spans} == {
        f"span-{i}" for i in range(10_000)}
    assert pipeline.stats().sent == 10_000 and pipeline.stats().dropped == 0
    pipeline.close()


def test_a_span_too_big_for_a_datagram_is_trimmed_not_dropped(agent):
    pipeline = udp_pipeline(agent.port, redactor=Redactor(65000))
    huge = [(f"tag{i}", "z" * 5000) for i in range(30)]
    pipeline.report_span(FakeSpan(1, huge))
    assert pipeline.close(timeout=5)
    (span,) = agent.wait_for(1)
    assert span.operation_name == "span-1"
    assert span.tags["tag0"].endswith("...") and len(span.tags["tag0"]) < 5000
    assert all(len(d) <= MAX_DATAGRAM for d in agent.raw)


class Unprintable:
    def __repr__(self):
        raise RuntimeError("no repr for you")

    __str__ = __repr__


class Exploding:
    """A tag value whose conversion raises anything at all."""

    def __getattribute__(self, name):
        raise RuntimeError(f"no {name} for you")


def test_one_odd_value_costs_nothing_but_its_own_rendering(agent):
    # an object whose repr raises used to make the sender drop the batch
    # and stop: no span of the run arrived at all
    pipeline = udp_pipeline(agent.port)
    pipeline.report_span(FakeSpan(0, [("odd", Unprintable())]))
    for i in range(1, 5):
        pipeline.report_span(FakeSpan(i))
    assert pipeline.close(timeout=5)
    spans = {s.operation_name: s for s in agent.wait_for(5)}
    assert sorted(spans) == [f"span-{i}" for i in range(5)]
    assert spans["span-0"].tags["odd"] == "<Unprintable (repr failed)>"
    assert pipeline.stats() == (5, 0, 0, None)


def test_a_span_that_cannot_be_converted_drops_that_span_only(agent,
                                                              monkeypatch):
    from chaostracing._run import pipeline as module
    from chaostracing._run import safety

    real = module.span_data

    def flaky(span, redactor, process=None):
        if span.operation_name == "span-2":
            raise RuntimeError("a bug of ours")
        return real(span, redactor, process)

    monkeypatch.setattr(module, "span_data", flaky)
    pipeline = udp_pipeline(agent.port)
    for i in range(5):
        pipeline.report_span(FakeSpan(i))
    with safety.strict(False):
        assert pipeline.close(timeout=5)
    names = sorted(s.operation_name for s in agent.wait_for(4))
    assert names == ["span-0", "span-1", "span-3", "span-4"]
    assert pipeline.stats().sent == 4 and pipeline.stats().dropped == 1


def test_a_sendto_failure_counts_only_the_spans_not_sent(agent):
    # it used to count the spans already sent in that batch as dropped
    transport = UdpTransport("127.0.0.1", agent.port)
    pipeline = Pipeline(transport, Redactor(), PROCESS, flush_interval=60,
                        batch_trigger=10**9)
    assert pipeline.flush(timeout=5)  # the thread has opened the socket
    calls = []

    class Socket:
        def __init__(self, real):
            self.real = real

        def sendto(self, data, address):
            calls.append(len(data))
            if len(calls) == 2:
                raise OSError(101, "Network is unreachable")
            return self.real.sendto(data, address)

        def close(self):
            self.real.close()

    transport._sock = Socket(transport._sock)
    for i in range(300):
        pipeline.report_span(FakeSpan(i, [("pad", "p" * 500)]))
    assert pipeline.close(timeout=5)
    agent.wait_for(1)
    first = len(decode_datagram(agent.raw[0]))
    stats = pipeline.stats()
    assert len(calls) == 2 and 0 < first < 300
    assert stats.sent == first  # the first datagram's spans went out
    assert stats.dropped == 300 - first
    assert "Network is unreachable" in stats.problem


def test_an_unresolvable_host_is_a_problem_and_flush_returns_at_once():
    pipeline = udp_pipeline(6831, host="no-such-host.invalid")
    for i in range(10):
        pipeline.report_span(FakeSpan(i))
    assert pipeline.flush(timeout=5)
    assert pipeline.close(timeout=1)
    stats = pipeline.stats()
    assert stats.dropped == 10 and stats.sent == 0
    assert "cannot resolve the Jaeger agent host 'no-such-host.invalid'" \
        in stats.problem
    assert "tracing_host" in stats.problem


def test_a_closed_port_costs_nothing_and_raises_nothing():
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    pipeline = udp_pipeline(port)
    pipeline.report_span(FakeSpan(1))
    assert pipeline.close(timeout=2)
    assert pipeline.stats().problem is None


def test_when_the_queue_is_full_new_spans_are_dropped_and_counted(agent):
    pipeline = udp_pipeline(agent.port, max_queue_size=5, flush_interval=60,
                            batch_trigger=10**9)
    for i in range(8):
        pipeline.report_span(FakeSpan(i))
    assert pipeline.stats().dropped == 3
    assert pipeline.close(timeout=5)
    assert len(agent.wait_for(5)) == 5


def test_secrets_and_url_credentials_are_masked_on_the_way_out(agent):
    redactor = Redactor()
    redactor.add_secrets(["hunter2"])
    pipeline = udp_pipeline(agent.port, redactor=redactor)
    pipeline.report_span(FakeSpan(1, [("q", "token=hunter2"),
                                      ("url", "https://bob:pw@host/x")]))
    assert pipeline.close(timeout=5)
    (span,) = agent.wait_for(1)
    assert span.tags["q"] == "token=***"
    assert span.tags["url"] == "https://***@host/x"
    assert b"hunter2" not in b"".join(agent.raw)


def test_references_other_than_the_parent_reach_the_wire(agent):
    import opentracing

    parent = _tracer.start_span("parent")
    other = _tracer.start_span("other")
    child = _tracer.start_span(
        "child", child_of=parent,
        references=[opentracing.follows_from(other.context)])
    child.finish()
    pipeline = udp_pipeline(agent.port)
    pipeline.report_span(child)
    assert pipeline.close(timeout=5)
    (span,) = agent.wait_for(1)
    assert span.parent_id == parent.context.span_id
    assert span.references == [
        (FOLLOWS_FROM, other.context.trace_id, other.context.span_id)]
    assert CHILD_OF not in [kind for kind, _, _ in span.references]
