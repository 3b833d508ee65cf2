"""Our Jaeger agent wire format: encoder, decoder, and Apache Thrift's own.

Our encoder and our decoder are each checked against the thrift library
with jaeger-client's generated types (tests/thrift_check.py), so neither
only agrees with itself.
"""
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from thrift_check import decode_with_thrift, encode_with_thrift

from chaostracing.agent import decode_datagram
from chaostracing.exporters.jaeger_thrift import (
    MAX_DATAGRAM,
    encode_process,
    encode_span,
    pack_datagrams,
)
from chaostracing.exporters.records import SpanRecord
from chaostracing.exporters.udp import UdpSpanSender
from chaostracing.tracer import Tracer


MASK = (1 << 64) - 1


def record(i=1, **changes):
    base = SpanRecord(
        trace_id=(0xFEDCBA9876543210 << 64) | 0x0123456789ABCDEF,
        span_id=0xFFFFFFFFFFFFFFF0 + (i % 15),
        parent_id=i,
        flags=1,
        operation_name=f"op-{i}",
        start_us=1_700_000_000_000_000 + i,
        duration_us=1234,
        references=[(1, 5 << 64 | 6, 7)],
        tags=[("s", "text é"), ("b", True), ("f", False), ("n", -(2**63)),
              ("d", 1.5), ("bin", b"\x00\x7f"), ("big", "x" * 20)],
        logs=[(1_700_000_000_000_001, [("event", "error"), ("n", 3)])],
    )
    return base._replace(**changes)


def test_a_span_round_trips_through_thrifts_decoder():
    process = encode_process("svc", [("hostname", "h"), ("ip", "127.0.0.1")])
    (datagram,) = pack_datagrams(process, [encode_span(record())])
    (span,) = decode_datagram(datagram)
    expected = record()
    assert span.trace_id == expected.trace_id
    assert span.span_id == expected.span_id
    assert span.parent_id == 1
    assert span.operation_name == "op-1"
    assert span.start_us == expected.start_us
    assert span.duration_us == 1234
    assert span.flags == 1
    assert span.service_name == "svc"
    assert span.process_tags == {"hostname": "h", "ip": "127.0.0.1"}
    assert span.tags == {"s": "text é", "b": True, "f": False, "n": -(2**63),
                         "d": 1.5, "bin": b"\x00\x7f", "big": "x" * 20}
    assert span.logs == [(1_700_000_000_000_001, {"event": "error", "n": 3})]
    assert span.references == [("follows_from", 5 << 64 | 6, 7)]


def test_the_thrift_library_decodes_what_we_encode():
    process = encode_process("svc", [("hostname", "h")])
    (datagram,) = pack_datagrams(process, [encode_span(record(3))])
    batch = decode_with_thrift(datagram)
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
    assert span.parent_id == 0
    assert span.tags == {"ok": False, "n": -7, "d": -0.5}
    assert span.logs == [(11, {"event": "x"})]
    assert span.references == [("child_of", (5 << 64) | (MASK - 1), 9)]
    assert span.process_tags == {"ip": "1.2.3.4"}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_never_raises_anything_but_value_error(data):
    for prefix in (b"", b"\x82\x81\x00\x09emitBatch", b"\x80\x01\x00\x04"):
        try:
            decode_datagram(prefix + data)
        except ValueError:
            pass


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(
    st.text(max_size=20),
    st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1),
              st.floats(allow_nan=False), st.text(max_size=50),
              st.binary(max_size=20)),
), max_size=20))
def test_any_tags_round_trip_through_our_encoder_and_decoder(tags):
    (datagram,) = pack_datagrams(encode_process("s", []),
                                 [encode_span(record(tags=tags))])
    (span,) = decode_datagram(datagram)
    assert span.tags == dict(
        (k, v.encode("utf-8", "replace").decode("utf-8", "replace")
         if isinstance(v, str) else v) for k, v in tags)


def test_a_minimal_span_without_optional_fields_round_trips():
    minimal = record(references=[], tags=[], logs=[], parent_id=None)
    (datagram,) = pack_datagrams(encode_process("s", []), [encode_span(minimal)])
    (span,) = decode_datagram(datagram)
    assert (span.parent_id, span.tags, span.logs) == (0, {}, [])


def test_many_spans_are_split_into_datagrams_under_the_agent_limit():
    spans = [encode_span(record(i, tags=[("pad", "y" * 900)]))
             for i in range(400)]
    datagrams = list(pack_datagrams(encode_process("s", []), spans))
    assert len(datagrams) > 1
    assert all(len(d) <= MAX_DATAGRAM for d in datagrams)
    decoded = [s for d in datagrams for s in decode_datagram(d)]
    assert [s.operation_name for s in decoded] == [f"op-{i}" for i in range(400)]


def test_list_sizes_over_fourteen_use_the_long_list_header():
    tags = [(f"k{i}", i) for i in range(40)]
    (datagram,) = pack_datagrams(encode_process("s", []),
                                 [encode_span(record(tags=tags))])
    (span,) = decode_datagram(datagram)
    assert span.tags == dict(tags)


def test_garbage_is_refused_with_a_value_error():
    for data in (b"", b"hello", b"\x82\x81\x00\x09emitBatch\x1c\xff"):
        with pytest.raises(ValueError):
            decode_datagram(data)


class _Keep:
    def report_span(self, span):
        pass


_tracer = Tracer("test", _Keep())


def FakeSpan(i, tags=()):
    """A finished span of our tracer, as the sender receives it."""
    span = _tracer.start_span(f"span-{i}", tags=dict(tags), start_time=1.0)
    span.finish(finish_time=2.0)
    return span


def test_the_sender_delivers_a_burst_of_ten_thousand_spans(agent):
    sender = UdpSpanSender("127.0.0.1", agent.port, batch_trigger=100)
    for i in range(10_000):
        sender.report_span(FakeSpan(i))
    assert sender.flush(timeout=10)
    spans = agent.wait_for(10_000, timeout=10)
    assert len(spans) == 10_000
    assert len({s.span_id for s in spans}) == 10_000
    assert {s.operation_name for s in spans} == {f"span-{i}" for i in range(10_000)}
    assert sender.dropped == 0
    sender.close()


def test_a_span_too_big_for_a_datagram_is_trimmed_not_dropped(agent):
    sender = UdpSpanSender("127.0.0.1", agent.port)
    huge = [(f"tag{i}", "z" * 5000) for i in range(30)]
    sender.report_span(FakeSpan(1, huge))
    assert sender.close(timeout=5)
    (span,) = agent.wait_for(1)
    assert span.operation_name == "span-1"
    assert "truncated" in span.tags["tag0"]
    assert all(len(d) <= MAX_DATAGRAM for d in agent.datagrams)


def test_an_unresolvable_host_warns_once_and_flush_returns_at_once(caplog):
    sender = UdpSpanSender("no-such-host.invalid", 6831)
    for i in range(10):
        sender.report_span(FakeSpan(i))
    assert sender.flush(timeout=5)
    assert sender.dropped == 10
    sender.close(timeout=1)
    warnings = [r for r in caplog.records if "no-such-host.invalid" in r.message]
    assert len(warnings) == 1
    assert "tracing_host" in warnings[0].message


def test_a_closed_port_costs_nothing_and_raises_nothing():
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    sender = UdpSpanSender("127.0.0.1", port)
    sender.report_span(FakeSpan(1))
    assert sender.close(timeout=2)
    assert sender.problem is None


def test_when_the_queue_is_full_new_spans_are_dropped_and_counted(agent):
    sender = UdpSpanSender("127.0.0.1", agent.port, max_queue_size=5,
                           flush_interval=60, batch_trigger=10**9)
    for i in range(8):
        sender.report_span(FakeSpan(i))
    assert sender.dropped == 3
    assert sender.close(timeout=5)
    assert len(agent.wait_for(5)) == 5


def test_secrets_and_url_credentials_are_masked_on_the_way_out(agent):
    from chaostracing.redact import Redactor

    redactor = Redactor()
    redactor.add_secrets(["hunter2"])
    sender = UdpSpanSender("127.0.0.1", agent.port, redactor=redactor)
    sender.report_span(FakeSpan(1, [("q", "token=hunter2"),
                                    ("url", "https://bob:pw@host/x")]))
    assert sender.close(timeout=5)
    (span,) = agent.wait_for(1)
    assert span.tags["q"] == "token=***"
    assert span.tags["url"] == "https://***@host/x"
    assert b"hunter2" not in b"".join(agent.datagrams)
